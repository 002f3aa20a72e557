"""Measuring, retraining and publishing the shipped models of :mod:`arlib.pretrained`.

Each shipped model's sidecar names its dataset; the dataset fixes how the model is measured (the
``PROTOCOLS`` below): test NLL in nats per example for the digit data, nats per character for text, bits
per sample for audio. ``publish`` is the one way a training script ships a model: it stores the weights,
reloads them as stored (fp16), measures that model once and records the numbers in the sidecar.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from arlib import data, models, pretrained, text, train
from arlib.models.base import AutoregressiveModel
from arlib.models.sequence import SequenceModel
from arlib.models.wavenet import bits_per_sample, mu_law_encode

__all__ = ["PROTOCOLS", "headline_metric", "measure", "publish", "retrain"]

HEADLINE_METRICS = ("test_nll", "test_loss", "valid_loss", "test_bits_per_sample")


def headline_metric(name: str) -> str:
    """The sidecar metric that ranks a shipped model: ``test_nll`` (nats per example), or for text models
    ``valid_loss`` (Tiny Shakespeare, nats/char) or ``test_loss`` (names, nats/char), or for audio
    ``test_bits_per_sample`` (spoken digits, μ-law codes)."""
    metrics = pretrained.info(name)["metrics"]
    for key in HEADLINE_METRICS:
        if key in metrics:
            return key
    raise ValueError(f"{name}: its sidecar records none of {', '.join(HEADLINE_METRICS)}")


def _digits(model: AutoregressiveModel, meta: dict) -> float:
    """Test NLL (nats per digit) of binarized or thresholded MNIST, shaped as the model reads it."""
    x = data.load(meta["dataset"], "test")
    x, labels = (x, ()) if isinstance(x, torch.Tensor) else (x[0], (x[1],))
    x = x.long() if isinstance(model, SequenceModel) else x.view(-1, *model.event_shape)
    return train.evaluate(model, (x, *labels), batch_size=100).nll


def _shakespeare(model: AutoregressiveModel, meta: dict) -> float:
    _, valid_tokens, _ = text.shakespeare_split()
    return text.shakespeare_loss(model, valid_tokens, meta["recipe"]["block_size"], n_blocks=4000)["loss"]


# dataset -> protocol(model, sidecar) -> the headline metric
PROTOCOLS: dict[str, Callable[[AutoregressiveModel, dict], float]] = {
    "binarized_mnist": _digits,
    "thresholded_mnist": _digits,  # NLL of each digit given its true label
    "mnist8x8": lambda model, meta: train.evaluate(model, data.load("mnist8x8", "test")).nll,
    "tinyshakespeare": _shakespeare,  # the validation characters (the split has no test part)
    "names": lambda model, meta: text.names_loss(model, text.names_split()[1]),
    # every test clip scored from its first sample, bits per μ-law code
    "fsdd": lambda model, meta: bits_per_sample(
        model, [mu_law_encode(w, model.vocab_size) for w, _, _ in data.load("fsdd", "test")]),
}


@torch.no_grad()
def measure(name: str, device: torch.device | str | None = None) -> float:
    """Re-measure ``headline_metric(name)`` from the stored weights, by the protocol of the sidecar's dataset."""
    meta = pretrained.info(name)
    if meta.get("dataset") not in PROTOCOLS:
        raise ValueError(f"{name}: no evaluation protocol for dataset {meta.get('dataset')!r}; "
                         f"known: {sorted(PROTOCOLS)}")
    return PROTOCOLS[meta["dataset"]](pretrained.load(name, device), meta)


def publish(name: str, model: AutoregressiveModel, command: str,
            measure: Callable[[AutoregressiveModel], dict[str, float]], *, train_seconds: float | None = None,
            dataset: str | None = None, half: bool = True, extra: dict | None = None) -> dict[str, float]:
    """Ship ``model`` as ``name``: store the weights, reload them as stored, ``measure`` that model once and
    record the metrics (floats rounded to 4 decimals) in the sidecar; return them."""
    pretrained.save(name, model, {}, command, train_seconds=train_seconds, dataset=dataset, half=half, extra=extra)
    metrics = measure(pretrained.load(name))
    metrics = {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}
    pretrained.set_metrics(name, metrics)
    return metrics


def retrain(name: str, batch, loss, *, evaluate=None, seed: int = 0, steps: int | None = None,
            checkpoint: str | Path | None = None, device: torch.device | str | None = None) -> AutoregressiveModel:
    """A fresh model of a shipped model's architecture, trained with the step recipe in its sidecar.

    For the models of ``scripts/train_sequence.py``: ``batch``, ``loss`` and ``evaluate`` are as in
    :func:`arlib.train.fit_steps`; the recipe gives the steps, learning-rate schedule, weight decay, Adam
    betas, clipping, evaluation interval and early stopping (which needs ``evaluate``). ``steps`` shortens
    the run (the schedule is laid over the shorter run); ``checkpoint`` makes it resumable.
    """
    meta = pretrained.info(name)
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
