"""Maximum-likelihood training for every arlib model.

``fit`` minimises the mean negative log-likelihood ``model.nll(x)`` with Adam (teacher forcing: every
conditional sees the true prefix, so one pass scores all dimensions in parallel where the architecture
allows). It reports the validation NLL after each epoch, keeps the best weights, stops early when asked,
and writes a checkpoint after every epoch so an interrupted run resumes exactly where it stopped.

``fit_steps`` is the iteration-based loop of nanoGPT for data read in random batches (blocks of text,
random names): AdamW, linear warm-up then cosine decay of the learning rate, gradient clipping, an
evaluation every so many steps, and the same exact resume from a checkpoint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from arlib import utils
from arlib.models.base import AutoregressiveModel
from arlib.utils import progress_bar

__all__ = ["Evaluation", "History", "StepHistory", "cosine_lr", "evaluate", "fit", "fit_steps"]

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


def make_optimizer(optimizer: Callable[..., torch.optim.Optimizer], model: torch.nn.Module, **kwargs
                   ) -> torch.optim.Optimizer:
    """``optimizer(model.parameters(), **kwargs)``; Adam and AdamW use their fused kernel where torch has
    one for these parameters (about 1.5x faster full training steps for FVSBN and MADE on a CPU)."""
    if optimizer in (torch.optim.Adam, torch.optim.AdamW):
        try:
            return optimizer(model.parameters(), fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):  # older torch, or a device/dtype without a fused kernel
            pass
    return optimizer(model.parameters(), **kwargs)


def _save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    temporary.replace(path)


class _BatchNLL(torch.nn.Module):
    """The training loss as a module's forward, so that DistributedDataParallel can wrap it."""

    def __init__(self, model: AutoregressiveModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, *batch: Tensor) -> Tensor:
        return self.model.nll(*batch)


def distributed() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside ``torchrun``.

    Under ``torchrun`` (the WORLD_SIZE/RANK variables set, world size > 1) the default process group is
    created on first use: NCCL with one GPU per process when CUDA is available, gloo otherwise.
    """
    import os

    import torch.distributed as dist

    if not dist.is_available():
        return 0, 1
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return 0, 1
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


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
    decay_epochs: int = 0,
    min_lr: float = 0.0,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    eval_batch_size: int = 1000,
) -> History:
    """Train ``model`` by maximum likelihood and return its :class:`History`.

    ``train``/``valid`` are tensors of examples, or tuples ``(x, condition, ...)`` passed on to
    ``model.log_prob``. With ``valid``, the weights of the epoch with the lowest validation NLL are
    restored at the end and ``patience`` epochs without improvement stop the run. The learning rate is
    ``lr`` throughout, except in the last ``decay_epochs`` epochs, where it falls along a cosine to
    ``min_lr`` step by step (so a run extended by decay epochs starts exactly as the shorter run). The model
    is moved to ``device``, by default :func:`arlib.device` (the GPU when there is one). With ``checkpoint``,
    the full state (model, optimizer, best weights, history, random state) is saved after every epoch
    and an existing checkpoint is resumed: an interrupted run finishes with exactly the weights of an
    uninterrupted one.

    Under ``torchrun`` (see :func:`distributed`) every process runs this same call on the same data: the
    model is wrapped in DistributedDataParallel, each global batch of ``batch_size`` examples is split
    between the processes, and the averaged gradient equals that of the whole batch, so W processes reach
    the weights of one process (up to floating-point summation order). Only rank 0 shows progress and
    writes the checkpoint. (Models whose training loss draws random numbers, such as the order-agnostic
    NADE, draw them per process, so there the runs agree in distribution only.)
    """
    torch.set_flush_denormal(True)  # masked weights decaying towards 0 must not become slow denormals
    rank, world = distributed()
    if device is None and world > 1 and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
    device = torch.device(device) if device is not None else utils.device()
    model.to(device)
    loss_module: torch.nn.Module = _BatchNLL(model)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        loss_module = DistributedDataParallel(loss_module, device_ids=[device] if device.type == "cuda" else None)
    progress = progress and rank == 0
    train, valid = _as_tuple(train), (_as_tuple(valid) if valid is not None else None)
    opt = make_optimizer(optimizer, model, lr=lr, weight_decay=weight_decay)
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
    if not 0 <= decay_epochs <= epochs:
        raise ValueError(f"decay_epochs must be in [0, epochs={epochs}], got {decay_epochs}")
    decay_start = (epochs - decay_epochs) * n_batches  # the step where the cosine decay begins
    epoch_bar = progress_bar(range(history.epochs, epochs), desc=type(model).__name__, enabled=progress,
                     initial=history.epochs, total=epochs, unit="epoch")
    for epoch in epoch_bar:
        if history.stopped_early:
            break
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train[0]), generator=shuffle)
        running = 0.0
        for index, batch in enumerate(progress_bar(_batches(train, batch_size, order), total=n_batches,
                                                   leave=False, enabled=progress, desc=f"epoch {epoch + 1}")):
            decay_step = epoch * n_batches + index - decay_start  # < 0 before the decay epochs
            if decay_epochs:
                rate = lr if decay_step < 0 else cosine_lr(decay_step, lr, decay_epochs * n_batches, min_lr=min_lr)
                for group in opt.param_groups:
                    group["lr"] = rate
            size = len(batch[0])
            if world > 1:  # this process's contiguous share of the global batch
                bounds = [size * r // world for r in range(world + 1)]
                share = bounds[rank + 1] - bounds[rank]
                batch = tuple(t[bounds[rank]:bounds[rank + 1]] if share else t[:1] for t in batch)
            else:
                share = size
            # mean NLL of the share, weighted so that DDP's average over processes is the global batch mean
            # (a process with an empty share still joins the gradient reduction, with weight 0)
            loss = loss_module(*_to(batch, device)) * (share * world / size)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            running += loss.item() * size / world
        if world > 1:
            import torch.distributed as dist

            total = torch.tensor([running], dtype=torch.float64, device=device)
            dist.all_reduce(total)
            running = total.item()
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
        if checkpoint is not None and rank == 0:
            _save_checkpoint(checkpoint, {
                "model": model.state_dict(), "optimizer": opt.state_dict(), "shuffle": shuffle.get_state(),
                "torch_rng": torch.get_rng_state(), "history": history.to_dict(), "best_state": best_state,
            })
        if world > 1:
            import torch.distributed as dist

            dist.barrier()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


@dataclass
class StepHistory:
    """Record of a :func:`fit_steps` run: one entry per evaluation (losses as the ``loss`` function reports them)."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # mean training loss since the previous evaluation
    valid_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: float = 0.0  # time spent in training steps (evaluations excluded), resumed runs included
    step: int = 0
    best_step: int | None = None  # the evaluation with the lowest validation loss (``keep_best``)

    def to_dict(self) -> dict:
        return asdict(self)


def cosine_lr(step: int, lr: float, steps: int, warmup: int = 0, min_lr: float | None = None) -> float:
    """nanoGPT's schedule: linear warm-up over ``warmup`` steps, then cosine decay to ``min_lr`` at ``steps``.

    ``min_lr=None`` keeps ``lr`` constant after the warm-up.
    """
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if min_lr is None:
        return lr
    ratio = min(1.0, (step - warmup) / max(1, steps - warmup))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def fit_steps(
    model: AutoregressiveModel,
    batch: Callable[[torch.Generator], Data],
    loss: Callable[..., Tensor],
    *,
    steps: int,
    lr: float,
    min_lr: float | None = None,
    warmup: int = 0,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.99),
    grad_clip: float | None = 1.0,
    evaluate: Callable[[AutoregressiveModel], float] | None = None,
    eval_every: int = 250,
    keep_best: bool = False,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> StepHistory:
    """Train ``model`` for ``steps`` optimizer steps on random batches and return a :class:`StepHistory`.

    ``batch(generator)`` draws one batch (a tensor or a tuple) with the given generator; ``loss(model,
    *batch)`` turns it into the scalar to minimise. AdamW decays the weight matrices and embeddings (the
    parameters with two or more dimensions) but not biases or LayerNorm gains, as nanoGPT does; the
    learning rate follows :func:`cosine_lr`. Every ``eval_every`` steps and at the last one,
    ``evaluate(model)`` (in eval mode, under no_grad) gives the validation loss; then, with
    ``checkpoint``, the full state is saved, and an existing checkpoint is resumed: an interrupted run
    finishes with exactly the weights of an uninterrupted one. The final weights are kept, or with
    ``keep_best`` those of the evaluation with the lowest validation loss (early stopping; the
    evaluation data must then be held out from the model selection's test). The model is moved to ``device``,
    by default :func:`arlib.device`.
    """
    if keep_best and evaluate is None:
        raise ValueError("keep_best needs an evaluate function")
    device = torch.device(device) if device is not None else utils.device()
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=betas)
    generator = torch.Generator().manual_seed(seed)
    history = StepHistory()
    best_state = None
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history = StepHistory(**state["history"])
        best_state = state.get("best_state")

    bar = progress_bar(range(history.step, steps), desc=type(model).__name__, enabled=progress,
                       initial=history.step, total=steps, unit="step")
    running, count = 0.0, 0
    for step in bar:
        start = time.perf_counter()
        model.train()
        rate = cosine_lr(step, lr, steps, warmup, min_lr)
        for group in opt.param_groups:
            group["lr"] = rate
        value = loss(model, *_to(_as_tuple(batch(generator)), device))
        opt.zero_grad(set_to_none=True)
        value.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        running, count = running + value.item(), count + 1
        history.seconds += time.perf_counter() - start
        history.step = step + 1
        if history.step % eval_every == 0 or history.step == steps:
            history.steps.append(history.step)
            history.train_loss.append(running / count)
            history.lr.append(rate)
            running, count = 0.0, 0
            if evaluate is not None:
                model.eval()
                with torch.no_grad():
                    history.valid_loss.append(float(evaluate(model)))
                if keep_best and history.valid_loss[-1] <= min(history.valid_loss):
                    history.best_step = history.step
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                bar.set_postfix(train=f"{history.train_loss[-1]:.3f}", valid=f"{history.valid_loss[-1]:.3f}")
            else:
                bar.set_postfix(train=f"{history.train_loss[-1]:.3f}")
            if checkpoint is not None:
                _save_checkpoint(checkpoint, {
                    "model": model.state_dict(), "optimizer": opt.state_dict(), "generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(), "history": history.to_dict(), "best_state": best_state,
                })
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history
