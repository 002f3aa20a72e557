"""A chapter's set-up cell run as Colab runs it, offline.

Colab has ``google.colab`` loaded and torch (a CUDA build) already installed. The simulation: a fresh virtual
environment that sees this environment's packages (torch among them) through a ``.pth`` file but not arlib,
a stand-in ``google.colab`` module, and the cell's repository and checkout pointed at a local clone of this
repository by the two environment variables only tests set. pip may not reach an index
(``PIP_NO_INDEX``), so every dependency must already be there, as it is in Colab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "chapters" / "01_mnist_motivation.ipynb"

DRIVER = r"""
import json, subprocess, sys
calls = []
run = subprocess.run
def recorded(args, *rest, **options):
    calls.append([str(a) for a in args])
    return run(args, *rest, **options)
subprocess.run = recorded

import google.colab  # the stand-in: Colab has this module loaded before any cell runs
import torch
torch_before = {"version": torch.__version__, "file": torch.__file__}
cells = [c for c in json.load(open(sys.argv[1]))["cells"] if c["cell_type"] == "code"]
namespace = {}
exec("".join(cells[0]["source"]), namespace)
first_run = list(calls)
exec("".join(cells[0]["source"]), namespace)  # run again: must do nothing
second_run = calls[len(first_run):]
for cell in cells[1:3]:  # the parameters cell, then the first cell that uses arlib and loads data
    exec("".join(cell["source"]), namespace)
import arlib
print(json.dumps({"first_run": first_run, "second_run": second_run, "arlib": arlib.__file__,
                  "torch_before": torch_before, "torch_after": {"version": torch.__version__, "file": torch.__file__},
                  "x_train": list(namespace["x_train"].shape)}))
"""


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """A fresh venv holding torch (and the rest of Colab's stack) but not arlib, and a stand-in google.colab."""
    root = tmp_path_factory.mktemp("colab")
    venv = root / "venv"
    # without its own pip and setuptools: Colab's (here, this environment's) are the ones on the path
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "colab_preinstalled.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    stub = root / "stub" / "google" / "colab"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('"""Stand-in for Colab\'s google.colab module."""\n')
    return {"root": root, "python": python, "stub": root / "stub", "checkout": root / "content" / "book"}


def run_cell(colab) -> dict:
    env = {**os.environ, "PYTHONPATH": str(colab["stub"]), "ARLIB_COLAB_REPOSITORY": f"file://{ROOT}",
           "ARLIB_COLAB_CHECKOUT": str(colab["checkout"]), "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "TQDM_DISABLE": "1"}
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run([str(colab["python"]), "-c", DRIVER, str(CHAPTER)], env=env, capture_output=True,
                            text=True, timeout=600, cwd=colab["root"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_fresh_environment_has_torch_but_not_arlib(colab):
    code = "import importlib.util as u; print(u.find_spec('torch') is not None, u.find_spec('arlib') is None)"
    found = subprocess.run([str(colab["python"]), "-c", code], capture_output=True, text=True, check=True,
                           cwd=colab["root"]).stdout
    assert found.split() == ["True", "True"]


def test_colab_cell_clones_installs_once_keeps_torch_and_the_chapter_runs(colab):
    first = run_cell(colab)
    clone, install = first["first_run"]
    assert clone[:4] == ["git", "clone", "--depth", "1"] and clone[-1] == str(colab["checkout"])
    assert install[1:5] == ["-m", "pip", "install", "--quiet"] and install[-1] == str(colab["checkout"])
    assert first["second_run"] == []  # a second run of the cell in the same session is a no-op
    assert Path(first["arlib"]).resolve().is_relative_to(colab["checkout"].resolve())  # arlib from the clone
    assert first["torch_after"] == first["torch_before"]
    assert first["torch_before"]["file"].startswith(sysconfig.get_paths()["purelib"])  # Colab's own torch, kept
    assert first["x_train"] == [50000, 784]
    again = run_cell(colab)  # a new session on the same machine (a runtime restart): nothing is fetched again
    assert again["first_run"] == [] and again["second_run"] == []
    assert Path(again["arlib"]).resolve().is_relative_to(colab["checkout"].resolve())
