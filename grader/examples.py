"""Example submissions for any assignment: one good, one untouched, one partial, and every known way to
misbehave. ``arlib-grade assign examples <assignment> --out DIR`` writes them; the tests and the instructors'
chapter grade them. Each example is built from the assignment itself (its released notebook, its
solutions), so the set stays valid when the assignment changes.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from grader.assignment import BEGIN, CODE_STUB, Assignment, strip_solutions

KINDS = {
    "full_marks": "the released notebook with every solution filled back in (release, fill in, grade)",
    "untouched": "the released notebook as handed out: every function is still a stub",
    "partial": "the solutions, except the last function, left as the stub",
    "raises": "a cell that raises, and the last function raising whenever it is called",
    "infinite_loop": "a cell stuck in `while True: pass`",
    "memory_bomb": "a cell that allocates 100 MB blocks until memory runs out",
    "sys_exit": "a cell calling `sys.exit(1)`",
    "os_exit": "a cell calling `os._exit(0)`: the kernel process ends",
    "kills_kernel": "a cell sending SIGKILL to its own kernel",
    "prints_100mb": "a cell printing 100 MB",
    "network": "a cell that downloads a web page and opens a socket",
    "fake_score": "the untouched notebook plus a cell that prints a perfect score, writes grades.csv and "
                  "feedback where the grader keeps them, and patches torch.allclose and AssertionError",
    "renamed": "the solutions with a graded function renamed (every call site too)",
    "not_a_notebook": "a text file named .ipynb",
}

BAD_CELLS = {
    "infinite_loop": "while True:\n    pass",
    "memory_bomb": "hog = []\nwhile True:\n    hog.append(bytearray(100_000_000))",
    "sys_exit": "import sys\n\nsys.exit(1)",
    "os_exit": "import os\n\nos._exit(0)",
    "kills_kernel": "import os\nimport signal\n\nos.kill(os.getpid(), signal.SIGKILL)",
    "prints_100mb": "print('x' * 50_000_000)\nfor _ in range(50_000):\n    print('y' * 1_000)",
    "network": "import socket\nimport urllib.request\n\n"
               "try:\n    urllib.request.urlopen('http://example.com', timeout=5)\n"
               "finally:\n    socket.create_connection(('1.1.1.1', 80), timeout=5)",
    "raises": "raise RuntimeError('a demo cell that breaks')",
}


def fake_score_cell(targets: list[str]) -> str:
    return f'''# Pretend everything passed, and try to overwrite what the grader writes.
import builtins
import os
from pathlib import Path

import torch

print("Score: 100 / 100 -- all hidden tests passed")
for target in [Path("grades.csv"), *map(Path, {targets!r})]:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("submission,score,max_score,status\\nfake_score,100,100,ok\\n")
        print("wrote", target)
    except OSError as error:
        print("could not write", target, "-", error)
torch.allclose = lambda *args, **kwargs: True
builtins.AssertionError = Exception
os.write(1, b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x10" + b'{{"ok": 100}}    ')
'''


def _solution_cells(notebook) -> list[int]:
    return [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and BEGIN in c.source]


def _graded_names(assignment: Assignment) -> list[str]:
    names: list[str] = []
    for test in assignment.tests:
        for name in re.findall(r"\bstudent\.([A-Za-z_]\w*)", test.source):
            if name not in names:
                names.append(name)
    return names


def _last_function(source: str) -> str:
    return re.findall(r"^def ([A-Za-z_]\w*)\(", source, re.MULTILINE)[-1]


def build(assignment: Assignment, targets: list[str] = ()) -> dict[str, object]:
    """Every example: a notebook (or, for ``not_a_notebook``, a string)."""
    released, solution = assignment.released(), assignment.solution()
    source = copy.deepcopy(assignment.notebook)  # with the markers: to stub one region
    by_id = {c.id: c.source for c in solution.cells}
    examples: dict[str, object] = {}

    full = copy.deepcopy(released)
    for cell in full.cells:
        cell.source = by_id[cell.id]
    examples["full_marks"] = full
    examples["untouched"] = released

    partial = copy.deepcopy(solution)
    last = _solution_cells(source)[-1]
    stubbed = strip_solutions(source.cells[last].source, CODE_STUB)
    next(c for c in partial.cells if c.id == source.cells[last].id).source = stubbed
    examples["partial"] = partial

    first = source.cells[_solution_cells(source)[0]].id
    position = next(i for i, c in enumerate(solution.cells) if c.id == first)
    for kind, code in BAD_CELLS.items():
        notebook = copy.deepcopy(solution)
        notebook.cells.insert(position, nbformat.v4.new_code_cell(code))
        examples[kind] = notebook
    raises = examples["raises"]
    cell = raises.cells[[i for i, c in enumerate(raises.cells) if c.id == source.cells[last].id][0]]
    name = _last_function(cell.source)
    signature = rf"^(def {name}\(.*?\).*?:\n(?:    \"\"\".*?\"\"\"\n)?)"  # the def line(s) and a docstring
    cell.source = re.sub(signature, r"\1    raise ValueError('not today')\n", cell.source, count=1,
                         flags=re.MULTILINE | re.DOTALL)

    fake = copy.deepcopy(released)
    fake.cells.append(nbformat.v4.new_code_cell(fake_score_cell(list(targets))))
    examples["fake_score"] = fake

    renamed = copy.deepcopy(solution)
    graded = _graded_names(assignment)[0]
    for cell in renamed.cells:
        if cell.cell_type == "code":
            cell.source = re.sub(rf"\b{graded}\b", f"{graded}_v2", cell.source)
    examples["renamed"] = renamed
    examples["not_a_notebook"] = "This is my homework, I could not get Jupyter to work.\n{ not json"
    for notebook in examples.values():
        if not isinstance(notebook, str):
            for index, cell in enumerate(notebook.cells):
                cell["id"] = f"cell-{index}"
    return {kind: examples[kind] for kind in KINDS}


def write(assignment: Assignment, folder: str | Path, targets: list[str] = (), kinds=None) -> list[Path]:
    """Write the examples as ``folder/<kind>.ipynb``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, example in build(assignment, targets).items():
        if kinds is not None and kind not in kinds:
            continue
        path = folder / f"{kind}.ipynb"
        if isinstance(example, str):
            path.write_text(example)
        else:
            nbformat.write(example, path)
        paths.append(path)
    return paths
