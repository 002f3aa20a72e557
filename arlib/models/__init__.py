"""Autoregressive density models. Every one is an :class:`AutoregressiveModel`."""

from arlib.models.base import AutoregressiveModel, Support
from arlib.models.bernoulli import IndependentBernoulli
from arlib.models.charrnn import CharRNN
from arlib.models.discrete import DiscretizedLogisticMixture, Histogram
from arlib.models.fvsbn import FVSBN
from arlib.models.gpt import GPT
from arlib.models.made import MADE
from arlib.models.nade import NADE
from arlib.models.rnade import RNADE
from arlib.models.sequence import SequenceModel

__all__ = [
    "FVSBN",
    "GPT",
    "MADE",
    "NADE",
    "RNADE",
    "AutoregressiveModel",
    "CharRNN",
    "DiscretizedLogisticMixture",
    "Histogram",
    "IndependentBernoulli",
    "SequenceModel",
    "Support",
]
