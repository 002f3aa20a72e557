"""Gated PixelCNN (van den Oord et al., 2016, "Conditional Image Generation with PixelCNN Decoders").

PixelCNN's masked k × k kernel has a blind spot. The gated PixelCNN splits it into two stacks (r = k // 2):

    vertical stack v:    a k × k kernel over the rows above the centre (first layer), or over those rows
                         and the centre row (later layers: v there already depends on rows above only);
    horizontal stack h:  a 1 × k kernel over the centre pixel's row, left of the centre (at the centre, the
                         colour masks A / B of PixelCNN), plus a 1 × 1 link from v at the same position.

After L layers v at (i, j) sees the whole block of rows i − L·r, ..., i − 1 and columns j − L·r, ..., j + L·r,
and h adds the L·r pixels left of (i, j): every earlier pixel within reach, no blind spot. Each layer has
gated units and, optionally, a class-conditional bias (one embedding row per label y):

    v ← tanh(v_f) ⊙ σ(v_g),                      (v_f, v_g) = W_v * v + V y,
    h ← h + W_r [tanh(h_f) ⊙ σ(h_g)],            (h_f, h_g) = W_h * h + U (W_v * v) + V' y,

with the residual connection left out in the first layer (its input holds the pixel itself). A 1 × 1
mask-B convolution of ReLU(h) gives K logits per channel. Channels (C > 1) are handled as in PixelCNN:
the horizontal stack's centre weights follow colour groups, the vertical stack needs none (rows above).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.common import gate
from arlib.models.image import ImageModel, split_logits
from arlib.models.pixelcnn import MaskedConv2d, raster_mask

__all__ = ["GatedPixelCNN"]


def vertical_mask(in_channels: int, out_channels: int, k: int, first: bool) -> Tensor:
    """Mask (out, in, k, k) keeping the rows above the centre, and the centre row too unless ``first``."""
    mask = torch.zeros(out_channels, in_channels, k, k)
    mask[:, :, : k // 2 + (0 if first else 1)] = 1
    return mask


class GatedLayer(nn.Module):
    """One layer of both stacks: (v, h) -> (v', h')."""

    def __init__(self, in_channels: int, hidden: int, k: int, n_colours: int, n_classes: int | None,
                 first: bool) -> None:
        super().__init__()
        self.first = first
        self.vertical = MaskedConv2d(vertical_mask(in_channels, 2 * hidden, k, first))
        self.horizontal = MaskedConv2d(raster_mask(in_channels, 2 * hidden, (1, k), "A" if first else "B",
                                                   n_colours, copies=2))
        self.link = nn.Conv2d(2 * hidden, 2 * hidden, 1)  # v depends on rows above only: no mask needed
        self.residual = MaskedConv2d(raster_mask(hidden, hidden, (1, 1), "B", n_colours))
        self.condition = nn.Embedding(n_classes, 4 * hidden) if n_classes else None

    def forward(self, v: Tensor, h: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        v_pre = self.vertical(v)
        h_pre = self.horizontal(h) + self.link(v_pre)
        if self.condition is not None:
            v_bias, h_bias = self.condition(y)[:, :, None, None].chunk(2, dim=1)
            v_pre, h_pre = v_pre + v_bias, h_pre + h_bias
        h_new = self.residual(gate(h_pre))
        return gate(v_pre), h_new if self.first else h + h_new


class GatedPixelCNN(ImageModel):
    """n_layers gated vertical/horizontal layers and 1 × 1 logits; class-conditional if ``n_classes`` is set.

    ``log_prob(x, y)`` and ``sample(n, y=..., generator=...)`` take labels y (int64, (B,); ``sample`` also takes
    one int for all n) when the model is conditional, and no y otherwise.
    """

    def __init__(self, image_shape: Sequence[int], n_categories: int, hidden_channels: int, n_layers: int,
                 n_classes: int | None = None, kernel_size: int = 3) -> None:
        super().__init__(image_shape, n_categories, n_classes, image_shape=image_shape, n_categories=n_categories,
                         hidden_channels=hidden_channels, n_layers=n_layers, n_classes=n_classes,
                         kernel_size=kernel_size)
        C, K = self.event_shape[0], self.n_categories
        h, n_layers = self.check_layers(hidden_channels, n_layers)
        self.layers = nn.ModuleList(GatedLayer(C if i == 0 else h, h, int(kernel_size), C, self.n_classes, i == 0)
                                    for i in range(n_layers))
        self.out = MaskedConv2d(raster_mask(h, C * K, (1, 1), "B", C))

    def network(self, inputs: Tensor, y: Tensor | None = None) -> Tensor:
        v = h = inputs
        for layer in self.layers:
            v, h = layer(v, h, y)
        return split_logits(self.out(F.relu(h)), self.n_categories)

    @torch.no_grad()
    def sample(self, n: int, *, y: Tensor | int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """n images (n, C, H, W) int64, given labels ``y`` (one per image, or one int for all) of a
        conditional model."""
        return super().sample(n, generator=generator, y=y)
