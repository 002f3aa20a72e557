"""Build, execute and check the book's chapter notebooks.

Chapters are authored as jupytext percent files ``chapters/NN_name.py``; readers and students open the
paired, executed ``chapters/NN_name.ipynb``. This tool is the one place that writes the Colab set-up
cell, so every chapter's first cell is identical:

    python tools/notebooks.py execute [chapters/01_x.py ...]   # .py -> executed .ipynb (all if none given)
    python tools/notebooks.py check                            # every .ipynb is in the expected form
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
CHECKOUT = "/content/autoregressive-models"


def repository_url() -> str:
    """The repository named once in _config.yml."""
    text = (ROOT / "_config.yml").read_text()
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, re.MULTILINE)
    if not match:
        raise SystemExit("_config.yml names no repository url")
    return match.group(1)


def colab_cell_source() -> str:
    return f'''# Colab set-up: inside Google Colab, fetch the book and install arlib
# (Colab's own CUDA torch is kept). Anywhere else this cell does nothing:
# install the book with `make book` instead (see README.md).
import os, subprocess, sys
if "google.colab" in sys.modules:
    REPOSITORY = os.environ.get(  # tests point these two at a local clone
        "ARLIB_COLAB_REPOSITORY",
        "{repository_url()}")
    CHECKOUT = os.environ.get("ARLIB_COLAB_CHECKOUT",
                              "{CHECKOUT}")
    if not os.path.isdir(CHECKOUT):  # a re-run of this cell skips it
        subprocess.run(["git", "clone", "--depth", "1", REPOSITORY, CHECKOUT],
                       check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                        "-e", CHECKOUT], check=True)
    sys.path.insert(0, CHECKOUT)'''


def colab_cell() -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(colab_cell_source(), metadata={"tags": ["colab-setup", "hide-cell"]})


NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
    "accelerator": "GPU",                      # Colab: ask for a GPU runtime
    "colab": {"provenance": [], "gpuType": "T4"},
}


def build(source: Path) -> nbformat.NotebookNode:
    """The chapter notebook for a jupytext source: Colab cell first, then the source's cells."""
    notebook = jupytext.read(source)
    notebook.cells = [colab_cell()] + [c for c in notebook.cells if "colab-setup" not in c.metadata.get("tags", [])]
    notebook.metadata = {**NOTEBOOK_METADATA}
    for cell in notebook.cells:  # readers see the parameters folded away; students see them in Colab
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags and "hide-cell" not in tags:
            cell.metadata["tags"] = [*tags, "hide-cell"]
    return notebook


def execute(source: Path, timeout: int = 900) -> Path:
    notebook = build(source)
    env_backup = dict(os.environ)
    os.environ["TQDM_DISABLE"] = "1"  # progress bars are for live sessions, not for the static page
    os.environ["ARLIB_STATIC_EXPLORERS"] = "1"  # committed explorers are the static ones (no dead widget views)
    try:
        start = time.perf_counter()
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(source.parent)}}).execute()
        print(f"{source.name}: executed in {time.perf_counter() - start:.1f} s")
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    for cell in notebook.cells:  # keep the committed file stable across runs
        cell.metadata.pop("execution", None)
    target = source.with_suffix(".ipynb")
    nbformat.write(notebook, target)
    return target


def problems(path: Path) -> list[str]:
    """What is wrong with one committed chapter notebook (empty when it is in order)."""
    notebook = nbformat.read(path, as_version=4)
    found = []
    code = [c for c in notebook.cells if c.cell_type == "code"]
    if not code or code[0].source != colab_cell_source():
        found.append("first cell is not the generated Colab set-up cell (run tools/notebooks.py execute)")
    if len(code) < 2 or "parameters" not in code[1].metadata.get("tags", []):
        found.append("second code cell is not tagged 'parameters'")
    elif "QUICK" not in code[1].source or "cuda" not in code[1].source:
        found.append("the parameters cell does not switch QUICK off when a GPU is present")
    if notebook.metadata.get("accelerator") != "GPU":
        found.append("notebook metadata does not ask Colab for a GPU")
    if any(c.execution_count is None and c.source.strip() for c in code):
        found.append("has unexecuted code cells")
    if any(o.get("output_type") == "error" for c in code for o in c.outputs):
        found.append("holds an error output")
    source = path.with_suffix(".py")
    if source.exists():
        built = build(source)
        if [c.source for c in built.cells] != [c.source for c in notebook.cells]:
            found.append(f"is out of date with {source.name} (run tools/notebooks.py execute)")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["execute", "check"])
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    if args.command == "execute":
        for source in args.files or sorted(CHAPTERS.glob("[0-9][0-9]_*.py")):
            execute(source.resolve().with_suffix(".py"))
        return 0
    failed = False
    for path in args.files or sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb")):
        for problem in problems(path):
            print(f"{path.name}: {problem}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
