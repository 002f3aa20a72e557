"""PixelRNN with Row LSTM or Diagonal BiLSTM layers (van den Oord et al., 2016, "Pixel Recurrent Neural Networks").

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

A Diagonal BiLSTM layer (``recurrence="diagonal"``) sees the whole context instead. Skewing the map (row i
shifted i columns right) turns its diagonals into columns; an LSTM then runs along the W + H − 1 columns,
where a 2 × 1 state-to-state convolution lets (i, j) read the states of (i − 1, j) and (i, j − 1), and a
1 × 1 mask-B convolution gives the input-to-state part; unskewing restores the image. That direction covers
everything above and to the left. A second Diagonal LSTM runs on the mirrored map (above and to the right)
and its output is shifted down one row before the two are added, u ← u + h_left-to-right +
shift_down(h_right-to-left), so that at (i, j) it reports row i − 1 from column j to the end, and the rows
above. The features u never hold the last pixel of their own row (a mask-A feature lags one pixel behind),
so the right-to-left direction also reads the pixels themselves (a 1 × 1 convolution of the image, allowed
because of the shift): without it the last pixel of the row above would be missed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.image import ImageModel, split_logits
from arlib.models.pixelcnn import MaskedConv2d, raster_mask

__all__ = ["DiagonalBiLSTM", "PixelRNN", "RowLSTM"]


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


def skew(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, H, W + H − 1): row i shifted i columns right, so diagonals become columns."""
    B, C, H, W = x.shape
    out = x.new_zeros(B, C, H, W + H - 1)
    for i in range(H):
        out[:, :, i, i:i + W] = x[:, :, i]
    return out


def unskew(x: Tensor, width: int) -> Tensor:
    """The inverse of :func:`skew`: (B, C, H, W + H − 1) -> (B, C, H, W)."""
    return torch.stack([x[:, :, i, i:i + width] for i in range(x.shape[2])], dim=2)


class DiagonalLSTM(nn.Module):
    """One direction: an LSTM along the diagonals, (B, hidden, H, W) -> states of the same shape."""

    def __init__(self, hidden: int, n_colours: int) -> None:
        super().__init__()
        self.input_to_state = MaskedConv2d(raster_mask(hidden, 4 * hidden, (1, 1), "B", n_colours, copies=4))
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 2)  # rows i − 1 and i of the previous column

    def forward(self, u: Tensor, extra: Tensor | None = None) -> Tensor:
        B, hidden, H, W = u.shape
        gates = self.input_to_state(u) if extra is None else self.input_to_state(u) + extra
        gates_from_input = skew(gates)  # (B, 4·hidden, H, W + H − 1)
        h = c = u.new_zeros(B, hidden, H)
        columns = []
        for column in range(W + H - 1):  # one diagonal of the image per step
            gates = gates_from_input[:, :, :, column] + self.state_to_state(F.pad(h, (1, 0)))
            o, f, i, g = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            columns.append(h)
        return unskew(torch.stack(columns, dim=3), W)


class DiagonalBiLSTM(nn.Module):
    """Both directions; the right-to-left one shifted down a row so that no state sees (i, j) or later."""

    def __init__(self, hidden: int, n_colours: int) -> None:
        super().__init__()
        self.left_to_right = DiagonalLSTM(hidden, n_colours)
        self.right_to_left = DiagonalLSTM(hidden, n_colours)
        self.image_to_state = nn.Conv2d(n_colours, 4 * hidden, 1, bias=False)  # right-to-left: the pixels too

    def forward(self, u: Tensor, image: Tensor) -> Tensor:
        extra = self.image_to_state(image).flip(-1)
        mirrored = self.right_to_left(u.flip(-1), extra).flip(-1)
        return self.left_to_right(u) + F.pad(mirrored, (0, 0, 1, 0))[:, :, :-1]


class PixelRNN(ImageModel):
    """A mask-A convolution, n_layers residual recurrent layers and 1 × 1 logits, over (C, H, W) images.

    ``recurrence``: "row" (Row LSTM, H sequential steps per layer) or "diagonal" (Diagonal BiLSTM,
    W + H − 1 sequential steps per layer, its two directions side by side; the whole context).
    """

    def __init__(self, image_shape: Sequence[int], n_categories: int, hidden_channels: int, n_layers: int,
                 first_kernel_size: int = 7, recurrence: str = "row") -> None:
        super().__init__(image_shape, n_categories, image_shape=image_shape, n_categories=n_categories,
                         hidden_channels=hidden_channels, n_layers=n_layers, first_kernel_size=first_kernel_size,
                         recurrence=recurrence)
        C, K = self.event_shape[0], self.n_categories
        h, n_layers = self.check_layers(hidden_channels, n_layers)
        k1 = int(first_kernel_size)
        self.first = MaskedConv2d(raster_mask(C, h, (k1, k1), "A", C))
        layers = {"row": RowLSTM, "diagonal": DiagonalBiLSTM}
        if recurrence not in layers:
            raise ValueError(f"recurrence must be 'row' or 'diagonal', got {recurrence!r}")
        self.recurrence = recurrence
        self.rnns = nn.ModuleList(layers[recurrence](h, C) for _ in range(n_layers))
        self.out = MaskedConv2d(raster_mask(h, C * K, (1, 1), "B", C))

    def network(self, inputs: Tensor, y: Tensor | None = None) -> Tensor:
        u = self.first(inputs)
        for rnn in self.rnns:
            u = u + (rnn(u) if self.recurrence == "row" else rnn(u, inputs))
        return split_logits(self.out(F.relu(u)), self.n_categories)

    def sequential_steps(self) -> int:
        """Recurrent steps that must run one after another for one likelihood evaluation."""
        H, W = self.image_shape[1:]
        per_layer = H if self.recurrence == "row" else W + H - 1  # rows, or diagonals
        return len(self.rnns) * per_layer
