"""Shared helpers for the benchmark scripts: one results file, `benchmarks/results.json`, one section per script."""

from __future__ import annotations

import datetime
import json
import os
import platform
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
