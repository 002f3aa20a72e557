"""Autoregressive density models. Every one is an :class:`AutoregressiveModel`."""

from arlib.models.base import AutoregressiveModel, Support
from arlib.models.bernoulli import IndependentBernoulli
from arlib.models.discrete import DiscretizedLogisticMixture, Histogram

__all__ = ["AutoregressiveModel", "DiscretizedLogisticMixture", "Histogram", "IndependentBernoulli", "Support"]
