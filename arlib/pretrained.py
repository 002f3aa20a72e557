"""Shipped weights: ``data/pretrained/<name>.pt`` plus a JSON sidecar ``<name>.json``.

The sidecar records everything needed to trust and rebuild the model: its class and constructor
arguments, the metrics measured on the test split, the exact command that trained it, the training
time and the machine. ``load(name)`` rebuilds the model and checks the weights' sha256. This module only
stores and loads; :mod:`arlib.evaluation` measures, retrains and publishes shipped models.
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

__all__ = ["available", "directory", "info", "load", "save", "set_metrics"]


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

    ``metrics`` must be measured on the weights as stored: :func:`arlib.evaluation.publish` saves, measures
    ``load(name)`` and records the metrics with :func:`set_metrics`.
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


def set_metrics(name: str, metrics: dict[str, float]) -> None:
    """Record ``metrics`` (measured on the stored weights) in the sidecar of a saved model."""
    meta = info(name)
    meta["metrics"] = metrics
    (directory() / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
