"""The grader's command line: the ``arlib-grade`` console script (also ``python -m grader``).

    arlib-grade assign list
    arlib-grade assign release <assignment> --out DIR      # the student notebook: stubs, no hidden tests
    arlib-grade assign solution <assignment> --out DIR     # the solution notebook, for after the deadline
    arlib-grade assign examples <assignment> --out DIR     # example submissions, good and misbehaving
    arlib-grade grade <assignment> <submission.ipynb or folder>... --out DIR [--workers N] [--timeout S]
                      [--notebook-timeout S] [--memory-mb M] [-p NAME VALUE]

``<assignment>`` is a name from the book's ``assignments/`` folder or the path of a source notebook.
``arlib-grade grade`` exits 0 when every submission got its row (however badly it did), 1 when the grader
itself failed on some submission, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

import nbformat

import grader
from grader import examples, sandbox


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _write(notebook, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}.ipynb"
    nbformat.write(notebook, target)
    return target


def assign(args) -> int:
    if args.action == "list":
        for path in grader.available():
            assignment = grader.Assignment.load(path)
            print(f"{assignment.name:20s} {len(assignment.tests)} hidden tests, {assignment.max_score:g} points  "
                  f"({path})")
        return 0
    assignment = grader.load(args.assignment)
    if args.action == "examples":
        for path in examples.write(assignment, Path(args.out), targets=args.target):
            print(f"wrote {path}")
        return 0
    notebook = assignment.released() if args.action == "release" else assignment.solution()
    suffix = "" if args.action == "release" else "_solution"
    target = _write(notebook, Path(args.out), assignment.name + suffix)
    print(f"wrote {target}")
    return 0


def grade(args) -> int:
    sandbox.set_not_dumpable()  # submissions (same user) cannot open this process's pipes via /proc
    assignment = grader.load(args.assignment)
    options = grader.Options(workers=args.workers, cell_timeout=args.timeout, notebook_timeout=args.notebook_timeout,
                             memory_mb=args.memory_mb, parameters={k: _value(v) for k, v in args.parameter},
                             progress=not args.no_progress)
    print(f"assignment {assignment.name}: {len(assignment.tests)} hidden tests, {assignment.max_score:g} points; "
          f"sandbox: {sandbox.describe()}", file=sys.stderr)
    started = time.perf_counter()
    results = grader.grade(assignment, args.submissions, args.out, options)
    seconds = time.perf_counter() - started
    out = Path(args.out)
    width = max(len(r["name"]) for r in results)
    for r in results:
        print(f"{r['name']:{width}s}  {r['score']:5g} / {r['max_score']:g}  {r['status']}")
    print(f"graded {len(results)} submissions in {seconds:.1f} s with {options.workers} worker(s) -> "
          f"{out / 'grades.csv'}, {out / 'feedback'}/", file=sys.stderr)
    return 1 if any(r["status"].startswith("grader error") for r in results) else 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="arlib-grade", description=__doc__.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main.add_subparsers(dest="command", required=True)

    a = commands.add_parser("assign", help="list assignments, write student or solution notebooks")
    actions = a.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the shipped assignments")
    for action, text in (("release", "the student notebook (solutions stubbed, hidden tests removed)"),
                         ("solution", "the solution notebook (hidden tests removed)")):
        p = actions.add_parser(action, help=text)
        p.add_argument("assignment", help="an assignment name or a source notebook (.py or .ipynb)")
        p.add_argument("--out", required=True, help="folder for the notebook")
    p = actions.add_parser("examples", help="example submissions: good, partial, and every kind of misbehaviour")
    p.add_argument("assignment", help="an assignment name or a source notebook (.py or .ipynb)")
    p.add_argument("--out", required=True, help="folder for the notebooks")
    p.add_argument("--target", action="append", default=[],
                   help="a file the fake-score example tries to overwrite (e.g. where grades.csv will go)")
    a.set_defaults(run=assign)

    g = commands.add_parser("grade", help="grade submissions: grades.csv and one feedback file each")
    g.add_argument("assignment", help="an assignment name or a source notebook (.py or .ipynb)")
    g.add_argument("submissions", nargs="+", help="submission notebooks, or folders searched for *.ipynb")
    g.add_argument("--out", required=True, help="output folder (grades.csv, grades.json, feedback/, executed/)")
    g.add_argument("--workers", type=int, default=1, help="submissions graded in parallel (default 1)")
    g.add_argument("--timeout", type=float, default=60, help="seconds per cell and per test call (default 60)")
    g.add_argument("--notebook-timeout", type=float, default=600,
                   help="seconds for the whole notebook run, and again for loading the code plus all tests (600)")
    g.add_argument("--memory-mb", type=int, default=2048, help="address-space limit per process (default 2048)")
    g.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a grading parameter (a Python literal)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.set_defaults(run=grade)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"arlib-grade: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
