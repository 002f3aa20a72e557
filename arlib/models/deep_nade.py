"""DeepNADE: one network for the conditionals of every ordering (Uria, Murray & Larochelle, 2014).

A NADE is tied to its ordering. DeepNADE instead feeds a feed-forward ReLU network the pixels observed so
far (zero elsewhere) next to the mask m of which pixels are observed, and reads a conditional for every
pixel off its outputs:

    logits = net([x ⊙ m, m]),        p(x_j = 1 | x_observed) = σ(logits_j)   for every unobserved j.

Training draws, per example, an ordering and a prefix length k in {0, ..., n-1}, observes the first k
pixels of the ordering and scores all n - k others in one pass, scaled by n / (n - k): an unbiased
estimate of the NLL averaged over orderings. Any ordering then gives an exact likelihood, at the cost of
n passes (one per prefix). With ``n_categories = K > 2`` the pixels enter one-hot and each gets K
logits and a softmax.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.base import AutoregressiveModel, Support
from arlib.models.common import check_order, draw, uniforms

__all__ = ["DeepNADE"]


class DeepNADE(AutoregressiveModel):
    """Order-agnostic NADE: an MLP with ``n_layers`` hidden layers of ``hidden`` ReLU units (``net``)."""

    def __init__(self, n_dims: int, hidden: int, n_categories: int = 2, n_layers: int = 1) -> None:
        super().__init__(n_dims=n_dims, hidden=hidden, n_categories=n_categories, n_layers=n_layers)
        n, d, K = int(n_dims), int(hidden), int(n_categories)
        if K < 2:
            raise ValueError(f"n_categories must be at least 2, got {K}")
        self.event_shape = (n,)
        if K > 2:
            self.support = Support("categorical", K)
        self.k = 1 if K == 2 else K  # input columns and output logits per pixel (value or one-hot code)
        sizes = [n * self.k + n] + [d] * int(n_layers)
        layers = []
        for a, b in pairwise(sizes):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], n * self.k))

    # ------------------------------------------------------------------ public API
    def log_prob(self, x: Tensor, order=None) -> Tensor:
        """log p(x) in nats, shape (B,), in ``order`` (default 0..n-1): n passes of the network."""
        return self._log_prob(self.validate(x), order)

    def conditionals(self, x: Tensor, order=None) -> Tensor:
        """p(x_i = 1 | the pixels before i in ``order``) (B, n); for K categories (B, n, K) probabilities."""
        logits = self._logits(self.validate(x), order)
        return torch.sigmoid(logits[..., 0]) if self.k == 1 else torch.softmax(logits, -1)

    def nll(self, x: Tensor) -> Tensor:
        """Mean NLL; in training mode the order-agnostic estimate instead (random orderings and prefixes)."""
        if not self.training:
            return -self.log_prob(x).mean()
        x = self.validate(x)
        B, n = x.shape
        k = torch.randint(0, n, (B, 1), device=x.device)  # prefix length
        rank = torch.rand(B, n, device=x.device).argsort(1).argsort(1)  # position in a random ordering
        observed = (rank < k).to(self.net[0].weight.dtype)
        log_p = self._per_dim(self._net_logits(x, observed), x)
        return -((1 - observed) * log_p).sum(1).mul(n / (n - k[:, 0])).mean()

    def sample(self, n: int, *, generator: torch.Generator | None = None, return_probs: bool = False,
               order=None) -> Tensor | tuple[Tensor, Tensor]:
        """n samples (n, n_dims) drawn in ``order``; with ``return_probs`` also the probabilities drawn from."""
        return super().sample(n, generator=generator, return_probs=return_probs, order=order)

    # ------------------------------------------------------------------ internals
    def _net_logits(self, x: Tensor, observed: Tensor) -> Tensor:
        """Logits (B, n, k) of every pixel given the observed ones: net([x ⊙ m, m])."""
        X = x.unsqueeze(-1) if self.k == 1 else F.one_hot(x, self.k)
        X = X.to(observed.dtype) * observed.unsqueeze(-1)
        out = self.net(torch.cat([X.flatten(1), observed], 1))
        return out.view(x.shape[0], self.n_dims, self.k)

    def _logits(self, x: Tensor, order=None) -> Tensor:
        """Logits (B, n, k) of every conditional in ``order``: one pass per prefix."""
        order = check_order(range(self.n_dims) if order is None else order, self.n_dims)
        observed = torch.zeros(x.shape, device=x.device, dtype=self.net[0].weight.dtype)
        logits = []
        for dim in order.tolist():
            logits.append(self._net_logits(x, observed)[:, dim])
            observed[:, dim] = 1
        return torch.stack(logits, 1)[:, order.argsort()]

    def _per_dim(self, logits: Tensor, x: Tensor) -> Tensor:
        """log p(x_i | ...) for every i, (B, n), from logits (B, n, k)."""
        if self.k == 1:
            return -F.binary_cross_entropy_with_logits(logits[..., 0], x.to(logits.dtype), reduction="none")
        return torch.log_softmax(logits, -1).gather(-1, x.unsqueeze(-1))[..., 0]

    def _log_prob(self, x: Tensor, order=None) -> Tensor:
        return self._per_dim(self._logits(x, order), x).sum(-1)

    def _sample(self, n: int, generator: torch.Generator | None, return_probs: bool = False,
                order=None) -> Tensor | tuple[Tensor, Tensor]:
        order = check_order(range(self.n_dims) if order is None else order, self.n_dims)
        dtype = self.net[0].weight.dtype
        u = uniforms((n, self.n_dims), generator, self.device)
        observed = torch.zeros(n, self.n_dims, device=self.device, dtype=dtype)
        if self.k == 1:
            x, probs = torch.zeros_like(observed), torch.zeros_like(observed)
        else:
            x = torch.zeros(n, self.n_dims, device=self.device, dtype=torch.long)
            probs = torch.zeros(n, self.n_dims, self.k, device=self.device, dtype=dtype)
        for i in order.tolist():
            logits = self._net_logits(x, observed)[:, i]
            if self.k == 1:
                probs[:, i] = torch.sigmoid(logits[:, 0])
                x[:, i] = (u[:, i] < probs[:, i]).to(dtype)
            else:
                probs[:, i] = torch.softmax(logits, -1)
                x[:, i] = draw(logits, u[:, i])
            observed[:, i] = 1
        return (x, probs) if return_probs else x
