"""What the sequence models (CharRNN, GPT) share: tokens in, next-token logits out.

A sequence x = (x_1, ..., x_T) of integer tokens in {0, ..., V − 1} is scored by the chain rule,

    log p(x) = Σ_t log p(x_t | x_<t),    p(x_t = v | x_<t) = softmax(logits_t)_v,

where logits_t is computed from a learned start token followed by x_1, ..., x_{t−1}. The start token is
not in the vocabulary and is never generated, so p(x_1) is a distribution of its own and the V^T
probabilities of all sequences of one length T sum to 1. One forward pass over [start, x_1, ..., x_{T−1}]
gives all T conditionals at once (teacher forcing); sampling feeds each draw back in, one token at a time.

Subclasses pass the vocabulary size V and the longest allowed T (``block_size``; None: any T) to this
class's ``__init__``, followed by their whole configuration by name, and implement ``_logits(x)``
((B, T) validated tokens -> (B, T, V)) and ``_sampler(n, **options)``: a function ``step(seq, t)`` that
gives the logits of x_{t+1} (n, V) from ``seq[:, : t + 1]`` (the start token, then x_1, ..., x_t),
keeping whatever state (a cache, a recurrent state) makes the next call cheap.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from arlib.models.base import AutoregressiveModel, Support
from arlib.models.common import draw, eval_mode, uniforms

__all__ = ["SequenceModel"]


class SequenceModel(AutoregressiveModel):
    """Base class: x is int64 tokens (B, T); ``logits(x)`` (B, T, V); ``sample(n, length=T)``."""

    def __init__(self, vocab_size: int, block_size: int | None = None, /, **config) -> None:
        super().__init__(**config)
        if int(vocab_size) < 1:
            raise ValueError(f"vocab_size must be at least 1, got {vocab_size}")
        if block_size is not None and int(block_size) < 1:
            raise ValueError(f"block_size must be None or at least 1, got {block_size}")
        self.vocab_size = int(vocab_size)
        self.block_size = None if block_size is None else int(block_size)
        self.start_token = self.vocab_size  # an input index of its own, never an output
        self.support = Support("categorical", self.vocab_size)

    @property
    def n_dims(self) -> int:
        raise TypeError(f"{type(self).__name__} scores sequences of any length T; report nats per token instead")

    def validate(self, x: Tensor) -> Tensor:
        """Check that x is integer tokens (B, T) in [0, vocab_size) with T allowed; return it as int64.

        Raises ValueError naming the expected shape, dtype and range (and block_size for over-long input).
        """
        name = type(self).__name__
        limit = f", 1 ≤ T ≤ block_size = {self.block_size}" if self.block_size is not None else ", T ≥ 1"
        expected = (f"{name} expects tokens x of shape (B, T){limit}, an integer dtype (e.g. torch.long) "
                    f"and values in [0, {self.vocab_size})")
        if not isinstance(x, Tensor):
            raise ValueError(f"{expected}; got {type(x).__name__}, not a torch.Tensor")
        if x.dim() != 2 or x.shape[1] == 0:
            raise ValueError(f"{expected}; got shape {tuple(x.shape)}")
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise ValueError(f"{expected}; got dtype {x.dtype}")
        if self.block_size is not None and x.shape[1] > self.block_size:
            raise ValueError(f"{expected}; got T = {x.shape[1]}, longer than block_size = {self.block_size}")
        if x.numel() and (x.min() < 0 or x.max() >= self.vocab_size):
            raise ValueError(f"{expected}; got values in [{x.min().item()}, {x.max().item()}]")
        return x.to(device=self.device, dtype=torch.long)

    # ------------------------------------------------------------------ likelihood
    def shift_right(self, x: Tensor) -> Tensor:
        """The network's input for tokens x (B, T): the start token, then x_1, ..., x_{T−1}."""
        start = torch.full((x.shape[0], 1), self.start_token, dtype=torch.long, device=x.device)
        return torch.cat([start, x[:, :-1]], dim=1)

    def logits(self, x: Tensor) -> Tensor:
        """Next-token logits (B, T, V): row t scores x_t given the start token and x_1, ..., x_{t−1}."""
        return self._logits(self.validate(x))

    def token_log_probs(self, x: Tensor) -> Tensor:
        """log p(x_t | x_<t) for every position, shape (B, T); ``log_prob`` is their sum over t."""
        return self._token_log_probs(self.validate(x))

    def _token_log_probs(self, x: Tensor) -> Tensor:
        log_p = F.log_softmax(self._logits(x), dim=-1)
        return log_p.gather(-1, x.unsqueeze(-1)).squeeze(-1)

    def _log_prob(self, x: Tensor) -> Tensor:
        return self._token_log_probs(x).sum(-1)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, n: int, *, length: int, generator: torch.Generator | None = None, temperature: float = 1.0,
               top_k: int | None = None, return_logits: bool = False, **options) -> Tensor | tuple[Tensor, Tensor]:
        """n sequences of ``length`` tokens, (n, length) int64, drawn one token at a time.

        ``temperature`` divides the logits (< 1 sharper, > 1 flatter; 1 is the model itself) and
        ``top_k`` keeps only the k most likely tokens at each step. The uniforms are drawn up front from
        ``generator``, one per token. With ``return_logits``, also the model's raw logits (n, length, V)
        at every step (before temperature and top-k).
        """
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"sample expects a positive integer length, got {length!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be None or a positive integer, got {top_k!r}")
        with eval_mode(self):
            x, logits = super().sample(n, generator=generator, length=length, temperature=temperature, top_k=top_k,
                                       **options)
        return (x, logits) if return_logits else x

    def _sample(self, n: int, generator: torch.Generator | None, length: int, temperature: float = 1.0,
                top_k: int | None = None, **options) -> tuple[Tensor, Tensor]:
        u = uniforms((n, length), generator, self.device)  # one uniform per token, drawn up front
        seq = torch.full((n, length + 1), self.start_token, dtype=torch.long, device=self.device)  # start, x_1, ...
        logits = torch.empty(n, length, self.vocab_size, dtype=next(self.parameters()).dtype, device=self.device)
        step = self._sampler(n, **options)
        for t in range(length):  # predict x_{t+1} from seq[:, : t + 1]
            logits[:, t] = step(seq, t)
            seq[:, t + 1] = draw(logits[:, t], u[:, t], temperature, top_k)
        return seq[:, 1:], logits

    @abstractmethod
    def _sampler(self, n: int, **options) -> Callable[[Tensor, int], Tensor]: ...
