"""The fully visible sigmoid belief network (FVSBN): one logistic regression per pixel.

    p(x_i = 1 | x_<i) = σ(α_0^i + Σ_{j<i} α_j^i x_j)

All n regressions run in one pass as a masked linear layer: logits = (A ⊙ M) x + α_0 with M strictly
lower-triangular (M_ij = 1 iff j < i), so pixel i only sees the pixels before it. The model has
1 + 2 + ... + n = n(n+1)/2 free parameters, O(n²). Sampling goes pixel by pixel, feeding each draw back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.base import AutoregressiveModel
from arlib.models.common import uniforms


class FVSBN(AutoregressiveModel):
    """n_dims binary pixels, each a logistic regression on the pixels before it (initialised at p = 1/2)."""

    def __init__(self, n_dims: int) -> None:
        super().__init__(n_dims=n_dims)
        n = int(n_dims)
        self.event_shape = (n,)
        self.register_buffer("mask", torch.tril(torch.ones(n, n), diagonal=-1), persistent=False)  # rebuilt, not saved
        self.weight = nn.Parameter(torch.zeros(n, n))  # masked entries stay exactly 0
        self.bias = nn.Parameter(torch.zeros(n))

    def n_parameters(self) -> int:
        """n(n+1)/2: the strictly lower-triangular weights plus one bias per pixel."""
        n = self.n_dims
        return n * (n + 1) // 2

    def logits(self, x: Tensor) -> Tensor:
        """Logits of p(x_i = 1 | x_<i) for every i, shape (B, n)."""
        x = self.validate(x)
        return self._logits(x.to(self.weight.dtype))

    def conditionals(self, x: Tensor) -> Tensor:
        """p(x_i = 1 | x_<i) for every i, shape (B, n)."""
        return torch.sigmoid(self.logits(x))

    def _logits(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)

    def _log_prob(self, x: Tensor) -> Tensor:
        x = x.to(self.weight.dtype)
        return -F.binary_cross_entropy_with_logits(self._logits(x), x, reduction="none").sum(-1)

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        u = uniforms((n, self.n_dims), generator, self.device).to(self.weight.dtype)
        weight = self.weight * self.mask
        x = torch.zeros_like(u)
        for i in range(self.n_dims):
            p = torch.sigmoid(x @ weight[i] + self.bias[i])  # x_j = 0 for j >= i
            x[:, i] = (u[:, i] < p).to(x.dtype)
        return x
