"""Assignment source notebooks: solution regions, hidden tests, parameters, and the notebooks made from them.

A source notebook (a jupytext percent ``.py`` file or an ``.ipynb``) holds the whole assignment:

- one code cell tagged ``parameters`` (papermill's convention); the values the grader injects after it are
  in the notebook metadata ``arlib.grade_parameters`` (small sizes and a seed: fast, deterministic grading);
- solution regions, in code or markdown cells, between the lines ``### BEGIN SOLUTION`` and
  ``### END SOLUTION``; the released notebook replaces each region by a stub with the region's indentation
  (``raise NotImplementedError`` in code, ``YOUR ANSWER HERE`` in markdown);
- hidden tests: code cells tagged ``hidden-test`` with the metadata ``points`` (default 1) and ``test`` (a
  name; default ``test_<n>``). They never reach students. They run in the grader's own process, where bare
  names are the instructor's reference solution and ``student.<name>`` is the submission's object, called
  in a sandboxed process (see :mod:`grader.worker`).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HIDDEN_TAG = "hidden-test"
PARAMETERS_TAG = "parameters"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError")
MARKDOWN_STUB = ("YOUR ANSWER HERE",)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class AssignmentError(ValueError):
    """The assignment source is malformed (unbalanced solution markers, no parameters cell, ...)."""


@dataclass(frozen=True)
class HiddenTest:
    name: str
    points: float
    source: str


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_hidden_test(cell) -> bool:
    return HIDDEN_TAG in _tags(cell)


def strip_solutions(source: str, stub: tuple[str, ...]) -> str:
    """Every BEGIN/END SOLUTION region (markers included) replaced by ``stub``, indented like the BEGIN line."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        text = line.strip()
        if text == BEGIN:
            if inside:
                raise AssignmentError(f"line {number}: {BEGIN} inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in stub)
        elif text == END:
            if not inside:
                raise AssignmentError(f"line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AssignmentError(f"{BEGIN} without {END}")
    return "\n".join(out)


def drop_markers(source: str) -> str:
    """The solution with the marker lines removed (what the published solution notebook shows)."""
    return "\n".join(line for line in source.split("\n") if line.strip() not in (BEGIN, END))


def parameter_code(parameters: dict) -> str:
    """Python assignments for the injected parameters (like papermill's ``injected-parameters`` cell)."""
    lines = ["# Parameters injected by the grader"]
    for key, value in parameters.items():
        if not NAME.match(key):
            raise AssignmentError(f"parameter name {key!r} is not a Python identifier")
        lines.append(f"{key} = {value!r}")
    return "\n".join(lines)


def with_parameters(cells: list[str], parameter_index: int | None, parameters: dict) -> list[str]:
    """Code cell sources with the injected parameters placed after the parameters cell (at the top if none)."""
    if not parameters:
        return list(cells)
    position = 0 if parameter_index is None else parameter_index + 1
    return [*cells[:position], parameter_code(parameters), *cells[position:]]


def clean_cell(cell) -> None:
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    for key in ("execution", "papermill", "collapsed", "scrolled"):
        cell.metadata.pop(key, None)


class Assignment:
    """One assignment, parsed from its source notebook."""

    def __init__(self, notebook, name: str, path: Path | None = None) -> None:
        self.name = name
        self.path = path
        self.notebook = notebook
        notebook.nbformat, notebook.nbformat_minor = 4, max(5, notebook.get("nbformat_minor", 5))
        for index, cell in enumerate(notebook.cells):  # stable ids: release -> fill in -> grade can match cells
            cell["id"] = f"cell-{index}"
            clean_cell(cell)
        meta = notebook.metadata.get("arlib", {})
        self.parameters: dict = dict(meta.get("grade_parameters", {}) or {})
        self.tests: list[HiddenTest] = []
        parameter_cells = [c for c in notebook.cells if c.cell_type == "code" and PARAMETERS_TAG in _tags(c)]
        if len(parameter_cells) != 1:
            raise AssignmentError(f"{name}: needs exactly one code cell tagged 'parameters', "
                                  f"found {len(parameter_cells)}")
        for cell in notebook.cells:
            stub = CODE_STUB if cell.cell_type == "code" else MARKDOWN_STUB
            strip_solutions(cell.source, stub)  # raises on unbalanced markers
            if cell.cell_type == "code" and is_hidden_test(cell):
                test_name = str(cell.metadata.get("test", f"test_{len(self.tests) + 1}"))
                points = cell.metadata.get("points", 1)
                if not isinstance(points, int | float) or points < 0:
                    raise AssignmentError(f"{name}: test {test_name!r} has invalid points {points!r}")
                if BEGIN in cell.source:
                    raise AssignmentError(f"{name}: hidden test {test_name!r} holds a solution region")
                self.tests.append(HiddenTest(test_name, float(points), cell.source))
        names = [t.name for t in self.tests]
        if not self.tests:
            raise AssignmentError(f"{name}: no cell tagged {HIDDEN_TAG!r}")
        if len(set(names)) != len(names):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            raise AssignmentError(f"{name}: duplicate hidden test names {duplicates}")
        if not any(BEGIN in c.source for c in notebook.cells):
            raise AssignmentError(f"{name}: no solution region ({BEGIN} ... {END})")

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, path: str | Path) -> Assignment:
        path = Path(path)
        if path.suffix == ".py":
            import jupytext

            notebook = jupytext.read(path)
        else:
            notebook = nbformat.read(path, as_version=4)
        name = notebook.metadata.get("arlib", {}).get("assignment") or path.stem
        return cls(notebook, str(name), path)

    @classmethod
    def from_json(cls, text: str) -> Assignment:
        data = json.loads(text)
        return cls(nbformat.reads(data["notebook"], as_version=4), data["name"])

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "notebook": nbformat.writes(self.notebook)})

    # ------------------------------------------------------------------ facts
    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tests)

    def reference_cells(self, parameters: dict | None = None) -> list[str]:
        """The source's code cells (solutions in, hidden tests out), parameters injected: the reference."""
        cells = [c for c in self.notebook.cells if c.cell_type == "code" and not is_hidden_test(c)]
        index = next(i for i, c in enumerate(cells) if PARAMETERS_TAG in _tags(c))
        return with_parameters([c.source for c in cells], index, self.parameters if parameters is None else parameters)

    # ------------------------------------------------------------------ notebooks for people
    def _public(self, solutions: bool):
        notebook = copy.deepcopy(self.notebook)
        notebook.cells = [c for c in notebook.cells if not is_hidden_test(c)]
        for cell in notebook.cells:
            cell.metadata.pop("lines_to_next_cell", None)  # jupytext's layout hint
            if solutions:
                cell.source = drop_markers(cell.source)
            else:
                cell.source = strip_solutions(cell.source, CODE_STUB if cell.cell_type == "code" else MARKDOWN_STUB)
        notebook.metadata = {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "arlib": {"assignment": self.name},
        }
        notebook.nbformat, notebook.nbformat_minor = 4, 5
        nbformat.validate(notebook)
        return notebook

    def released(self):
        """The student notebook: stubs instead of solutions, no hidden tests, no outputs."""
        return self._public(solutions=False)

    def solution(self):
        """The solution notebook: solutions in (markers removed), no hidden tests."""
        return self._public(solutions=True)


def assignments_dir() -> Path:
    """The assignments shipped with the book: ``./assignments`` if present, else beside the grader package."""
    here = Path.cwd() / "assignments"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "assignments"


def find(assignment: str | Path) -> Path:
    """A source notebook from a path, or from a name in the assignments directory."""
    path = Path(assignment)
    if path.is_file():
        return path
    root = assignments_dir()
    candidates = (root / f"{assignment}.py", root / f"{assignment}.ipynb", root / str(assignment) / f"{assignment}.py")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = ", ".join(sorted(p.stem for p in available())) or "none"
    raise FileNotFoundError(f"no assignment {str(assignment)!r} (a source file, or one of: {known})")


def available() -> list[Path]:
    root = assignments_dir()
    return sorted(p for p in root.glob("*.py") if p.is_file()) if root.is_dir() else []


def load(assignment: str | Path) -> Assignment:
    return Assignment.load(find(assignment))
