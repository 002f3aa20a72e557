"""Shared helpers for the benchmark scripts: one results file, `benchmarks/results.json`, one section per script."""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"


def machine() -> str:
    """A one-line description of the machine a number was measured on."""
    return f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"


def update_results(section: str, payload: dict) -> None:
    """Replace one section of the results file, keeping the others."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[section] = {"measured": datetime.date.today().isoformat(), "machine": machine(), **payload}
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """The fastest of ``repeats`` calls, in seconds (the least disturbed by other processes)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def training_seconds(model: torch.nn.Module, batches: torch.Tensor, loss: Callable[[torch.Tensor], torch.Tensor],
                     optimizer: Callable[..., torch.optim.Optimizer] = torch.optim.Adam, warmup: int = 10) -> float:
    """Seconds for full training steps (loss, backward, optimizer update) over ``batches[warmup:]``, after a
    warm-up on ``batches[:warmup]``; the optimizer is built as arlib.train builds it."""
    from arlib import train

    opt = train.make_optimizer(optimizer, model.parameters(), lr=1e-3)

    def step(x: torch.Tensor) -> None:
        value = loss(x)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()

    for x in batches[:warmup]:
        step(x)
    return best_time(lambda: [step(x) for x in batches[warmup:]], repeats=1)
