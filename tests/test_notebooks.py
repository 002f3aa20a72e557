"""Chapter notebooks: their form (Colab cell, parameters, executed) and a papermill run of the GPU path at tiny sizes.

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

# The GPU path of every chapter (QUICK = False: train from scratch, numbers from this run), run on the CPU at tiny
# sizes, with the glued metrics a run must record (with a check of each value). The default CPU path is executed
# in full by nbval, which compares every output with the committed notebook: together each chapter runs twice.
GPU_RUNS = {
    "01_mnist_motivation": (
        {"EPOCHS": 1, "N_SHOW": 10},
        {"bernoulli_test_nll": lambda v: v == pytest.approx(  # the closed form, fitted on this page
            pretrained.info("bernoulli-binarized-mnist")["metrics"]["test_nll"], abs=0.01)},
    ),
    "02_maximum_likelihood": (
        {"STEPS": 20, "SWEEP_STEPS": 10, "N_TRAIN": 300},
        {},
    ),
    "03_fvsbn": (
        {"EPOCHS": 1, "DEMO_TRAIN": 300, "DEMO_EPOCHS": 1, "N_CHECK": 10, "N_SHOW": 10},
        {"fvsbn_test_nll": lambda v: 0 < v < 784 * math.log(2)},
    ),
    "04_nade": (
        {"EPOCHS": 1, "TRAIN_IMAGES": 200, "N_TIMING": 5, "N_SHOW": 10, "N_ANIMATE": 2, "SMALL_TRAIN": 500,
         "SMALL_EPOCHS": 1, "DEEP_EPOCHS": 1, "N_ORDER_TEST": 20},
        {"nade_test_nll": lambda v: 0 < v < 784 * math.log(2),
         "tied_params": lambda v: v == 785284, "untied_params": lambda v: v == 154252784},
    ),
    "05_rnade": (
        {"EPOCHS": 1, "N_SAMPLES": 10, "GRID": 60, "N_PAIRS": 200, "N_PIXEL_TRAIN": 1000, "STEPS": 30},
        {"rnade_test_nll": math.isfinite},
    ),
    "06_made": (
        {"EPOCHS": 1, "AE_STEPS": 50, "DEMO_TRAIN": 1000, "DEMO_EPOCHS": 1, "N_SAMPLES": 10},
        {"made_test_nll": lambda v: 0 < v < 784 * math.log(2),
         "masked_sum": lambda v: v == pytest.approx(1.0, abs=1e-3),
         "ensemble_gain": lambda v: v >= 0},
    ),
    "07_rnn": (
        {"STEPS": 20, "HELLO_STEPS": 100, "LIVE_STEPS": 20, "VALID_BLOCKS": 20, "SAMPLE_CHARS": 50, "N_NAMES": 5},
        {"names_test_measured": lambda v: 0 < v < 2 * math.log(27),
         "hello_prob": lambda v: v > 0.5},
    ),
    "08_pixelcnn": (
        {"EPOCHS": 1, "TRAIN_IMAGES": 64, "VALID_IMAGES": 64, "GPU_CHANNELS": 8, "GPU_LAYERS": 2, "COND_HIDDEN": 8,
         "COND_LAYERS": 2, "N_TEST": 50, "N_SAMPLES": 2, "N_COMPLETE": 2, "COMPLETIONS": 1, "N_COND_TEST": 20,
         "N_PER_CLASS": 1, "N_ANOMALY": 30, "STANDIN_STEPS": 5, "TIMING_BATCH": 8},
        {"blind_pixels_4_layers": lambda v: v == 6,  # one epoch on 64 digits may still be worse than uniform
         "pixelcnn_test_nll": lambda v: 0 < v < math.inf,
         "gated_test_nll": lambda v: 0 < v < math.inf,
         "pixelrnn_test_nll": lambda v: 0 < v < math.inf,
         "n_test": lambda v: v == 50},
    ),
    "09_wavenet": (
        {"TRAIN_STEPS": 5, "TEST_CLIPS": 3, "GENERATE_SECONDS": 0.05, "N_GENERATED": 1, "TIMING_LENGTHS": [32, 64]},
        {"wavenet_test_bits": lambda v: 0 < v < 8,
         "bigram_test_bits": lambda v: 0 < v < 8,
         "receptive_field": lambda v: v == 511,
         "rf_dilated": lambda v: v == 16, "rf_plain": lambda v: v == 5,
         "cache_identical": lambda v: v == 1,
         "mulaw_snr_db": lambda v: v > 30},
    ),
    "10_transformers": (
        {"STEPS": 10, "VALID_BLOCKS": 20, "SAMPLE_CHARS": 50, "TEMPERATURES": [1.0], "TIMING_LENGTHS": [16, 32],
         "PIXEL_STEPS": 5, "PIXEL_TEST": 50, "N_PIXEL_SAMPLES": 4},
        {"gpt_valid_measured": lambda v: 0 < v < math.log(65) + 1,
         "pixel_test_nll": lambda v: v < 784 * math.log(2)},
    ),
}


def _tools():
    spec = importlib.util.spec_from_file_location("notebook_tools", ROOT / "tools" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_chapter_is_listed_for_a_gpu_path_run():
    assert {p.stem for p in CHAPTERS} == set(GPU_RUNS)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_colab_cell_parameters_and_outputs(path):
    assert _tools().problems(path) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_gpu_path_runs_on_the_cpu_at_tiny_sizes(path, tmp_path, monkeypatch):
    """QUICK = False (what a Colab GPU runs) completes, records its metrics, and checkpoints what it trains."""
    sizes, checks = GPU_RUNS[path.stem]
    parameters = {"QUICK": False, **sizes}
    if "CHECKPOINTS = " in nbformat.read(path, as_version=4).cells[1].source:
        parameters["CHECKPOINTS"] = str(tmp_path / "checkpoints")
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
    if "CHECKPOINTS" in parameters:  # every training run of the GPU path left a checkpoint to resume from
        assert list((tmp_path / "checkpoints").glob("*.pt")), "the GPU path wrote no checkpoint"


def test_colab_cell_installs_only_inside_colab_and_keeps_torch():
    tools = _tools()
    source = tools.colab_cell_source()
    assert 'if "google.colab" in sys.modules:' in source
    assert tools.repository_url() in source
    assert "torch" not in source.split("\n", 2)[2]  # never reinstalls torch (the comment line aside)
    namespace: dict = {}
    exec(compile(source, "colab-cell", "exec"), namespace)  # outside Colab: does nothing, installs nothing
    assert "/content" not in str(namespace["sys"].path[0])
