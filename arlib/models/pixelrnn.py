"""PixelRNN with Row LSTM layers (van den Oord et al., 2016, "Pixel Recurrent Neural Networks").

The image is first convolved with a k₁ × k₁ mask-A convolution (see PixelCNN), so the features u at (i, j)
hold only pixels before (i, j) and colours before their own at (i, j). A Row LSTM layer then runs down the
image one row at a time, computing a whole row of LSTM states at once from two 1-D convolutions (k = 3):

    [o, f, i, g]_row = K_is ⊛ u_row + K_ss ⊛ h_{row−1},
    c_row = σ(f) ⊙ c_{row−1} + σ(i) ⊙ tanh(g),     h_row = σ(o) ⊙ tanh(c_row),

where the input-to-state kernel K_is is masked like a 1 × 3 mask-B convolution (the pixel to the left
and the centre, colour by colour) and the state-to-state kernel K_ss reads the previous row's states at
j − 1, j, j + 1 (all earlier pixels, so unmasked); h and c start at 0 above the image. Layers are stacked
with residual connections, u ← u + RowLSTM(u), and a 1 × 1 mask-B convolution gives K logits per channel.

The receptive field of h at (i, j) is a triangle widening upwards (one column each way per row); the rows
are computed one after another, so the likelihood costs H sequential steps (PixelCNN's costs one pass).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.image import ImageModel, split_logits
from arlib.models.pixelcnn import MaskedConv2d, check_hidden, raster_mask

__all__ = ["PixelRNN", "RowLSTM"]


class RowLSTM(nn.Module):
    """One Row LSTM layer over feature maps (B, hidden, H, W) -> hidden states of the same shape."""

    def __init__(self, hidden: int, n_colours: int) -> None:
        super().__init__()
        self.input_to_state = MaskedConv2d(raster_mask(hidden, 4 * hidden, (1, 3), "B", n_colours, copies=4))
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 3, padding=1)

    def forward(self, u: Tensor) -> Tensor:
        gates_from_input = self.input_to_state(u)  # every row at once: (B, 4·hidden, H, W)
        B, hidden, H, W = u.shape
        h = c = u.new_zeros(B, hidden, W)
        rows = []
        for row in range(H):
            o, f, i, g = (gates_from_input[:, :, row] + self.state_to_state(h)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            rows.append(h)
        return torch.stack(rows, dim=2)


class PixelRNN(ImageModel):
    """A mask-A convolution, n_layers residual Row LSTM layers and 1 × 1 logits, over (C, H, W) images."""

    def __init__(self, image_shape: Sequence[int], n_categories: int, hidden_channels: int, n_layers: int,
                 first_kernel_size: int = 7) -> None:
        super().__init__()
        self._setup(image_shape, n_categories)
        C, K = self.event_shape[0], self.n_categories
        h = check_hidden(hidden_channels, C)
        if int(n_layers) < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        k1 = int(first_kernel_size)
        self.first = MaskedConv2d(raster_mask(C, h, (k1, k1), "A", C))
        self.rnns = nn.ModuleList(RowLSTM(h, C) for _ in range(int(n_layers)))
        self.out = MaskedConv2d(raster_mask(h, C * K, (1, 1), "B", C))

    def network(self, inputs: Tensor, y: Tensor | None = None) -> Tensor:
        u = self.first(inputs)
        for rnn in self.rnns:
            u = u + rnn(u)
        return split_logits(self.out(F.relu(u)), self.n_categories)
