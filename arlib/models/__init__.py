"""Autoregressive density models. Every one is an :class:`AutoregressiveModel`."""

from arlib.models.base import AutoregressiveModel, Support
from arlib.models.bernoulli import IndependentBernoulli
from arlib.models.categorical_nade import CategoricalNADE
from arlib.models.charrnn import CharRNN
from arlib.models.deep_nade import DeepNADE
from arlib.models.discrete import DiscretizedLogisticMixture, Histogram
from arlib.models.fvsbn import FVSBN
from arlib.models.gated_pixelcnn import GatedPixelCNN
from arlib.models.gpt import GPT
from arlib.models.image import ImageModel
from arlib.models.made import MADE
from arlib.models.nade import NADE
from arlib.models.pixelcnn import PixelCNN
from arlib.models.pixelrnn import PixelRNN
from arlib.models.rnade import RNADE
from arlib.models.sequence import SequenceModel
from arlib.models.wavenet import WaveNet, mu_law_decode, mu_law_encode

__all__ = [
    "FVSBN",
    "GPT",
    "MADE",
    "NADE",
    "RNADE",
    "AutoregressiveModel",
    "CategoricalNADE",
    "CharRNN",
    "DeepNADE",
    "DiscretizedLogisticMixture",
    "GatedPixelCNN",
    "Histogram",
    "ImageModel",
    "IndependentBernoulli",
    "PixelCNN",
    "PixelRNN",
    "SequenceModel",
    "Support",
    "WaveNet",
    "mu_law_decode",
    "mu_law_encode",
]
