"""What the training scripts share: the one ``Recipe`` of a shipped model, their common options, the command
line a sidecar records, and the NLL metrics of the digit data.

The scripts run as ``python scripts/train_<x>.py`` and import this module as a sibling; each ships its
models once, through :func:`arlib.evaluation.publish`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from arlib import data, train
from arlib.models import AutoregressiveModel

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ("train", "valid", "test")
# the settings a sidecar's "recipe" records (after the dataset, before ``extra``), by the kind of run
EPOCH_SETTINGS = ("epochs", "batch_size", "lr", "patience", "weight_decay", "decay_epochs", "min_lr")
STEP_SETTINGS = ("iters", "batch_size", "lr", "min_lr", "warmup", "weight_decay", "grad_clip", "betas", "eval_every",
                 "keep_best")


@dataclass(frozen=True)
class Recipe:
    """How one shipped model is trained: the model, its data and the optimizer's settings.

    Every recipe: ``make(**config)`` builds the model, trained on ``dataset`` in batches of ``batch_size`` at
    learning rate ``lr``, with weight decay ``weight_decay``, the rate falling to ``min_lr`` at the end. It
    then sets exactly one of ``epochs`` and ``iters``, which makes it one of two kinds:

    - ``epochs``: :func:`arlib.train.fit` (Adam, whole passes over the training split). ``patience`` epochs
      without a better validation NLL stop the run (the best epoch's weights are kept); the rate is ``lr``
      until the last ``decay_epochs`` epochs, which lower it along a cosine to ``min_lr``.
    - ``iters``: :func:`arlib.train.fit_steps` (AdamW with ``betas``, random batches). The rate warms up
      linearly over ``warmup`` steps, then follows a cosine to ``min_lr`` at step ``iters``; gradients are
      clipped at ``grad_clip``; the monitor runs every ``eval_every`` steps, and with ``keep_best`` the
      weights of its best evaluation are shipped.

    The fields of the other kind keep their defaults and are not used. ``extra`` holds a script's own data
    settings (Shakespeare's block size, WaveNet's crops), recorded with the rest by :meth:`record`.
    """

    make: Callable[..., AutoregressiveModel]
    config: dict
    dataset: str
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    min_lr: float = 0.0
    # epoch-based recipes (train.fit)
    epochs: int | None = None
    patience: int | None = None
    decay_epochs: int = 0
    # step-based recipes (train.fit_steps)
    iters: int | None = None
    warmup: int = 0
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    eval_every: int = 250
    keep_best: bool = False
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.epochs is None) == (self.iters is None):
            raise ValueError(f"a recipe sets exactly one of epochs and iters, got epochs={self.epochs}, "
                             f"iters={self.iters}")

    @property
    def steps(self) -> bool:
        """Whether the recipe counts optimizer steps (``iters``) rather than epochs."""
        return self.iters is not None

    def lasting(self, length: int | None) -> Recipe:
        """The recipe run for ``length`` epochs or steps (by its kind) instead of its own; None keeps it."""
        if length is None:
            return self
        return replace(self, iters=length) if self.steps else replace(self, epochs=length)

    def model(self) -> AutoregressiveModel:
        return self.make(**self.config)

    def record(self) -> dict:
        """The settings as a sidecar's "recipe" records them: the dataset, the settings of the recipe's kind
        (as read by :func:`arlib.evaluation.retrain` and the chapters), then ``extra``."""
        settings = STEP_SETTINGS if self.steps else EPOCH_SETTINGS
        return {"dataset": self.dataset, **{k: getattr(self, k) for k in settings}, **self.extra}

    def fit(self, model: AutoregressiveModel, train_data: train.Data, valid_data: train.Data, *, checkpoint: Path,
            seed: int) -> train.History:
        """Train ``model`` with this epoch-based recipe (see :func:`arlib.train.fit`)."""
        return train.fit(model, train_data, valid_data, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                         weight_decay=self.weight_decay, patience=self.patience,
                         decay_epochs=min(self.decay_epochs, self.epochs), min_lr=self.min_lr, checkpoint=checkpoint,
                         seed=seed)

    def fit_steps(self, model: AutoregressiveModel, batch: Callable[[torch.Generator], train.Data],
                  loss: Callable[..., torch.Tensor], *, evaluate: Callable[[AutoregressiveModel], float],
                  checkpoint: Path, seed: int, device: str) -> train.StepHistory:
        """Train ``model`` with this step-based recipe (see :func:`arlib.train.fit_steps`)."""
        return train.fit_steps(model, batch, loss, steps=self.iters, lr=self.lr, min_lr=self.min_lr,
                               warmup=self.warmup, weight_decay=self.weight_decay, betas=self.betas,
                               grad_clip=self.grad_clip, evaluate=evaluate, eval_every=self.eval_every,
                               keep_best=self.keep_best, checkpoint=checkpoint, seed=seed, device=device)


def arguments(doc: str, length: str, *, threads: int = 2) -> argparse.ArgumentParser:
    """The options every training script takes: ``--epochs`` or ``--iters`` (``length``) to override the
    recipe's, ``--threads``, ``--seed``, ``--checkpoints``, and for step-based scripts ``--device``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = {"epochs": "maximum epochs", "iters": "optimizer steps"}[length]
    parser.add_argument(f"--{length}", type=int, help=f"{what} (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=threads)
    parser.add_argument("--seed", type=int, default=0)
    if length == "iters":
        parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "data" / "checkpoints",
                        help="where the resumable checkpoints go (default: data/checkpoints)")
    return parser


def command(script: str, argv: list[str] | None) -> str:
    """The command line a sidecar records: ``python scripts/<script> <arguments>`` (``sys.argv``'s by default)."""
    return shlex.join(["python", f"scripts/{Path(script).name}", *(sys.argv[1:] if argv is None else argv)])


def load_splits(dataset: str) -> dict[str, train.Data]:
    """The train, valid and test splits of a dataset of :mod:`arlib.data`."""
    return {split: data.load(dataset, split) for split in SPLITS}


def nll_metrics(model: AutoregressiveModel, splits: Mapping[str, train.Data], batch_size: int = 1000) -> dict:
    """``<split>_nll`` (nats per example) and ``<split>_bits_per_dim`` of every split, in order."""
    metrics = {}
    for split, x in splits.items():
        result = train.evaluate(model, x, batch_size)
        metrics[f"{split}_nll"], metrics[f"{split}_bits_per_dim"] = result.nll, result.bits_per_dim
    return metrics
