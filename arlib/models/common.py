"""Helpers that several models share: random draws, gates, orderings, evaluation mode."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

__all__ = ["check_order", "draw", "eval_mode", "gate", "uniforms"]


def uniforms(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Uniform(0, 1) draws of ``shape`` from an optional CPU generator, moved to ``device``.

    Drawing on the CPU makes a seeded sample the same on every device.
    """
    return torch.rand(shape, generator=generator).to(device)


def draw(logits: Tensor, u: Tensor, temperature: float = 1.0, top_k: int | None = None) -> Tensor:
    """One index per row of ``logits`` (n, V) from softmax(logits / temperature), by inverse CDF with u ~ U(0, 1).

    With ``top_k``, only the k most likely entries keep their (renormalised) probability. Drawing from
    given uniforms makes a sample a fixed function of the logits and the random stream.
    """
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    cdf = torch.softmax(logits, dim=-1).cumsum(-1)
    target = (u.to(cdf.dtype) * cdf[:, -1]).unsqueeze(1)
    index = torch.searchsorted(cdf, target.contiguous(), right=True)  # first entry with F_v > u
    return index.squeeze(1).clamp(max=logits.shape[-1] - 1)


def gate(t: Tensor) -> Tensor:
    """The gated activation tanh(first half of the channels) ⊙ σ(second half)."""
    f, g = t.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


def check_order(order, n: int) -> Tensor:
    """An ordering as a LongTensor permutation of 0..n-1 (order[p] = the dimension generated p-th)."""
    try:
        order = torch.as_tensor(order, dtype=torch.long).flatten().cpu()
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"order must be a permutation of 0..{n - 1}, got {order!r}") from error
    if order.numel() != n or not torch.equal(order.sort().values, torch.arange(n)):
        raise ValueError(f"order must be a permutation of 0..{n - 1}, got {order.tolist()}")
    return order


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block and restore its previous mode afterwards, even on error."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
