"""The nbval-tolerance tag: numbers may move within the tolerance, words and untagged cells may not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

from tests.nbval_tolerance import close

ROOT = Path(__file__).resolve().parent.parent


def _cell(code: str, recorded: str, tags: list[str]) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(code, metadata={"tags": tags}, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=recorded)]
    return cell


def test_tolerance_is_relative_or_absolute():
    assert close(41.15, 41.1) and close(0.0854, 0.0861) and close(1000.0, 1015.0)
    assert not close(41.15, 42.2) and not close(0.05, 0.06)


def test_tagged_cells_compare_numbers_with_a_tolerance(tmp_path):
    cells = {
        "moved_within": _cell('print("losses [41.15, 39.83]; ensemble 35.56 nats")',
                              "losses [41.1, 39.8]; ensemble 35.66 nats\n", ["nbval-tolerance"]),
        "moved_too_far": _cell('print("ensemble 37.9 nats")', "ensemble 35.66 nats\n", ["nbval-tolerance"]),
        "other_words": _cell('print("ensemble 35.66 bits")', "ensemble 35.66 nats\n", ["nbval-tolerance"]),
        "extra_number": _cell('print("ensemble 35.66 nats, 2 runs")', "ensemble 35.66 nats\n", ["nbval-tolerance"]),
        "untagged": _cell('print("ensemble 35.56 nats")', "ensemble 35.66 nats\n", []),
    }
    for name, cell in cells.items():
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / f"{name}.ipynb")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.nbval_tolerance",
               "--nbval", "-o", "addopts=", "--rootdir", str(tmp_path), str(tmp_path)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    failed = {line.split("FAILED ")[1].split(".ipynb")[0].rsplit("/", 1)[-1]
              for line in result.stdout.splitlines() if line.startswith("FAILED ")}
    assert failed == {"moved_too_far", "other_words", "extra_number", "untagged"}, result.stdout[-3000:]
    assert "recorded 35.66, measured 37.9" in result.stdout
