"""Maximum-likelihood training for every arlib model.

``fit`` minimises the mean negative log-likelihood ``model.nll(x)`` with Adam (teacher forcing: every
conditional sees the true prefix, so one pass scores all dimensions in parallel where the architecture
allows). It reports the validation NLL after each epoch, keeps the best weights, stops early when asked,
and writes a checkpoint after every epoch so an interrupted run resumes exactly where it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from arlib.models.base import AutoregressiveModel
from arlib.utils import progress_bar

__all__ = ["Evaluation", "History", "evaluate", "fit"]

Data = Tensor | Sequence[Tensor]


@dataclass
class History:
    """Per-epoch record of a training run (NLL in nats per example)."""

    train_nll: list[float] = field(default_factory=list)
    valid_nll: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_nll)

    @property
    def best_valid_nll(self) -> float | None:
        return None if self.best_epoch is None else self.valid_nll[self.best_epoch - 1]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    """Mean NLL in nats per example, and the same in bits per dimension."""

    nll: float
    bits_per_dim: float


def _as_tuple(data: Data) -> tuple[Tensor, ...]:
    return (data,) if isinstance(data, Tensor) else tuple(data)


def _batches(data: tuple[Tensor, ...], batch_size: int, order: Tensor | None = None):
    n = len(data[0])
    for start in range(0, n, batch_size):
        index = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
        yield tuple(t[index] for t in data)


def _to(batch: tuple[Tensor, ...], device: torch.device) -> tuple[Tensor, ...]:
    return tuple(t.to(device, non_blocking=True) for t in batch)


@torch.no_grad()
def evaluate(model: AutoregressiveModel, data: Data, batch_size: int = 1000) -> Evaluation:
    """Mean NLL of ``data`` (a tensor, or a tuple (x, condition...)) under ``model``."""
    data = _as_tuple(data)
    was_training = model.training
    model.eval()
    device = model._device()
    total = 0.0
    for batch in _batches(data, batch_size):
        total += -model.log_prob(*_to(batch, device)).double().sum().item()
    model.train(was_training)
    nll = total / len(data[0])
    return Evaluation(nll=nll, bits_per_dim=nll / (model.n_dims * math.log(2)))


def _save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    temporary.replace(path)


def fit(
    model: AutoregressiveModel,
    train: Data,
    valid: Data | None = None,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    optimizer: Callable[..., torch.optim.Optimizer] = torch.optim.Adam,
    patience: int | None = None,
    grad_clip: float | None = None,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    eval_batch_size: int = 1000,
) -> History:
    """Train ``model`` by maximum likelihood and return its :class:`History`.

    ``train``/``valid`` are tensors of examples, or tuples ``(x, condition, ...)`` passed on to
    ``model.log_prob``. With ``valid``, the weights of the epoch with the lowest validation NLL are
    restored at the end and ``patience`` epochs without improvement stop the run. With ``checkpoint``,
    the full state (model, optimizer, best weights, history, random state) is saved after every epoch
    and an existing checkpoint is resumed: an interrupted run finishes with exactly the weights of an
    uninterrupted one.
    """
    torch.set_flush_denormal(True)  # masked weights decaying towards 0 must not become slow denormals
    device = torch.device(device) if device is not None else model._device()
    model.to(device)
    train, valid = _as_tuple(train), (_as_tuple(valid) if valid is not None else None)
    opt = optimizer(model.parameters(), lr=lr, weight_decay=weight_decay)
    shuffle = torch.Generator().manual_seed(seed)
    history = History()
    best_state = None
    checkpoint = Path(checkpoint) if checkpoint is not None else None

    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        shuffle.set_state(state["shuffle"])
        torch.set_rng_state(state["torch_rng"])
        history = History(**state["history"])
        best_state = state["best_state"]

    n_batches = math.ceil(len(train[0]) / batch_size)
    epoch_bar = progress_bar(range(history.epochs, epochs), desc=type(model).__name__, enabled=progress,
                     initial=history.epochs, total=epochs, unit="epoch")
    for epoch in epoch_bar:
        if history.stopped_early:
            break
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train[0]), generator=shuffle)
        running = 0.0
        for batch in progress_bar(_batches(train, batch_size, order), total=n_batches, leave=False,
                                  enabled=progress, desc=f"epoch {epoch + 1}"):
            batch = _to(batch, device)
            loss = model.nll(*batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            running += loss.item() * len(batch[0])
        history.train_nll.append(running / len(train[0]))
        history.seconds.append(time.perf_counter() - start)
        if valid is not None:
            history.valid_nll.append(evaluate(model, valid, eval_batch_size).nll)
            if history.best_epoch is None or history.valid_nll[-1] < history.best_valid_nll:
                history.best_epoch = epoch + 1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            elif patience is not None and epoch + 1 - history.best_epoch >= patience:
                history.stopped_early = True
            epoch_bar.set_postfix(train=f"{history.train_nll[-1]:.2f}", valid=f"{history.valid_nll[-1]:.2f}")
        else:
            epoch_bar.set_postfix(train=f"{history.train_nll[-1]:.2f}")
        if checkpoint is not None:
            _save_checkpoint(checkpoint, {
                "model": model.state_dict(), "optimizer": opt.state_dict(), "shuffle": shuffle.get_state(),
                "torch_rng": torch.get_rng_state(), "history": history.to_dict(), "best_state": best_state,
            })
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history
