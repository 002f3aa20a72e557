"""A character-level recurrent network (char-RNN, Karpathy 2015): one hidden state carries the whole past.

The vanilla cell is the lectures' recurrence, with x_t one-hot over the vocabulary plus a start token,

    h_{t+1} = tanh(W_hh h_t + W_xh x_{t+1} + b),    logits_{t+1} = W_hy h_{t+1} + b_y,

started from h_0 = 0 and fed the start token first, so h_1 (and p(x_1)) is learned; logits_t predicts x_t
from the start token and x_1, ..., x_{t−1}. ``cell="lstm"`` and ``"gru"`` swap the tanh recurrence for
gated ones (torch.nn.LSTM / GRU), which keep gradients alive over long spans. ``n_layers`` stacks cells,
each reading the hidden states of the one below. The same weights serve every position, so the model
scores and generates sequences of any length at O(1) cost per token. ``dropout`` (training only) zeroes
a random fraction of the hidden states passed up between layers and to the output layer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.sequence import SequenceModel

__all__ = ["CharRNN"]

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharRNN(SequenceModel):
    """A ``cell`` ("rnn", "lstm" or "gru") recurrent network over one-hot tokens, ``n_layers`` deep."""

    def __init__(self, vocab_size: int, hidden: int, n_layers: int = 1, cell: str = "lstm",
                 dropout: float = 0.0) -> None:
        super().__init__(vocab_size, vocab_size=vocab_size, hidden=hidden, n_layers=n_layers, cell=cell,
                         dropout=dropout)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.rnn = CELLS[cell](self.vocab_size + 1, int(hidden), num_layers=int(n_layers), batch_first=True,
                               dropout=dropout if int(n_layers) > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(int(hidden), self.vocab_size)

    def _inputs(self, tokens: Tensor) -> Tensor:
        return F.one_hot(tokens, self.vocab_size + 1).to(self.head.weight.dtype)

    def _logits(self, x: Tensor) -> Tensor:
        h, _ = self.rnn(self._inputs(self.shift_right(x)))
        return self.head(self.drop(h))

    def step(self, token: Tensor, state=None) -> tuple[Tensor, object]:
        """One step of the recurrence: next-token logits (B, V) after reading ``token`` (B,), and the new state.

        ``state=None`` is the initial state h_0 = 0; feed ``token = vocab_size`` (the start token) first.
        """
        h, state = self.rnn(self._inputs(token.unsqueeze(1)), state)
        return self.head(self.drop(h[:, 0])), state

    def _sampler(self, n: int) -> Callable[[Tensor, int], Tensor]:
        state = None

        def step(seq: Tensor, t: int) -> Tensor:
            nonlocal state
            logits, state = self.step(seq[:, t], state)
            return logits

        return step
