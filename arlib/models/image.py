"""What the image models (PixelCNN, GatedPixelCNN, PixelRNN) share: pixels in raster order, colours within a pixel.

An image x of shape (C, H, W) with integer pixels in {0, ..., K − 1} is ordered row by row, left to right,
and within a pixel channel by channel (R, then G, then B), so the chain rule reads

    log p(x) = Σ_{i, j} Σ_c log p(x_{c,i,j} | pixels before (i, j), channels < c of pixel (i, j)),

each factor a K-way softmax. A subclass implements ``network(inputs, y)``: the pixels scaled to [−1, 1],
(B, C, H, W) real, in; logits (B, K, C, H, W) out, where the logits at (c, i, j) may depend only on the
inputs before (c, i, j) in that order. One pass scores every pixel (teacher forcing); sampling draws one
channel of one pixel per pass. ``receptive_field_map`` measures with gradients what each prediction sees.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from arlib.models.base import AutoregressiveModel, Support
from arlib.models.common import draw, uniforms

__all__ = ["ImageModel", "check_image_shape", "split_logits"]


def check_image_shape(image_shape: Sequence[int], n_categories: int) -> tuple[tuple[int, int, int], int]:
    """``image_shape`` as a (C, H, W) tuple of positive ints and ``n_categories`` as an int ≥ 2, or ValueError."""
    try:
        shape = tuple(int(s) for s in image_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (C, H, W) with positive entries, got {image_shape!r}")
    if int(n_categories) < 2:
        raise ValueError(f"n_categories must be at least 2, got {n_categories}")
    return shape, int(n_categories)  # type: ignore[return-value]


class ImageModel(AutoregressiveModel):
    """Base class: x is integer pixels (B, C, H, W) in [0, n_categories); optional class labels y (B,).

    Subclasses pass the image shape, the number of pixel values and of classes (None: unconditional) to
    this class's ``__init__``, followed by their whole configuration by name, and implement ``network``.
    """

    def __init__(self, image_shape: Sequence[int], n_categories: int, n_classes: int | None = None, /,
                 **config) -> None:
        super().__init__(**config)
        self.event_shape, self.n_categories = check_image_shape(image_shape, n_categories)
        self.support = Support("categorical", self.n_categories)
        if n_classes is not None and int(n_classes) < 1:
            raise ValueError(f"n_classes must be None or a positive integer, got {n_classes}")
        self.n_classes = None if n_classes is None else int(n_classes)

    def check_layers(self, hidden_channels: int, n_layers: int) -> tuple[int, int]:
        """(hidden_channels, n_layers) as ints: a positive multiple of the colour channels (each colour gets
        its share of every layer) and at least one layer; or ValueError."""
        hidden, colours = int(hidden_channels), self.event_shape[0]
        if hidden < 1 or hidden % colours:
            raise ValueError(f"hidden_channels must be a positive multiple of the {colours} channels, got {hidden}")
        if int(n_layers) < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        return hidden, int(n_layers)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.event_shape  # type: ignore[return-value]

    @abstractmethod
    def network(self, inputs: Tensor, y: Tensor | None = None) -> Tensor:
        """Logits (B, K, C, H', W) from real inputs (B, C, H', W) (any H' ≤ H); differentiable in the inputs."""

    # ------------------------------------------------------------------ likelihood
    def scale(self, x: Tensor) -> Tensor:
        """Integer pixels -> the network's input: values in [−1, 1], in the model's dtype."""
        dtype = next(self.parameters()).dtype
        return x.to(dtype) * (2 / (self.n_categories - 1)) - 1

    def logits(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Logits (B, K, C, H, W) of every conditional p(x_{c,i,j} | everything before it)."""
        x = self.validate(x)
        return self.network(self.scale(x), self._labels(y, x.shape[0]))

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """log p(x) (or log p(x | y)) in nats, summed over all pixels and channels: shape (B,)."""
        x = self.validate(x)
        return self._log_prob(x, self._labels(y, x.shape[0]))

    @torch.no_grad()
    def classify(self, x: Tensor, batch_size: int = 100) -> Tensor:
        """Labels argmax_y log p(x | y) of a class-conditional model (Bayes' rule, equal class priors): (B,)."""
        if self.n_classes is None:
            raise ValueError(f"{type(self).__name__} is unconditional (n_classes=None): it cannot classify")
        x = self.validate(x)
        scores = torch.stack([torch.cat([self._log_prob(b, torch.full((len(b),), c, device=b.device))
                                         for b in x.split(batch_size)]) for c in range(self.n_classes)], 1)
        return scores.argmax(1)

    def nll(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Mean negative log-likelihood in nats per image (the training loss)."""
        return -self.log_prob(x, y).mean()

    def _log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        logits = self.network(self.scale(x), y)
        return -F.cross_entropy(logits, x, reduction="none").sum((1, 2, 3))

    # ------------------------------------------------------------------ sampling
    def _sample(self, n: int, generator: torch.Generator | None, y: Tensor | int | None = None) -> Tensor:
        if isinstance(y, int):
            y = torch.full((n,), y, dtype=torch.long)
        x = torch.zeros((n, *self.event_shape), dtype=torch.long, device=self.device)
        return self._fill(x, 0, generator, self._labels(y, n))

    @torch.no_grad()
    def complete(self, x: Tensor, n_rows: int, *, generator: torch.Generator | None = None,
                 y: Tensor | None = None) -> Tensor:
        """Keep the first ``n_rows`` rows of each image in x and sample the rest from the model (int64)."""
        x = self.validate(x).clone()
        if not isinstance(n_rows, int) or not 0 <= n_rows <= x.shape[2]:
            raise ValueError(f"n_rows must be an int in [0, {x.shape[2]}], got {n_rows!r}")
        return self._fill(x, n_rows * x.shape[3], generator, self._labels(y, x.shape[0]))

    def _fill(self, x: Tensor, first: int, generator: torch.Generator | None, y: Tensor | None) -> Tensor:
        """Draw, in place, every channel of every pixel from raster position ``first`` on, one per network pass.

        The uniforms for all positions are drawn up front, so a sample is a fixed function of the stream.
        Rows below the current one cannot matter, so each pass only runs the rows up to it.
        """
        C, H, W = self.event_shape
        u = uniforms(tuple(x.shape), generator, x.device)
        for position in range(first, H * W):
            i, j = divmod(position, W)
            for c in range(C):
                logits = self.network(self.scale(x[:, :, : i + 1]), y)[:, :, c, i, j]
                x[:, c, i, j] = draw(logits, u[:, c, i, j])
        return x

    # ------------------------------------------------------------------ helpers
    def _labels(self, y: Tensor | None, batch: int) -> Tensor | None:
        """Check class labels y (B,) against n_classes; None for an unconditional model."""
        name = type(self).__name__
        if self.n_classes is None:
            if y is not None:
                raise ValueError(f"{name} is unconditional (n_classes=None) but got labels y")
            return None
        expected = (f"{name} expects class labels y of shape (B,) = ({batch},), an integer dtype and values in "
                    f"[0, {self.n_classes})")
        if not isinstance(y, Tensor):
            raise ValueError(f"{expected}; got {type(y).__name__}")
        if tuple(y.shape) != (batch,):
            raise ValueError(f"{expected}; got shape {tuple(y.shape)}")
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise ValueError(f"{expected}; got dtype {y.dtype}")
        if y.numel() and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"{expected}; got values in [{y.min().item()}, {y.max().item()}]")
        return y.to(device=self.device, dtype=torch.long)

    def receptive_field_map(self, row: int, col: int, channel: int = 0, inputs: Tensor | None = None,
                            y: Tensor | None = None) -> Tensor:
        """``|∂ (logits at (channel, row, col))² / ∂ inputs|``, summed over a batch: shape (C, H, W).

        Nonzero exactly at the inputs the prediction of that pixel can see. ``inputs`` (B, C, H, W) default
        to 32 standard-normal images (a fixed seed), so that no path is silent by accident.
        """
        dtype = next(self.parameters()).dtype
        if inputs is None:
            gen = torch.Generator().manual_seed(0)
            inputs = torch.randn((32, *self.event_shape), generator=gen, dtype=dtype)
        inputs = inputs.detach().to(device=self.device, dtype=dtype).requires_grad_()
        if self.n_classes is not None and y is None:
            y = torch.zeros(inputs.shape[0], dtype=torch.long)
        logits = self.network(inputs, self._labels(y, inputs.shape[0]))[:, :, channel, row, col]
        (grad,) = torch.autograd.grad(logits.square().sum(), inputs)
        return grad.abs().sum(0)

    def n_parameters(self) -> int:
        """Trainable scalars, without the weights that masks hold at zero."""
        masked = sum(int((m.mask == 0).sum()) for m in self.modules() if isinstance(getattr(m, "mask", None), Tensor))
        return super().n_parameters() - masked


def split_logits(out: Tensor, n_categories: int) -> Tensor:
    """(B, C·K, H, W) output channels, grouped by colour, -> logits (B, K, C, H, W)."""
    B, CK, H, W = out.shape
    return out.view(B, CK // n_categories, n_categories, H, W).transpose(1, 2)

