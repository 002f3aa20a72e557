"""Chapter notebooks: their form (Colab cell, parameters, executed) and a papermill run with small parameters.

nbval re-executes every committed chapter and compares its text outputs (``make test`` passes ``--nbval``).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import nbformat
import papermill
import pytest

from arlib import pretrained
from arlib.book import read_glued

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))

# Small settings per chapter, and the glued metrics a run must record (with a check of each value).
SMALL_RUNS = {
    "01_mnist_motivation": (
        {"EPOCHS": 1, "N_SHOW": 10},
        {"bernoulli_test_nll": lambda v: v == pytest.approx(
            pretrained.info("bernoulli-binarized-mnist")["metrics"]["test_nll"], abs=0.01)},
    ),
    "02_maximum_likelihood": (
        {"STEPS": 60, "N_TRAIN": 300},
        {},
    ),
}


def _tools():
    spec = importlib.util.spec_from_file_location("notebook_tools", ROOT / "tools" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_chapter_is_listed_for_a_small_run():
    assert {p.stem for p in CHAPTERS} == set(SMALL_RUNS)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_colab_cell_parameters_and_outputs(path):
    assert _tools().problems(path) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_papermill_runs_chapter_with_small_parameters(path, tmp_path, monkeypatch):
    parameters, checks = SMALL_RUNS[path.stem]
    monkeypatch.setenv("TQDM_DISABLE", "1")
    output = tmp_path / path.name
    papermill.execute_notebook(
        str(path), str(output), parameters=parameters, cwd=str(path.parent), kernel_name="python3",
        execution_timeout=300, progress_bar=False, log_output=False,
    )
    notebook = nbformat.read(output, as_version=4)
    injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and all(name in injected[0].source for name in parameters)
    glued = read_glued(notebook)
    assert glued, "the chapter records no metric with arlib.book.glue"
    for name, value in glued.items():
        try:
            number = float(value)
        except ValueError:
            continue
        assert math.isfinite(number) or name.endswith("_raw"), f"{name} = {value}"
    for name, check in checks.items():
        assert check(float(glued[name])), f"{name} = {glued[name]}"


def test_colab_cell_installs_only_inside_colab_and_keeps_torch():
    tools = _tools()
    source = tools.colab_cell_source()
    assert 'if "google.colab" in sys.modules:' in source
    assert tools.repository_url() in source
    assert "torch" not in source.split("\n", 2)[2]  # never reinstalls torch (the comment line aside)
    namespace: dict = {}
    exec(compile(source, "colab-cell", "exec"), namespace)  # outside Colab: does nothing, installs nothing
    assert "/content" not in str(namespace["sys"].path[0])
