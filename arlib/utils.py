"""Small shared utilities."""

from __future__ import annotations

import os

import torch
from tqdm.auto import tqdm

__all__ = ["device", "progress_bar"]


def device() -> torch.device:
    """The best available device: CUDA if present, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs) -> tqdm:
    """A tqdm bar (a widget in Jupyter/Colab), off when ``enabled`` is False or TQDM_DISABLE=1 is set.

    The book's static pages are executed with TQDM_DISABLE=1: a frozen progress bar tells a reader nothing.
    """
    off = os.environ.get("TQDM_DISABLE", "").lower() in {"1", "true", "yes"}
    return tqdm(iterable, disable=off or not enabled, **kwargs)
