"""Models of one discrete variable with k values, for the chapter on learning.

``Histogram``: p(x = i) = count_i / N, one free parameter per value. Inference is a table look-up and
sampling is the inverse CDF: with F_i = p_0 + ... + p_i, draw u ~ U(0, 1) and return the smallest i with
u ≤ F_i. It memorises the training set: a value never seen gets probability 0.

``DiscretizedLogisticMixture``: a mixture of K logistic distributions, each integrated over the unit
bin around every integer,

    p(x = i) = sum_k π_k [σ((i + ½ − μ_k)/s_k) − σ((i − ½ − μ_k)/s_k)],

with the first and last bins stretched to −∞ and +∞ so the k probabilities sum to 1 exactly.
3K parameters, however large k is: it shares strength between neighbouring values and generalises.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from arlib.models.base import AutoregressiveModel, Support
from arlib.models.common import uniforms


class _OneDiscreteVariable(AutoregressiveModel):
    """Shared plumbing: x has shape (B, 1) with integer values in [0, n_values)."""

    def __init__(self, n_values: int, /, **config) -> None:
        super().__init__(**config)
        self.event_shape = (1,)
        self.support = Support("categorical", int(n_values))

    def probs(self) -> Tensor:
        """The k probabilities p(x = 0), ..., p(x = k − 1)."""
        return self.log_probs_table().exp()

    def log_probs_table(self) -> Tensor:
        raise NotImplementedError

    def _log_prob(self, x: Tensor) -> Tensor:
        return self.log_probs_table()[x[:, 0]]

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        cdf = torch.cumsum(self.probs(), 0)
        u = uniforms((n,), generator, cdf.device) * cdf[-1]
        index = torch.searchsorted(cdf, u.contiguous())  # smallest i with u <= F_i
        return index.clamp(max=self.support.n_categories - 1).unsqueeze(1)


class Histogram(_OneDiscreteVariable):
    """Counting: p(x = i) = (count_i + pseudo_count) / (N + k · pseudo_count)."""

    def __init__(self, n_values: int, pseudo_count: float = 0.0) -> None:
        super().__init__(n_values, n_values=n_values, pseudo_count=pseudo_count)
        self.pseudo_count = float(pseudo_count)
        self.register_buffer("counts", torch.zeros(n_values))

    @torch.no_grad()
    def fit_counts(self, x: Tensor) -> Histogram:
        """Learning by counting: the maximum-likelihood estimate (smoothed by pseudo_count)."""
        x = self.validate(x)
        self.counts.copy_(torch.bincount(x[:, 0], minlength=self.support.n_categories).float())
        return self

    def log_probs_table(self) -> Tensor:
        smoothed = self.counts + self.pseudo_count
        return torch.log(smoothed / smoothed.sum())


class DiscretizedLogisticMixture(_OneDiscreteVariable):
    """A K-component mixture of logistics discretised to the integers 0, ..., n_values − 1."""

    def __init__(self, n_values: int, n_components: int = 4) -> None:
        super().__init__(n_values, n_values=n_values, n_components=n_components)
        self.mixture_logits = nn.Parameter(torch.zeros(n_components))
        self.means = nn.Parameter(torch.linspace(0.2, 0.8, n_components) * (n_values - 1))
        self.log_scales = nn.Parameter(torch.full((n_components,), float(torch.log(torch.tensor(n_values / 8)))))

    def log_probs_table(self) -> Tensor:
        values = torch.arange(self.support.n_categories, device=self.means.device, dtype=torch.float32)
        centred = (values[:, None] - self.means) / self.log_scales.exp()
        half_bin = 0.5 / self.log_scales.exp()
        upper = torch.sigmoid(centred + half_bin)
        lower = torch.sigmoid(centred - half_bin)
        upper = torch.cat([upper[:-1], torch.ones_like(upper[-1:])])  # the last bin reaches +inf
        lower = torch.cat([torch.zeros_like(lower[:1]), lower[1:]])  # the first bin reaches -inf
        component_log_probs = torch.log((upper - lower).clamp_min(1e-12))
        return torch.logsumexp(component_log_probs + torch.log_softmax(self.mixture_logits, 0), dim=1)
