"""PixelCNN (van den Oord et al., 2016, "Pixel Recurrent Neural Networks"): masked convolutions.

Pixels are generated in raster order and, within a pixel, R then G then B:

    p(x) = Π_{i,j} p(R_ij | x_<ij) p(G_ij | x_<ij, R_ij) p(B_ij | x_<ij, R_ij, G_ij),

each factor a K-way softmax. A convolution computes all H·W·C conditionals in one pass if its k × k kernel
is multiplied by a mask that zeroes every weight from the future: the rows below the centre and the
pixels right of it. At the centre itself the feature maps are split into C colour groups, and

    mask A (first layer):   colour g reads input colours g' < g    (R reads nothing of its own pixel),
    mask B (later layers):  colour g reads feature colours g' ≤ g  (features of colour g hold only x_<g),

so the logits of colour g at (i, j) depend on the pixels before (i, j) and the colours before g at (i, j)
only. The network is one k₁ × k₁ mask-A convolution (k₁ = 7 by default), n_layers − 1 residual k × k
mask-B convolutions h ← h + conv(ReLU(h)) (k = 3), and a 1 × 1 mask-B convolution giving K logits per
channel. Training is parallel; sampling needs one pass per channel of each pixel.

Stacked masked convolutions have a blind spot: a 3 × 3 mask-B kernel reaches one column further right
only by also going one row up, so with 3 × 3 kernels throughout pixel (i, j) never sees (i − a, j + b) for
b > a, though those pixels come earlier in raster order (a larger first kernel shifts the wedge right
but does not close it). GatedPixelCNN removes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.image import ImageModel, split_logits

__all__ = ["MaskedConv2d", "PixelCNN", "colours", "raster_mask"]


def colours(n_channels: int, n_colours: int, copies: int = 1) -> Tensor:
    """The colour (0, ..., n_colours − 1) of each of n_channels · copies feature maps: contiguous blocks,
    the same blocks repeated ``copies`` times (for the gates that are later split off with ``chunk``)."""
    return (torch.arange(n_channels) * n_colours // n_channels).repeat(copies)


def raster_mask(in_channels: int, out_channels: int, kernel_size: tuple[int, int], mask_type: str,
                n_colours: int = 1, copies: int = 1) -> Tensor:
    """The 0/1 mask (out, in, kh, kw) of a mask-"A" or mask-"B" convolution (``out_channels`` in ``copies`` blocks)."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    kh, kw = kernel_size
    mask = torch.zeros(out_channels, in_channels, kh, kw)
    mask[:, :, : kh // 2] = 1  # the rows above the centre
    mask[:, :, kh // 2, : kw // 2] = 1  # the pixels left of the centre
    c_in = colours(in_channels, n_colours)[None, :]
    c_out = colours(out_channels // copies, n_colours, copies)[:, None]
    mask[:, :, kh // 2, kw // 2] = (c_in < c_out if mask_type == "A" else c_in <= c_out).float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A zero-padded ("same" size) convolution whose weight is multiplied by a fixed mask (out, in, kh, kw)."""

    def __init__(self, mask: Tensor, bias: bool = True) -> None:
        out_channels, in_channels, kh, kw = mask.shape
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"kernel sizes must be odd, got {(kh, kw)}")
        super().__init__(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2), bias=bias)
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)  # rebuilt from the config
        with torch.no_grad():
            self.weight.mul_(self.mask)  # masked weights start (and, getting no gradient, stay) at 0

    def forward(self, h: Tensor) -> Tensor:
        return F.conv2d(h, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNN(ImageModel):
    """A mask-A convolution, n_layers − 1 residual mask-B convolutions and 1 × 1 logits, over (C, H, W) images."""

    def __init__(self, image_shape: Sequence[int], n_categories: int, hidden_channels: int, n_layers: int,
                 kernel_size: int = 3, first_kernel_size: int = 7) -> None:
        super().__init__(image_shape, n_categories, image_shape=image_shape, n_categories=n_categories,
                         hidden_channels=hidden_channels, n_layers=n_layers, kernel_size=kernel_size,
                         first_kernel_size=first_kernel_size)
        C, K = self.event_shape[0], self.n_categories
        h, n_layers = self.check_layers(hidden_channels, n_layers)
        k, k1 = int(kernel_size), int(first_kernel_size)
        self.first = MaskedConv2d(raster_mask(C, h, (k1, k1), "A", C))
        self.convs = nn.ModuleList(MaskedConv2d(raster_mask(h, h, (k, k), "B", C)) for _ in range(n_layers - 1))
        self.out = MaskedConv2d(raster_mask(h, C * K, (1, 1), "B", C))

    def network(self, inputs: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.first(inputs)
        for conv in self.convs:
            h = h + conv(F.relu(h))
        return split_logits(self.out(F.relu(h)), self.n_categories)
