"""Grade a batch of submissions in parallel and write ``grades.csv`` and the feedback files.

Each of ``workers`` threads owns a long-lived worker process (:mod:`grader.worker`) and hands it
one submission at a time. A worker that dies or overruns its hard deadline is killed and replaced; its
submission gets a row saying so, and the batch goes on. The output files are written only at the end,
after every process that ran submission code is gone.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import queue
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader import protocol, sandbox
from grader.assignment import Assignment, load
from grader.worker import describe_exit, shorten


@dataclass
class Options:
    workers: int = 1
    cell_timeout: float = 60.0
    notebook_timeout: float = 600.0
    memory_mb: int = 2048
    parameters: dict = field(default_factory=dict)
    progress: bool = True


def collect(paths) -> list[tuple[str, Path]]:
    """(name, path) for every submission: files as given, folders searched for ``*.ipynb`` (recursively)."""
    found: list[tuple[str, Path]] = []
    for path in map(Path, paths):
        if path.is_dir():
            for notebook in sorted(path.rglob("*.ipynb")):
                if ".ipynb_checkpoints" not in notebook.parts:
                    found.append((notebook.relative_to(path).with_suffix("").as_posix(), notebook))
        else:
            found.append((path.stem, path))
    names: dict[str, int] = {}
    unique = []
    for name, path in found:
        names[name] = names.get(name, 0) + 1
        unique.append((name if names[name] == 1 else f"{name}-{names[name]}", path))
    return unique


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "submission"


class WorkerProcess:
    """One long-lived worker (python -m grader.worker), restarted when it dies."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def _start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(sandbox.ROOT), env.get("PYTHONPATH")]))
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg", TQDM_DISABLE="1")
        command = [sys.executable, "-c", "from grader.worker import serve; serve()"]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                        stderr=None if os.environ.get("ARLIB_GRADER_DEBUG") else subprocess.DEVNULL,
                                        start_new_session=True)
        os.set_blocking(self.process.stdin.fileno(), False)
        os.set_blocking(self.process.stdout.fileno(), False)

    def run(self, job: dict, timeout: float) -> dict:
        if self.process is None or self.process.poll() is not None:
            self._start()
        deadline = time.monotonic() + timeout
        try:
            protocol.write_frame(self.process.stdin.fileno(), job, deadline)
            return protocol.read_frame(self.process.stdout.fileno(), deadline)
        except protocol.ChannelTimeout:
            self.stop()
            return {"status": f"grader error: no result within {timeout:.0f} s (worker killed)"}
        except (protocol.ChannelClosed, BrokenPipeError, ValueError):
            code = self.process.poll()
            self.stop()
            return {"status": f"grader error: the worker process ended (exit code {code})"}

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, 9)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        self.process = None


def _complete(result: dict, name: str, path: Path, assignment: Assignment) -> dict:
    """Fill in a worker's answer (a grader error has no tests) so that every row has every column."""
    result.setdefault("name", name)
    result["name"], result["submission"] = name, str(path)
    result.setdefault("max_score", assignment.max_score)
    if not result.get("tests"):
        result["tests"] = [{"name": t.name, "max_points": t.points, "points": 0.0, "passed": False,
                            "message": result.get("status", "not run")} for t in assignment.tests]
    result["score"] = sum(t["points"] for t in result["tests"])
    return result


def grade(assignment: str | Path | Assignment, submissions, out: str | Path,
          options: Options | None = None) -> list[dict]:
    """Grade ``submissions`` (files or folders); write ``out/grades.csv``, ``out/grades.json``,
    ``out/feedback/<name>.md`` and ``out/executed/<name>.ipynb``; return one result per submission."""
    options = options or Options()
    assignment = assignment if isinstance(assignment, Assignment) else load(assignment)
    out = Path(out).resolve()
    items = collect(submissions)
    if not items:
        raise FileNotFoundError("no submissions found")
    out.mkdir(parents=True, exist_ok=True)
    parameters = {**assignment.parameters, **options.parameters}
    hide = sandbox.hideable([out, *([assignment.path.resolve().parent] if assignment.path else []),
                             *(p.resolve().parent for _, p in items)]) + sandbox.private_paths()
    sandbox.mode()  # probe once, before the threads start
    spec = assignment.to_json()
    base_job = {"assignment": spec, "parameters": parameters, "cell_timeout": options.cell_timeout,
                "notebook_timeout": options.notebook_timeout, "memory_mb": options.memory_mb,
                "hide": [str(p) for p in hide]}
    hard_timeout = 2 * options.notebook_timeout + 240
    workers = max(1, int(options.workers))
    everyone = [WorkerProcess() for _ in range(workers)]
    pool: queue.Queue[WorkerProcess] = queue.Queue()
    for worker in everyone:
        pool.put(worker)

    def one(name: str, path: Path) -> dict:
        worker = pool.get()
        try:
            result = worker.run({**base_job, "name": name, "submission": str(path.resolve())}, hard_timeout)
        finally:
            pool.put(worker)
        return _complete(result, name, path, assignment)

    from tqdm.auto import tqdm

    results: dict[str, dict] = {}
    executor = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {executor.submit(one, name, path): name for name, path in items}
        bar = tqdm(as_completed(futures), total=len(futures), desc=f"grading {assignment.name}",
                   unit="submission", disable=not options.progress or None)
        for future in bar:
            result = future.result()
            results[futures[future]] = result
            bar.set_postfix_str(f"{futures[future]}: {result['score']:g}/{result['max_score']:g}", refresh=False)
    finally:  # also on Ctrl-C: kill the workers (and their sandboxes) first, then let the threads go
        for worker in everyone:
            worker.stop()
        executor.shutdown(wait=True, cancel_futures=True)
    ordered = [results[name] for name, _ in items]
    write_outputs(ordered, assignment, out)
    return ordered


# ---------------------------------------------------------------------------- outputs
def _points(value: float) -> str:
    return f"{value:g}"


def write_outputs(results: list[dict], assignment: Assignment, out: Path) -> None:
    feedback, executed = out / "feedback", out / "executed"
    feedback.mkdir(exist_ok=True)
    executed.mkdir(exist_ok=True)
    for result in results:
        stem = safe_name(result["name"])
        (feedback / f"{stem}.md").write_text(feedback_text(result, assignment), encoding="utf-8")
        notebook = result.pop("executed", None)
        target = executed / f"{stem}.ipynb"
        if notebook:
            with contextlib.suppress(Exception):
                nbformat.write(nbformat.reads(notebook, as_version=4), target)
        elif target.exists():
            target.unlink()
    tests = [t.name for t in assignment.tests]
    temporary = out / ".grades.csv.tmp"
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "score", "max_score", "status", *tests])
        for result in results:
            points = {t["name"]: t["points"] for t in result["tests"]}
            writer.writerow([result["name"], _points(result["score"]), _points(result["max_score"]), result["status"],
                             *(_points(points.get(name, 0.0)) for name in tests)])
    temporary.replace(out / "grades.csv")
    (out / "grades.json").write_text(json.dumps({"assignment": assignment.name, "max_score": assignment.max_score,
                                                 "results": results}, indent=1), encoding="utf-8")


def feedback_text(result: dict, assignment: Assignment) -> str:
    lines = [f"# Feedback: {result['name']}", "",
             f"- assignment: `{assignment.name}`",
             f"- score: **{_points(result['score'])} / {_points(result['max_score'])}**",
             f"- status: {result['status']}", "", "## Hidden tests", "",
             "| test | points | result |", "| --- | --- | --- |"]
    for test in result["tests"]:
        verdict = "passed" if test["passed"] else "failed"
        lines.append(f"| `{test['name']}` | {_points(test['points'])} / {_points(test['max_points'])} | {verdict} |")
    failures = [t for t in result["tests"] if not t["passed"]]
    if failures:
        lines += ["", "### Why tests failed", ""]
        for test in failures:
            message = shorten(test.get("message") or "failed", 600).replace("\n", " ")
            lines.append(f"- `{test['name']}`: {message}")
    run = result.get("notebook") or {}
    notes = []
    for cell in run.get("cells", []):
        if cell.get("injected"):
            continue
        label = f"code cell {cell['number']} (`{cell.get('first_line', '').replace('`', chr(39))}`)"
        if cell.get("timed_out"):
            notes.append(f"{label}: ran over the time limit and was interrupted")
        elif cell.get("error"):
            error = cell["error"]
            text = f"{error['ename']}: {error['evalue']}" if error.get("evalue") else error["ename"]
            notes.append(f"{label}: {shorten(text, 300)}".replace("\n", " "))
        if cell.get("running_when_stopped"):
            notes.append(f"{label}: was running when the run stopped")
    if run.get("message"):
        exit_code = f" ({describe_exit(run['kernel_exit'])})" if run.get("status") == "dead" else ""
        notes.append(shorten(run["message"], 300).replace("the kernel died", f"the kernel died{exit_code}", 1))
    if run.get("truncated"):
        notes.append("the output was longer than the grader keeps and was truncated")
    for cell in result.get("load", []):
        if cell.get("status") == "timeout":
            notes.append(f"while your code was loaded for the hidden tests, code cell {cell['number']} "
                         f"{cell.get('error')} and was interrupted")
        else:
            notes.append(f"while your code was loaded for the hidden tests, code cell {cell['number']} "
                         f"{cell.get('error')}; it was skipped")
    if notes or run:
        lines += ["", "## Running your notebook", ""]
        seconds = run.get("seconds")
        if seconds is not None:
            lines.append(f"The notebook ran in {seconds:.1f} s with papermill (parameters injected by the grader).")
            lines.append("")
        lines += [f"- {n}" for n in notes] or ["- every cell ran without an error"]
    if result.get("grader_error"):
        lines += ["", "## Grader error", "", "```", result["grader_error"], "```"]
    return "\n".join(lines) + "\n"
