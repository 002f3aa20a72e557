"""RNADE: NADE for real-valued data (Uria, Murray & Larochelle, 2013).

The hidden layer is NADE's, a running pre-activation a_1 = c, a_{i+1} = a_i + W[:, i] x_i with
h_i = σ(a_i), but each conditional is a mixture of K Gaussians whose parameters are read off h_i:

    p(x_i | x_<i) = Σ_k π_ik N(x_i; μ_ik, σ_ik²),
    π_i = softmax(V^α_i h_i + b^α_i),   μ_i = V^μ_i h_i + b^μ_i,   σ_i = exp(V^σ_i h_i + b^σ_i).

``uniform_weights=True`` fixes π_ik = 1/K; ``n_components=1`` is the single-Gaussian baseline.
The density is exact (in nats, for data on the real line) and sampling draws x_1, x_2, ... in turn.
(Uria et al. used rectified linear hidden units with a learned per-dimension rescaling of a_i;
``activation="relu"`` gives the former.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from arlib.models.base import REAL, AutoregressiveModel
from arlib.models.common import uniforms
from arlib.models.nade import running_hidden

__all__ = ["RNADE"]


class RNADE(AutoregressiveModel):
    """Real-valued NADE with ``hidden`` units and ``n_components`` Gaussians per conditional."""

    def __init__(self, n_dims: int, hidden: int, n_components: int, uniform_weights: bool = False,
                 activation: str = "sigmoid") -> None:
        super().__init__(n_dims=n_dims, hidden=hidden, n_components=n_components, uniform_weights=uniform_weights,
                         activation=activation)
        n, d, K = int(n_dims), int(hidden), int(n_components)
        if activation not in ("sigmoid", "relu"):
            raise ValueError(f"activation must be 'sigmoid' or 'relu', got {activation!r}")
        self.event_shape = (n,)
        self.support = REAL
        self.activation = activation
        self.uniform_weights = bool(uniform_weights)
        self.K = K
        heads = 2 if self.uniform_weights else 3  # (alpha,) mu, log sigma
        self.W = nn.Parameter(torch.randn(d, n) / math.sqrt(n))
        self.c = nn.Parameter(torch.zeros(d))
        self.V = nn.Parameter(torch.randn(n, heads * K, d) / math.sqrt(d) * 0.1)
        b = torch.zeros(n, heads, K)
        b[:, -2] = torch.linspace(-1, 1, K) if K > 1 else 0.0  # spread the initial means
        self.b = nn.Parameter(b.flatten(1))
        self._spare: list[Tensor] = []

    def train(self, mode: bool = True) -> RNADE:
        """Switch mode; leaving training frees the activation buffer kept between steps."""
        if not mode:
            self._spare.clear()
        return super().train(mode)

    def mixture(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(log π, μ, σ) of every conditional p(x_i | x_<i), each of shape (B, n, K)."""
        return self._mixture(self.validate(x))

    def _mixture(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = x.to(self.W.dtype)
        out = running_hidden(x.T.unsqueeze(-1), self.W.T.unsqueeze(1).contiguous(), self.c, self.V,
                             self.activation, fused=True, spare=self._spare)
        return self._heads(out.transpose(0, 1) + self.b)

    def _heads(self, out: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Split (..., heads·K) outputs into log π, μ, σ."""
        parts = out.unflatten(-1, (-1, self.K)).unbind(-2)
        if self.uniform_weights:
            log_pi = torch.full_like(parts[0], -math.log(self.K))
        else:
            log_pi = torch.log_softmax(parts[0], -1)
        return log_pi, parts[-2], parts[-1].exp()

    def _log_prob(self, x: Tensor) -> Tensor:
        log_pi, mu, sigma = self._mixture(x)
        z = (x.to(mu.dtype).unsqueeze(-1) - mu) / sigma
        log_normal = -0.5 * z**2 - sigma.log() - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(log_pi + log_normal, -1).sum(-1)

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        device, dtype = self.device, self.W.dtype
        u = uniforms((n, self.n_dims), generator, device).to(dtype)
        z = torch.randn((n, self.n_dims), generator=generator).to(device=device, dtype=dtype)
        x = torch.zeros(n, self.n_dims, device=device, dtype=dtype)
        a = self.c.expand(n, -1).clone()
        for i in range(self.n_dims):
            h = a.relu() if self.activation == "relu" else torch.sigmoid(a)
            log_pi, mu, sigma = self._heads(h @ self.V[i].T + self.b[i])
            k = (torch.cumsum(log_pi.exp(), -1) < u[:, i : i + 1]).sum(-1).clamp(max=self.K - 1)
            pick = k.unsqueeze(-1)
            x[:, i] = mu.gather(-1, pick)[:, 0] + sigma.gather(-1, pick)[:, 0] * z[:, i]
            a += x[:, i : i + 1] * self.W[:, i]
        return x
