"""Text for the sequence models: a character tokenizer, Tiny Shakespeare in random blocks, and names.

``CharTokenizer`` maps each character of a fixed vocabulary to an integer and back. Tiny Shakespeare is
split as in nanoGPT (the first 90 % of the characters for training, the last 10 % for validation) and
read in random blocks of ``block_size`` characters. The names (makemore's names.txt) become one token
sequence per name followed by the end token ".", so a model also learns where a name stops; they are
split 90/10 by a seeded permutation. Losses are in nats per character, the end token counted as one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from arlib import data
from arlib.models.common import eval_mode
from arlib.models.sequence import SequenceModel

__all__ = [
    "END",
    "CharTokenizer",
    "Names",
    "encode_names",
    "hold_out",
    "names_loss",
    "names_nll",
    "names_split",
    "names_tokenizer",
    "random_blocks",
    "shakespeare_loss",
    "shakespeare_split",
]

END = "."


class CharTokenizer:
    """Characters <-> integers 0, ..., vocab_size − 1 (in the order of ``chars``)."""

    def __init__(self, chars: Iterable[str]) -> None:
        self.itos = list(chars)
        if any(len(c) != 1 for c in self.itos) or len(set(self.itos)) != len(self.itos):
            raise ValueError("a CharTokenizer needs distinct single characters")
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The sorted set of characters that occur in ``text``."""
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> Tensor:
        """A str as an int64 tensor of shape (len(text),)."""
        unknown = sorted(set(text) - self.stoi.keys())
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {unknown!r}")
        return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)

    def decode(self, tokens: Tensor | Iterable[int]) -> str:
        """One sequence of tokens (a 1-D tensor or a list of ints) as a str."""
        if isinstance(tokens, Tensor):
            if tokens.dim() != 1:
                raise ValueError(f"decode expects one sequence (a 1-D tensor), got shape {tuple(tokens.shape)}")
            tokens = tokens.tolist()
        tokens = list(tokens)
        if any(not 0 <= i < self.vocab_size for i in tokens):
            raise ValueError(f"decode expects tokens in [0, {self.vocab_size}), got {sorted(set(tokens))}")
        return "".join(self.itos[i] for i in tokens)

    def to_dict(self) -> dict:
        """A JSON-ready description (for a pretrained model's sidecar); ``from_dict`` rebuilds it."""
        return {"chars": "".join(self.itos)}

    @classmethod
    def from_dict(cls, state: dict) -> CharTokenizer:
        return cls(state["chars"])

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, chars={''.join(self.itos)!r})"


# ---------------------------------------------------------------------------------------- Tiny Shakespeare
def shakespeare_split() -> tuple[Tensor, Tensor, CharTokenizer]:
    """Tiny Shakespeare as int64 tokens: (first 90 % for training, last 10 % for validation, tokenizer)."""
    text = data.load("tinyshakespeare")
    tokenizer = CharTokenizer.from_text(text)
    tokens = tokenizer.encode(text)
    n = int(0.9 * len(tokens))
    return tokens[:n], tokens[n:], tokenizer


def random_blocks(tokens: Tensor, block_size: int, batch_size: int,
                  generator: torch.Generator | None = None) -> Tensor:
    """``batch_size`` blocks of ``block_size`` tokens at uniform random offsets, (batch_size, block_size)."""
    if not 1 <= block_size <= len(tokens):
        raise ValueError(f"block_size must be in [1, {len(tokens)}], got {block_size}")
    starts = torch.randint(len(tokens) - block_size + 1, (batch_size,), generator=generator)
    return tokens[starts[:, None] + torch.arange(block_size)]


@torch.no_grad()
def shakespeare_loss(model: SequenceModel, tokens: Tensor, block_size: int, n_blocks: int = 2000,
                     batch_size: int = 100, seed: int = 0) -> dict[str, float]:
    """Mean loss over ``n_blocks`` random blocks (fixed by ``seed``), in nats per character.

    ``loss``: every character of a block, the first one predicted from the start token alone.
    ``loss_in_context``: characters 2, ..., block_size only, each predicted from at least one
    character of context (the positions nanoGPT's loss counts).
    """
    generator = torch.Generator().manual_seed(seed)
    total = first = 0.0
    with eval_mode(model):
        for done in range(0, n_blocks, batch_size):
            x = random_blocks(tokens, block_size, min(batch_size, n_blocks - done), generator)
            log_p = model.token_log_probs(x.to(model.device)).double()
            total += -log_p.sum().item()
            first += -log_p[:, 0].sum().item()
    result = {"loss": total / (n_blocks * block_size)}
    if block_size > 1:
        result["loss_in_context"] = (total - first) / (n_blocks * (block_size - 1))
    return result


# ---------------------------------------------------------------------------------------- names
@dataclass(frozen=True)
class Names:
    """Names as token sequences: ``tokens`` (N, L) int64, each name then ".", padded with "." to L.

    ``lengths`` (N,) counts the characters of each name plus its end token: the positions a loss scores.
    """

    names: list[str]
    tokens: Tensor
    lengths: Tensor

    def __len__(self) -> int:
        return len(self.names)

    def batch(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Rows ``index`` cut to their longest name: (tokens (b, l), lengths (b,))."""
        lengths = self.lengths[index]
        return self.tokens[index, : int(lengths.max())], lengths


def names_tokenizer() -> CharTokenizer:
    """"." (the end token, index 0) then a-z: 27 tokens, as in makemore."""
    return CharTokenizer(END + "abcdefghijklmnopqrstuvwxyz")


def encode_names(names: list[str], tokenizer: CharTokenizer, width: int | None = None) -> Names:
    """Each name followed by the end token, padded with it to ``width`` (default: the longest name + 1)."""
    width = max(map(len, names)) + 1 if width is None else width
    tokens = torch.stack([tokenizer.encode(name + END * (width - len(name))) for name in names])
    return Names(list(names), tokens, torch.tensor([len(name) + 1 for name in names]))


def names_split(seed: int = 0) -> tuple[Names, Names, CharTokenizer]:
    """makemore's 32,033 names: (90 % train, 10 % test, tokenizer), split by a permutation seeded with ``seed``."""
    names = data.load("names")
    tokenizer = names_tokenizer()
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
    n, width = int(0.9 * len(names)), max(map(len, names)) + 1
    return (encode_names([names[i] for i in order[:n]], tokenizer, width),
            encode_names([names[i] for i in order[n:]], tokenizer, width), tokenizer)


def hold_out(names: Names, n: int, tokenizer: CharTokenizer) -> tuple[Names, Names]:
    """(all but the last ``n`` names, the last ``n``): a validation set carved from a (shuffled) training split."""
    if not 0 < n < len(names):
        raise ValueError(f"n must be in (0, {len(names)}), got {n}")
    width = names.tokens.shape[1]
    return (encode_names(names.names[:-n], tokenizer, width), encode_names(names.names[-n:], tokenizer, width))


def names_nll(model: SequenceModel, tokens: Tensor, lengths: Tensor) -> Tensor:
    """−log p(name, end token) for each row, (B,): the positions after the end token are not scored."""
    log_p = model.token_log_probs(tokens.to(model.device))
    mask = torch.arange(tokens.shape[1], device=log_p.device) < lengths.to(log_p.device)[:, None]
    return -(log_p * mask).sum(1)


@torch.no_grad()
def names_loss(model: SequenceModel, names: Names, batch_size: int = 2000) -> float:
    """Mean loss over all names in nats per character (the end token counted), i.e. Σ NLL / Σ lengths."""
    total = 0.0
    with eval_mode(model):
        for start in range(0, len(names), batch_size):
            tokens, lengths = names.batch(torch.arange(start, min(start + batch_size, len(names))))
            total += names_nll(model, tokens, lengths).double().sum().item()
    return total / names.lengths.sum().item()
