"""arlib: autoregressive generative models, the library behind the course companion.

Every model is an :class:`arlib.models.AutoregressiveModel` with ``log_prob(x)`` (nats, one
value per example) and ``sample(n)``. Data come from :mod:`arlib.data`, training from
:mod:`arlib.train`, shipped weights from :mod:`arlib.pretrained` (measured by :mod:`arlib.evaluation`).
"""

from __future__ import annotations

import random

import numpy as np
import torch

__version__ = "0.1.0"


def seed(s: int) -> torch.Generator:
    """Seed Python's, NumPy's and torch's global generators; return a fresh seeded torch.Generator."""
    random.seed(s)
    np.random.seed(s)  # noqa: NPY002 (seeds the legacy global generator that user code may use)
    torch.manual_seed(s)
    return torch.Generator().manual_seed(s)


from arlib import data, evaluation, models, plot, pretrained, train  # noqa: E402
from arlib.utils import device  # noqa: E402

__all__ = ["data", "device", "evaluation", "models", "plot", "pretrained", "seed", "train"]
