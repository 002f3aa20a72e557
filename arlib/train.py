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
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from arlib import utils
from arlib.models.base import AutoregressiveModel
from arlib.models.common import eval_mode
from arlib.models.sequence import SequenceModel
from arlib.utils import progress_bar

__all__ = ["Evaluation", "History", "StepHistory", "cosine_lr", "evaluate", "fit", "fit_steps", "init_distributed",
           "log_probs", "token_loss"]

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
    """Mean NLL in nats per example, and per dimension in nats and in bits.

    A dimension is one scalar of an example: a pixel's channel, a coordinate, or for sequence models a
    token, so ``nats_per_dim`` is then the loss in nats per token.
    """

    nll: float
    nats_per_dim: float
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
def log_probs(model: AutoregressiveModel, data: Data, batch_size: int = 1000,
              score: Callable[..., Tensor] | None = None) -> Tensor:
    """log p(x) of every example of ``data`` (a tensor, or a tuple (x, condition, ...)): (N,) float64.

    Computed ``batch_size`` examples at a time on the model's device, in eval mode (the model's mode is
    restored afterwards, also on error); the result is on the CPU. ``score`` replaces ``model.log_prob``,
    e.g. ``model.log_prob_ensemble`` or ``functools.partial(model.log_prob, mask_index=k)``.
    """
    data = _as_tuple(data)
    if len(data[0]) == 0:
        raise ValueError("log_probs expects at least one example, got an empty tensor")
    score = model.log_prob if score is None else score
    with eval_mode(model):
        return torch.cat([score(*_to(batch, model.device)).double().cpu() for batch in _batches(data, batch_size)])


def token_loss(model: SequenceModel, x: Tensor) -> Tensor:
    """The mean of −log p(x_t | x_<t) over every token of a batch, in nats per token: the training loss of
    the sequence models (differentiable; ``evaluate(model, x).nats_per_dim`` is the same number, measured)."""
    return -model.token_log_probs(x).mean()


def evaluate(model: AutoregressiveModel, data: Data, batch_size: int = 1000) -> Evaluation:
    """Mean NLL of ``data`` (a tensor, or a tuple (x, condition...)) under any arlib model.

    The dimensions of an example are the scalars of ``x[0]``: pixels, coordinates or tokens.
    """
    data = _as_tuple(data)
    nll = -log_probs(model, data, batch_size).mean().item()
    dims = data[0][0].numel()
    return Evaluation(nll=nll, nats_per_dim=nll / dims, bits_per_dim=nll / (dims * math.log(2)))


def make_optimizer(optimizer: Callable[..., torch.optim.Optimizer], params, **kwargs) -> torch.optim.Optimizer:
    """``optimizer(params, **kwargs)``; Adam and AdamW use their fused kernel where torch has one for these
    parameters (about 1.5x faster full training steps for FVSBN and MADE on a CPU)."""
    params = list(params)
    if optimizer in (torch.optim.Adam, torch.optim.AdamW):
        try:
            return optimizer(params, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):  # older torch, or a device/dtype without a fused kernel
            pass
    return optimizer(params, **kwargs)


def init_distributed() -> tuple[int, int]:
    """Join the ``torchrun`` process group if there is one; return (rank, world size), (0, 1) outside it.

    Under ``torchrun`` (WORLD_SIZE > 1) the default process group is created on the first call: NCCL with
    one GPU per process when CUDA is available, gloo otherwise.
    """
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


class _Loss(torch.nn.Module):
    """``loss(model, *batch)`` as a module's forward, so that DistributedDataParallel can wrap it."""

    def __init__(self, model: AutoregressiveModel, loss: Callable[..., Tensor]) -> None:
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, *batch: Tensor) -> Tensor:
        return self.loss(self.model, *batch)


class _Trainer:
    """The training-loop core that :func:`fit` and :func:`fit_steps` share.

    It puts the model on its device (under ``torchrun`` wrapped in DistributedDataParallel, each process
    taking its share of every batch), takes optimizer steps, keeps the best weights, and writes and
    resumes checkpoints holding the model, optimizer, random streams, history and best weights.
    """

    def __init__(self, model: AutoregressiveModel, loss: Callable[..., Tensor],
                 make_optimizer: Callable[[list], torch.optim.Optimizer], *, generator: torch.Generator,
                 checkpoint: str | Path | None, device: torch.device | str | None, grad_clip: float | None) -> None:
        self.rank, self.world = init_distributed()
        if device is None and self.world > 1 and torch.cuda.is_available():
            device = torch.device("cuda", torch.cuda.current_device())
        self.device = torch.device(device) if device is not None else utils.device()
        self.model = model.to(self.device)
        self.loss: torch.nn.Module = _Loss(model, loss)
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.loss = DistributedDataParallel(self.loss, device_ids=[self.device] if self.device.type == "cuda"
                                                else None)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(self.params)
        self.generator, self.grad_clip = generator, grad_clip
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.best_state: dict | None = None

    def resume(self) -> dict | None:
        """Load the checkpoint if there is one; return the history it recorded (a dict), else None."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return None
        state = torch.load(self.checkpoint, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.best_state = state["best_state"]
        return state["history"]

    def step(self, batch: tuple[Tensor, ...], lr: float) -> float:
        """One optimizer step at learning rate ``lr`` on a global batch; returns this process's part of the
        batch's mean loss (the parts of all processes add up to it)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        size = len(batch[0])
        if self.world > 1:  # this process's contiguous share of the global batch
            bounds = [size * r // self.world for r in range(self.world + 1)]
            share = bounds[self.rank + 1] - bounds[self.rank]
            batch = tuple(t[bounds[self.rank]:bounds[self.rank + 1]] if share else t[:1] for t in batch)
        else:
            share = size
        # the share's mean loss, weighted so that DDP's average over processes is the global batch mean
        # (a process with an empty share still joins the gradient reduction, with weight 0)
        loss = self.loss(*_to(batch, self.device)) * (share * self.world / size)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()
        return loss.item() / self.world

    def total(self, value: float) -> float:
        """The sum of ``value`` over all processes."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        summed = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(summed)
        return summed.item()

    def keep_best(self) -> None:
        """Remember the current weights as the best so far."""
        self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def save(self, history: dict) -> None:
        """Write the checkpoint (rank 0), then wait for every process."""
        if self.checkpoint is not None and self.rank == 0:
            self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.checkpoint.with_name(self.checkpoint.name + ".tmp")
            torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                        "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
                        "history": history, "best_state": self.best_state}, temporary)
            temporary.replace(self.checkpoint)
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def finish(self) -> None:
        """Restore the best weights, if any were kept, and put the model in eval mode."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.model.eval()


def _nll(model: AutoregressiveModel, *batch: Tensor) -> Tensor:
    return model.nll(*batch)


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

    Under ``torchrun`` (see :func:`init_distributed`) every process runs this same call on the same data:
    the model is wrapped in DistributedDataParallel, each global batch of ``batch_size`` examples is split
    between the processes, and the averaged gradient equals that of the whole batch, so W processes reach
    the weights of one process (up to floating-point summation order). Only rank 0 shows progress and
    writes the checkpoint. (Models whose training loss draws random numbers, such as the order-agnostic
    NADE, draw them per process, so there the runs agree in distribution only.)
    """
    torch.set_flush_denormal(True)  # masked weights decaying towards 0 must not become slow denormals
    if not 0 <= decay_epochs <= epochs:
        raise ValueError(f"decay_epochs must be in [0, epochs={epochs}], got {decay_epochs}")
    run = _Trainer(model, _nll, lambda params: make_optimizer(optimizer, params, lr=lr, weight_decay=weight_decay),
                   generator=torch.Generator().manual_seed(seed), checkpoint=checkpoint, device=device,
                   grad_clip=grad_clip)
    progress = progress and run.rank == 0
    train, valid = _as_tuple(train), (_as_tuple(valid) if valid is not None else None)
    history = History(**(run.resume() or {}))
    n_batches = math.ceil(len(train[0]) / batch_size)
    decay_start = (epochs - decay_epochs) * n_batches  # the step where the cosine decay begins
    epoch_bar = progress_bar(range(history.epochs, epochs), desc=type(model).__name__, enabled=progress,
                             initial=history.epochs, total=epochs, unit="epoch")
    for epoch in epoch_bar:
        if history.stopped_early:
            break
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train[0]), generator=run.generator)
        running = 0.0
        for index, batch in enumerate(progress_bar(_batches(train, batch_size, order), total=n_batches,
                                                   leave=False, enabled=progress, desc=f"epoch {epoch + 1}")):
            decay_step = epoch * n_batches + index - decay_start  # < 0 before the decay epochs
            rate = lr if decay_step < 0 else cosine_lr(decay_step, lr, decay_epochs * n_batches, min_lr=min_lr)
            running += run.step(batch, rate) * len(batch[0])
        history.train_nll.append(run.total(running) / len(train[0]))
        history.seconds.append(time.perf_counter() - start)
        if valid is not None:
            history.valid_nll.append(evaluate(model, valid, eval_batch_size).nll)
            if history.best_epoch is None or history.valid_nll[-1] < history.best_valid_nll:
                history.best_epoch = epoch + 1
                run.keep_best()
            elif patience is not None and epoch + 1 - history.best_epoch >= patience:
                history.stopped_early = True
            epoch_bar.set_postfix(train=f"{history.train_nll[-1]:.2f}", valid=f"{history.valid_nll[-1]:.2f}")
        else:
            epoch_bar.set_postfix(train=f"{history.train_nll[-1]:.2f}")
        run.save(history.to_dict())
    run.finish()
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
    by default :func:`arlib.device`. Under ``torchrun`` it runs as :func:`fit` does: every process draws the
    same batch from the same generator and takes its share of it.
    """
    if keep_best and evaluate is None:
        raise ValueError("keep_best needs an evaluate function")

    def adamw(params: list) -> torch.optim.Optimizer:
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=betas)

    run = _Trainer(model, loss, adamw, generator=torch.Generator().manual_seed(seed), checkpoint=checkpoint,
                   device=device, grad_clip=grad_clip)
    history = StepHistory(**(run.resume() or {}))
    bar = progress_bar(range(history.step, steps), desc=type(model).__name__, enabled=progress and run.rank == 0,
                       initial=history.step, total=steps, unit="step")
    running, count = 0.0, 0
    for step in bar:
        start = time.perf_counter()
        model.train()
        rate = cosine_lr(step, lr, steps, warmup, min_lr)
        running, count = running + run.step(_as_tuple(batch(run.generator)), rate), count + 1
        history.seconds += time.perf_counter() - start
        history.step = step + 1
        if history.step % eval_every == 0 or history.step == steps:
            history.steps.append(history.step)
            history.train_loss.append(run.total(running) / count)
            history.lr.append(rate)
            running, count = 0.0, 0
            if evaluate is not None:
                model.eval()
                with torch.no_grad():
                    history.valid_loss.append(float(evaluate(model)))
                if keep_best and history.valid_loss[-1] <= min(history.valid_loss):
                    history.best_step = history.step
                    run.keep_best()
                bar.set_postfix(train=f"{history.train_loss[-1]:.3f}", valid=f"{history.valid_loss[-1]:.3f}")
            else:
                bar.set_postfix(train=f"{history.train_loss[-1]:.3f}")
            run.save(history.to_dict())
    if not keep_best:
        run.best_state = None
    run.finish()
    return history
