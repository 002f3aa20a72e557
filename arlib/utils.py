"""Small shared utilities."""

from __future__ import annotations

import os

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs) -> tqdm:
    """A tqdm bar (a widget in Jupyter/Colab), off when ``enabled`` is False or TQDM_DISABLE=1 is set.

    The book's static pages are executed with TQDM_DISABLE=1: a frozen progress bar tells a reader nothing.
    """
    off = os.environ.get("TQDM_DISABLE", "").lower() in {"1", "true", "yes"}
    return tqdm(iterable, disable=off or not enabled, **kwargs)
