"""NADE for pixels with K values: one-hot inputs and softmax conditionals.

Everything is NADE's (see :mod:`arlib.models.nade`) except the two ends. Pixel j enters as a one-hot
vector, so W has one column per pixel *and value*, W (d × n × K), and the running sum adds the column
of the observed value; conditional i has K logits and a softmax:

    a_1 = c,        a_{i+1} = a_i + W[:, i, x_i],
    h_i = σ(a_i),   p(x_i = k | x_<i) = softmax(V_i h_i + b_i)_k,

with V (n × K × d) and b (n × K). With K = 2 and logits (0, z) the softmax is NADE's σ(z).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.base import Support
from arlib.models.common import draw, uniforms
from arlib.models.nade import _no_order, _SampledWithProbs, running_hidden

__all__ = ["CategoricalNADE"]


class CategoricalNADE(_SampledWithProbs):
    """NADE for ``n_dims`` pixels with values 0..n_categories-1 and ``hidden`` units (``fused``: as NADE)."""

    def __init__(self, n_dims: int, hidden: int, n_categories: int, fused: bool = False) -> None:
        super().__init__(n_dims=n_dims, hidden=hidden, n_categories=n_categories, fused=fused)
        n, d, K = int(n_dims), int(hidden), int(n_categories)
        if K < 2:
            raise ValueError(f"n_categories must be at least 2, got {K}")
        self.event_shape = (n,)
        self.support = Support("categorical", K)
        self.fused = bool(fused)
        self.W = nn.Parameter(torch.randn(d, n, K) / math.sqrt(n))
        self.c = nn.Parameter(torch.zeros(d))
        self.V = nn.Parameter(torch.randn(n, K, d) / math.sqrt(d))
        self.b = nn.Parameter(torch.zeros(n, K))
        self._spare: list[Tensor] = []  # fused path: the activation buffer kept between training steps

    # ------------------------------------------------------------------ likelihood
    def _logits(self, x: Tensor) -> Tensor:
        """Logits of every conditional, shape (B, n, K): the running sum."""
        W = self.W.permute(1, 2, 0)  # (n, K, d): W[i][k] is the column added when x_i = k
        if self.fused:
            X = F.one_hot(x.T, self.support.n_categories).to(W.dtype)
            out = running_hidden(X, W.contiguous(), self.c, self.V, fused=True, spare=self._spare)
            return out.transpose(0, 1) + self.b
        a = self.c.expand(len(x), -1)  # a_1 = c
        logits = []
        for x_i, W_i, V_i in zip(x.T, W.unbind(0), self.V.unbind(0), strict=True):
            logits.append(torch.sigmoid(a) @ V_i.T)  # V_i h_i, K values
            a = a + W_i[x_i]  # a_{i+1} = a_i + W[:, i, x_i]
        return torch.stack(logits, 1) + self.b

    def _log_prob(self, x: Tensor) -> Tensor:
        return _log_probs(self._logits(x), x)

    def log_prob(self, x: Tensor, order=None) -> Tensor:
        """log p(x) in nats, shape (B,). One ordering, 0..n-1 (``order`` is for DeepNADE)."""
        _no_order(order)
        return super().log_prob(x)

    def conditionals(self, x: Tensor) -> Tensor:
        """p(x_i = k | x_<i) for every i and value k, shape (B, n, K)."""
        return torch.softmax(self._logits(self.validate(x)), -1)

    def log_prob_naive(self, x: Tensor) -> Tensor:
        """log p(x) recomputing a_i = c + Σ_{j<i} W[:, j, x_j] from scratch for each i: O(n²d)."""
        x = self.validate(x)
        logits = torch.stack([self._step(self._naive_sum(x, i), i) for i in range(self.n_dims)], 1)
        return _log_probs(logits, x)

    # ------------------------------------------------------------------ sampling
    def _sample(self, n: int, generator: torch.Generator | None, return_probs: bool = False,
                naive: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        u = uniforms((n, self.n_dims), generator, self.device)
        x = torch.zeros(n, self.n_dims, device=self.device, dtype=torch.long)
        probs = torch.zeros(n, self.n_dims, self.support.n_categories, device=self.device, dtype=self.W.dtype)
        a = self.c.expand(n, -1).clone()  # a_1 = c
        for i in range(self.n_dims):
            if naive:
                a = self._naive_sum(x, i)
            logits = self._step(a, i)
            probs[:, i] = torch.softmax(logits, -1)
            x[:, i] = draw(logits, u[:, i])
            a += self.W[:, i, x[:, i]].T  # feed the drawn value back
        return (x, probs) if return_probs else x

    def train(self, mode: bool = True) -> CategoricalNADE:
        """Switch mode; leaving training frees the fused path's activation buffer."""
        if not mode:
            self._spare.clear()
        return super().train(mode)

    # ------------------------------------------------------------------ internals
    def _step(self, a: Tensor, i: int) -> Tensor:
        """The K logits of conditional i from its pre-activation a_i (B, d)."""
        return torch.sigmoid(a) @ self.V[i].T + self.b[i]

    def _naive_sum(self, x: Tensor, i: int) -> Tensor:
        """a_i = c + Σ_{j<i} W[:, j, x_j], from scratch."""
        X = F.one_hot(x[:, :i], self.support.n_categories).to(self.W.dtype)  # (B, i, K)
        return self.c + torch.einsum("bjk,djk->bd", X, self.W[:, :i])


def _log_probs(logits: Tensor, x: Tensor) -> Tensor:
    """Σ_i log p(x_i | x_<i) from logits (B, n, K) and values x (B, n)."""
    return torch.log_softmax(logits, -1).gather(-1, x.unsqueeze(-1))[..., 0].sum(-1)
