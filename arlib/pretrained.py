"""Shipped weights: ``data/pretrained/<name>.pt`` plus a JSON sidecar ``<name>.json``.

The sidecar records everything needed to trust and rebuild the model: its class and constructor
arguments, the metrics measured on the test split, the exact command that trained it, the training
time and the machine. ``load(name)`` rebuilds the model and checks the weights' sha256.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import platform
from pathlib import Path

import torch

from arlib import models
from arlib.models.base import AutoregressiveModel

__all__ = ["available", "directory", "info", "load", "retrain", "save"]


def directory() -> Path:
    """``$ARLIB_PRETRAINED`` if set, else ``data/pretrained`` next to the arlib package (the book's checkout)."""
    if os.environ.get("ARLIB_PRETRAINED"):
        return Path(os.environ["ARLIB_PRETRAINED"]).expanduser()
    return Path(__file__).resolve().parent.parent / "data" / "pretrained"


def available() -> list[str]:
    """Names of the shipped models."""
    return sorted(p.stem for p in directory().glob("*.json"))


def info(name: str) -> dict:
    """The sidecar of a shipped model: class, config, metrics, command, training time."""
    path = directory() / f"{name}.json"
    if not path.exists():
        raise ValueError(f"no pretrained model {name!r} in {directory()}; available: {available()}")
    return json.loads(path.read_text())


def save(
    name: str,
    model: AutoregressiveModel,
    metrics: dict[str, float],
    command: str,
    *,
    train_seconds: float | None = None,
    dataset: str | None = None,
    half: bool = False,
    extra: dict | None = None,
) -> Path:
    """Write ``<name>.pt`` and ``<name>.json``. With ``half``, floating weights are stored as fp16.

    ``metrics`` must be measured on the weights as stored: with ``half=True``, evaluate
    ``load(name)`` after saving and call ``save`` again, or round the model first.
    """
    state = {k: (v.half() if half and v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    folder = directory()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.pt").write_bytes(payload)
    sidecar = {
        "name": name,
        "class": type(model).__name__,
        "config": model.config,
        "metrics": metrics,
        "command": command,
        "dataset": dataset,
        "train_seconds": train_seconds,
        "n_parameters": model.n_parameters(),
        "weights_sha256": hashlib.sha256(payload).hexdigest(),
        "weights_dtype": "float16" if half else "float32",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "created": datetime.date.today().isoformat(),
        **(extra or {}),
    }
    (folder / f"{name}.json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return folder / f"{name}.pt"


def load(name: str, device: torch.device | str | None = None) -> AutoregressiveModel:
    """Rebuild a shipped model from its sidecar, load its weights (as float32) and put it in eval mode."""
    meta = info(name)
    payload = (directory() / f"{name}.pt").read_bytes()
    if hashlib.sha256(payload).hexdigest() != meta["weights_sha256"]:
        raise ValueError(f"{name}.pt does not match the sha256 in {name}.json; the file is damaged")
    model = getattr(models, meta["class"])(**meta["config"])
    state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    reference = model.state_dict()
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()})
    return model.to(device or "cpu").eval()


def retrain(name: str, batch, loss, *, evaluate=None, seed: int = 0, steps: int | None = None,
            checkpoint: str | Path | None = None, device: torch.device | str | None = None) -> AutoregressiveModel:
    """A fresh model of a shipped model's architecture, trained with the step recipe in its sidecar.

    For the models of ``scripts/train_sequence.py``: ``batch``, ``loss`` and ``evaluate`` are as in
    :func:`arlib.train.fit_steps`; the recipe gives the steps, learning-rate schedule, weight decay, Adam
    betas, clipping, evaluation interval and early stopping (which needs ``evaluate``). ``steps`` shortens
    the run (the schedule is laid over the shorter run); ``checkpoint`` makes it resumable.
    """
    from arlib import train

    meta = info(name)
    recipe = meta["recipe"]
    torch.manual_seed(seed)
    model = getattr(models, meta["class"])(**meta["config"])
    warmup, eval_every = recipe["warmup"], recipe.get("eval_every", 250)
    if steps is None:
        steps = recipe["iters"]
    else:  # a shortened run keeps the schedule's proportions
        warmup, eval_every = round(warmup * steps / recipe["iters"]), min(eval_every, steps)
    train.fit_steps(model, batch, loss, steps=steps, lr=recipe["lr"], min_lr=recipe["min_lr"], warmup=warmup,
                    weight_decay=recipe["weight_decay"], betas=tuple(recipe["betas"]), grad_clip=recipe["grad_clip"],
                    evaluate=evaluate, eval_every=eval_every, keep_best=recipe.get("keep_best", False),
                    checkpoint=checkpoint, seed=seed, device=device)
    return model


def headline_metric(name: str) -> str:
    """The sidecar metric that ranks a shipped model: ``test_nll`` (nats per example), or for text models
    ``valid_loss`` (Tiny Shakespeare, nats/char), ``test_loss`` (names, nats/char) or ``test_bits_per_sample``
    (spoken digits, μ-law codes)."""
    metrics = info(name)["metrics"]
    for key in ("test_nll", "test_loss", "valid_loss", "test_bits_per_sample"):
        if key in metrics:
            return key
    raise ValueError(f"{name}: its sidecar records none of test_nll, test_loss, valid_loss")


@torch.no_grad()
def measure(name: str, device: torch.device | str | None = None) -> float:
    """Re-measure ``headline_metric(name)`` from the stored weights, with the protocol the sidecar records."""
    from arlib import data, text, train
    from arlib.models.image import ImageModel
    from arlib.models.sequence import SequenceModel
    from arlib.models.wavenet import bits_per_sample, mu_law_encode

    meta, key = info(name), headline_metric(name)
    model = load(name, device)
    dataset = meta.get("dataset")
    if isinstance(model, ImageModel) and model.n_classes:  # labelled digits: NLL of x given its true label
        x, y = data.load(dataset, "test")
        return train.evaluate(model, (x.view(-1, *model.image_shape), y)).nll
    if isinstance(model, ImageModel):  # binarized MNIST digits as (1, 28, 28) images
        return train.evaluate(model, data.load(dataset, "test").view(-1, *model.image_shape)).nll
    if not isinstance(model, SequenceModel):
        return train.evaluate(model, data.load(dataset, "test")).nll
    if dataset == "binarized_mnist":
        x = data.load(dataset, "test").long()
        return -torch.cat([model.log_prob(b.to(model._device())) for b in x.split(100)]).double().mean().item()
    if dataset == "tinyshakespeare":
        _, valid_tokens, _ = text.shakespeare_split()
        return text.shakespeare_loss(model, valid_tokens, meta["recipe"]["block_size"], n_blocks=4000)["loss"]
    if dataset == "names":
        return text.names_loss(model, text.names_split()[1])
    if dataset == "fsdd":  # every test clip scored from its first sample, bits per μ-law code
        return bits_per_sample(model, [mu_law_encode(w, model.vocab_size) for w, _, _ in data.load("fsdd", "test")])
    raise ValueError(f"{name}: no evaluation protocol for dataset {dataset!r} (metric {key})")
