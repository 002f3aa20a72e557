"""Autoregressive density models. Every one is an :class:`AutoregressiveModel`."""

from arlib.models.base import AutoregressiveModel, Support
from arlib.models.bernoulli import IndependentBernoulli
from arlib.models.discrete import DiscretizedLogisticMixture, Histogram
from arlib.models.fvsbn import FVSBN
from arlib.models.made import MADE
from arlib.models.nade import NADE
from arlib.models.rnade import RNADE

__all__ = [
    "FVSBN",
    "MADE",
    "NADE",
    "RNADE",
    "AutoregressiveModel",
    "DiscretizedLogisticMixture",
    "Histogram",
    "IndependentBernoulli",
    "Support",
]
