"""The independent-pixel baseline: a product of Bernoullis.

    p(x) = prod_i  x̂_i^{x_i} (1 - x̂_i)^{1 - x_i},   x̂_i = σ(θ_i)

Every pixel ignores every other pixel, so this is the degenerate "autoregressive" model whose
conditionals p(x_i | x_<i) = p(x_i) do not look at the past. It has n parameters, its maximum-likelihood
fit is the mean image, and its NLL is the floor every later model in the book must beat.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.base import AutoregressiveModel
from arlib.models.common import uniforms


class IndependentBernoulli(AutoregressiveModel):
    """n_dims independent Bernoulli pixels with logits θ (initialised at p = 1/2)."""

    def __init__(self, n_dims: int) -> None:
        super().__init__(n_dims=n_dims)
        self.event_shape = (int(n_dims),)
        self.logits = nn.Parameter(torch.zeros(n_dims))

    @torch.no_grad()
    def fit_closed_form(self, x: Tensor, pseudo_count: float = 1.0) -> IndependentBernoulli:
        """Set θ to the (smoothed) maximum-likelihood solution: the mean of each pixel.

        ``pseudo_count`` adds that many imaginary 0s and 1s per pixel (Laplace smoothing), so no pixel
        gets probability exactly 0 or 1 and unseen values never cost an infinite NLL.
        """
        x = self.validate(x)
        mean = (x.sum(0) + pseudo_count) / (x.shape[0] + 2 * pseudo_count)
        self.logits.copy_(torch.logit(mean))
        return self

    def conditionals(self, x: Tensor) -> Tensor:
        """p(x_i = 1 | x_<i) for every i; here it does not depend on x at all."""
        x = self.validate(x)
        return torch.sigmoid(self.logits).expand_as(x)

    def _log_prob(self, x: Tensor) -> Tensor:
        return -F.binary_cross_entropy_with_logits(self.logits.expand_as(x), x, reduction="none").sum(-1)

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        u = uniforms((n, *self.event_shape), generator, self.device)
        return (u < torch.sigmoid(self.logits)).float()
