"""Helpers shared by the model tests."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy import stats


def all_binary(n: int) -> torch.Tensor:
    """Every x in {0, 1}^n, shape (2^n, n), in binary counting order."""
    return torch.tensor(list(itertools.product([0, 1], repeat=n)), dtype=torch.float32)


def chi_square_pvalue(observed, probabilities) -> float:
    """Chi-square goodness of fit of observed counts against model probabilities (renormalised in float64)."""
    observed = np.asarray(observed, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    expected = probabilities / probabilities.sum() * observed.sum()
    return float(stats.chisquare(observed, expected).pvalue)
