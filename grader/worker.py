"""Grade one submission: the trusted side. ``python -m grader.worker`` serves jobs over stdin/stdout.

For each submission the worker

1. reads the file (not a notebook: graded 0, status says why);
2. runs it with papermill in the sandbox (:mod:`executor`): the record of what happened, for the feedback;
3. starts a second sandboxed process (:mod:`server`) that loads the submission's code cells, and runs the
   hidden tests *here*, in a process where no submission code ever runs. In a test, bare names are the
   instructor's reference solution (the source notebook's cells, executed here) and ``student.<name>`` is a
   proxy: calling it sends the arguments to the submission's process and brings back the result as plain
   data. A test passes when its cell finishes without an exception; the score is the sum of the points of
   the tests that passed. Nothing the submission prints, writes or sends can change a test's verdict except
   the values its own functions return.

A cell of the submission that hangs or kills its process while loading is skipped on a restart, so the
other functions can still be tested. Every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import nbformat

from grader import protocol, sandbox
from grader.assignment import PARAMETERS_TAG, Assignment, is_hidden_test, with_parameters

GRACE = 5.0  # seconds past a timeout before the grader stops waiting for an answer and kills the process
STARTUP = 60.0
MAX_SUBMISSION_BYTES = 50 * 2**20
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "ARLIB_DATA_MIRROR", "ARLIB_CACHE", sandbox.MODE_ENV)


def shorten(text: str, limit: int = 600) -> str:
    text = str(text).strip()
    if len(text) <= limit:
        return text
    return text[: limit // 2].rstrip() + " [...] " + text[-(limit // 2) :].lstrip()


def sandbox_environment() -> dict:
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(PYTHONPATH=str(sandbox.ROOT), PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1",
               PYTHONNOUSERSITE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MPLBACKEND="Agg", TQDM_DISABLE="1", JUPYTER_PLATFORM_DIRS="1", PYDEVD_DISABLE_FILE_VALIDATION="1",
               # the memory limit is on address space: glibc's per-thread malloc arenas (64 MB each) must not use it
               # up, or the kernel's output thread fails to allocate and a large print silently vanishes
               MALLOC_ARENA_MAX="2")
    return env


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exit code {code}"


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _popen(command: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(command, env=sandbox_environment(), start_new_session=True,
                            preexec_fn=sandbox.set_parent_death_signal, **kwargs)


# ---------------------------------------------------------------------------- reading a submission
class InvalidSubmission(ValueError):
    """Not a notebook: ``str(error)`` is short (for the CSV), ``detail`` says more (for the feedback)."""

    def __init__(self, short: str, detail: str = "") -> None:
        super().__init__(short)
        self.detail = detail


def read_submission(path: Path):
    """The submission as a clean notebook (no outputs, no hidden-test or injected cells)."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InvalidSubmission(f"cannot read the file ({error.strerror})") from error
    if size > MAX_SUBMISSION_BYTES:
        raise InvalidSubmission(f"the file is {size / 2**20:.0f} MB (limit {MAX_SUBMISSION_BYTES // 2**20} MB)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidSubmission("not a text file", str(error)) from error
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # noqa: BLE001 (JSON, schema version: all mean "not a notebook")
        short = "not JSON" if type(error).__name__ == "NotJSONError" else "not in the notebook format"
        raise InvalidSubmission(short, shorten(f"{type(error).__name__}: {error}", 300)) from error
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise InvalidSubmission("not in the notebook format", "there is no list of cells")
    clean = nbformat.v4.new_notebook()
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        metadata = cell.get("metadata", {}) if isinstance(cell.get("metadata"), dict) else {}
        tags = metadata.get("tags", [])
        tags = [str(t) for t in tags] if isinstance(tags, list) else []
        if cell["cell_type"] == "code" and (is_hidden_test(cell) or "injected-parameters" in tags):
            continue
        make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
                "raw": nbformat.v4.new_raw_cell}[cell["cell_type"]]
        clean.cells.append(make(source, metadata={"tags": tags} if tags else {}))
    if not any(c.cell_type == "code" for c in clean.cells):
        raise InvalidSubmission("the notebook has no code cells")
    clean.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                      "language_info": {"name": "python"}}
    return clean


def code_cells(notebook) -> list[dict]:
    """The submission's code cells as the test process loads them, parameters cell tagged as such."""
    return [{"source": c.source, "number": n, "parameters": PARAMETERS_TAG in c.metadata.get("tags", [])}
            for n, c in enumerate((c for c in notebook.cells if c.cell_type == "code"), start=1)]


# ---------------------------------------------------------------------------- 1. papermill
def run_notebook(notebook, job: dict) -> dict:
    work = Path(tempfile.mkdtemp(prefix="arlib-sandbox-"))
    log = tempfile.TemporaryFile()
    try:
        nbformat.write(notebook, work / "submission.ipynb")
        (work / "job.json").write_text(json.dumps({
            "notebook": "submission.ipynb", "parameters": job["parameters"], "cell_timeout": job["cell_timeout"],
            "notebook_timeout": job["notebook_timeout"]}))
        spec = work / "jupyter" / "kernels" / "arlib-grader"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, sandbox.script("kernel"), "-f", "{connection_file}"],
            "display_name": "arlib grader", "language": "python", "metadata": {"debugger": False}}))
        command = sandbox.command([sys.executable, sandbox.script("executor"), "job.json"], work, job["memory_mb"],
                                  hide=job["hide"], cpu_seconds=job["notebook_timeout"] * 2 + 120)
        process = _popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        try:
            out, _ = process.communicate(timeout=job["notebook_timeout"] + STARTUP + 30)
        except subprocess.TimeoutExpired:
            _kill(process)
            return {"status": "aborted", "message": f"the notebook run did not finish in "
                    f"{job['notebook_timeout'] + STARTUP + 30:.0f} s and was killed", "cells": []}
        try:
            result = json.loads(out)
        except ValueError:
            log.seek(0)
            tail = log.read()[-1500:].decode(errors="replace")
            return {"status": "aborted", "cells": [],
                    "message": f"the notebook run ended without a result ({describe_exit(process.returncode)})",
                    "log": tail}
        return result
    finally:
        log.close()
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------- 2. the submission's process
class SubmissionError(Exception):
    """Something went wrong on the submission's side (its exception, a timeout, a crash)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}" if kind else message)
        self.kind = kind


class MissingAttribute(SubmissionError, AttributeError):
    pass


class RemoteObject:
    """An object that lives in the submission's process; attribute access and calls go over the channel."""

    __slots__ = ("_process", "_generation", "_ref", "_type")

    def __init__(self, process: SubmissionProcess, generation: int, ref: int, kind: str) -> None:
        object.__setattr__(self, "_process", process)
        object.__setattr__(self, "_generation", generation)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_type", kind)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._process.request({"op": "get", "ref": self._check(), "name": name})

    def __call__(self, *args, **kwargs):
        encode = self._process.encode
        return self._process.request({"op": "call", "ref": self._check(), "args": encode(list(args)),
                                      "kwargs": encode(kwargs)})

    def __setattr__(self, name, value):
        raise TypeError("objects of the submission cannot be modified from the tests")

    def _check(self) -> int:
        if self._ref != 0 and self._generation != self._process.generation:
            raise SubmissionError("Restarted", "the submission's process was restarted (after a crash or a "
                                  "timeout) and this object went with it")
        return self._ref

    def __repr__(self) -> str:
        return "<the submission>" if self._ref == 0 else f"<submission's {self._type} object>"


class SubmissionProcess:
    """The sandboxed process holding the submission's code, started (and restarted) on demand."""

    def __init__(self, cells: list[dict], parameters: dict, job: dict, deadline: float) -> None:
        index = next((i for i, c in enumerate(cells) if c["parameters"]), None)
        injected = with_parameters([c["source"] for c in cells], index, parameters)
        numbers = [c["number"] for c in cells]
        if len(injected) > len(cells):  # the injected parameters: "code cell 0"
            numbers.insert(0 if index is None else index + 1, 0)
        self.cells = [{"source": s, "number": n} for s, n in zip(injected, numbers, strict=True)]
        self.job, self.deadline = job, deadline
        self.timeout = float(job["cell_timeout"])
        self.skip: dict[int, str] = {}  # cell index -> why it is skipped
        self.report: dict[int, dict] = {}
        self.process: subprocess.Popen | None = None
        self.generation = 0
        self.starts = 0
        self.broken: str | None = None  # set when the process cannot start at all: later tests fail fast
        self.work: Path | None = None

    # ------------------------------------------------------------------ life cycle
    def root(self) -> RemoteObject:
        return RemoteObject(self, 0, 0, "namespace")

    def close(self) -> None:
        if self.process is not None:
            _kill(self.process)
            for stream in (self.process.stdin, self.process.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            self.process = None
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise SubmissionError("TimeBudget", f"the tests ran out of time (the per-notebook limit of "
                                  f"{self.job['notebook_timeout']:g} s covers loading the code and all tests)")
        return remaining

    def _start(self) -> None:
        while True:
            self._remaining()
            self.close()
            self.starts += 1
            self.generation += 1
            self.work = Path(tempfile.mkdtemp(prefix="arlib-sandbox-"))
            (self.work / "job.json").write_text(json.dumps({"cells": self.cells, "skip": sorted(self.skip),
                                                             "timeout": self.timeout}))
            command = sandbox.command([sys.executable, sandbox.script("server"), "job.json"], self.work,
                                      self.job["memory_mb"], hide=self.job["hide"],
                                      cpu_seconds=int(self.job["notebook_timeout"]) * 2 + 120)
            self.process = _popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            os.set_blocking(self.process.stdin.fileno(), False)
            os.set_blocking(self.process.stdout.fileno(), False)
            culprit = self._load()
            if culprit is None:
                return
            index, why = culprit
            self.skip[index] = why
            self.report[index] = {"status": "skipped", "error": why}

    def _load(self) -> tuple[int, str] | None:
        """Read the loading events; a cell that hangs or kills the process is returned (to skip it)."""
        current, deadline = None, time.monotonic() + STARTUP
        while True:
            try:
                message = protocol.read_frame(self.process.stdout.fileno(), min(deadline, self.deadline))
                event = message.get("event")
                if event == "start":
                    current = int(message["index"])
                    deadline = time.monotonic() + self.timeout + GRACE
                elif event == "cell":
                    if int(message["index"]) not in self.skip:
                        self.report[int(message["index"])] = {"status": message.get("status"),
                                                              "error": message.get("error")}
                    current, deadline = None, time.monotonic() + STARTUP
                elif event == "ready":
                    return None
                else:
                    raise ValueError(f"unexpected message {str(message)[:100]}")
            except protocol.ChannelTimeout:
                self._remaining()
                if current is None:
                    raise SubmissionError("Startup", "the process for the tests did not start") from None
                return current, f"ran over {self.timeout:g} s and could not be interrupted"
            except (protocol.ChannelClosed, ValueError, KeyError, TypeError):
                code = self._ended()
                if current is None:
                    raise SubmissionError("Startup", f"the process for the tests ended ({describe_exit(code)})") \
                        from None
                return current, f"ended the process ({describe_exit(code)})"

    def _ended(self) -> int | None:
        """The exit code of a process whose channel broke (killed if it is still running)."""
        try:
            return self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            _kill(self.process)
            return self.process.returncode

    # ------------------------------------------------------------------ requests
    def encode(self, value):
        def reference(obj):
            if isinstance(obj, RemoteObject):
                return {"__ref__": obj._check()}
            raise protocol.Unencodable(f"cannot send a {type(obj).__name__} to the submission")

        return protocol.encode(value, reference)

    def request(self, message: dict):
        if self.broken:
            raise SubmissionError("Startup", self.broken)
        if self.process is None or self.process.poll() is not None:
            try:
                self._start()
            except SubmissionError as error:
                if error.kind == "Startup":
                    self.broken = str(error).removeprefix("Startup: ")
                raise
        deadline = min(time.monotonic() + self.timeout + GRACE, self.deadline)
        try:
            protocol.write_frame(self.process.stdin.fileno(), message, deadline)
            reply = protocol.read_frame(self.process.stdout.fileno(), deadline)
        except protocol.ChannelTimeout:
            self.close()
            self._remaining()
            raise SubmissionError("Timeout", f"the call ran over {self.timeout:g} s and could not be interrupted; "
                                  "the process was killed") from None
        except (protocol.ChannelClosed, BrokenPipeError, ValueError) as error:
            code = self._ended()
            self.close()
            detail = describe_exit(code) if isinstance(error, protocol.ChannelClosed | BrokenPipeError) \
                else f"it sent something unreadable: {shorten(str(error), 200)}"
            raise SubmissionError("Crashed", f"the submission's process ended during the call ({detail})") from None
        if not isinstance(reply.get("error", {}), dict):
            raise SubmissionError("Unreadable", "the submission's process sent a malformed answer")
        if "error" in reply:
            kind = str(reply["error"].get("type", "Error"))
            text = shorten(str(reply["error"].get("message", "")), 1500)
            if message["op"] == "get" and kind in ("NameError", "AttributeError"):
                raise MissingAttribute(kind, text)
            raise SubmissionError(kind, text)
        generation = self.generation
        try:
            return protocol.decode(reply.get("ok"), lambda r: RemoteObject(self, generation, int(r["__ref__"]),
                                                                              str(r.get("type", "?"))))
        except (ValueError, TypeError, KeyError, RuntimeError) as error:
            raise SubmissionError("Unreadable", f"the submission returned a value the grader cannot read "
                                  f"({shorten(str(error), 200)})") from None


# ---------------------------------------------------------------------------- 3. the hidden tests
def reseed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the legacy global generator the test code may use)
    torch.manual_seed(seed)


def reference_namespace(assignment: Assignment, parameters: dict) -> dict:
    """The instructor's solution, executed here with the grading parameters (its output discarded)."""
    namespace: dict = {"__name__": "__reference__"}
    reseed(int(parameters.get("SEED", 0)))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for number, source in enumerate(assignment.reference_cells(parameters), start=1):
            exec(compile(source, f"<reference cell {number}>", "exec"), namespace)  # noqa: S102 (instructor code)
    return namespace


def failure_message(error: BaseException, source: str) -> str:
    if isinstance(error, SubmissionError):
        if error.kind == "NotImplementedError" and str(error) == "NotImplementedError: ":
            return "NotImplementedError: the function is still the released stub"
        return str(error)
    if isinstance(error, AssertionError):
        text = str(error)
        if text:
            return text
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith("<hidden test")]
        if frames:
            line = source.split("\n")[frames[-1].lineno - 1].strip()
            return f"assertion failed: {line}"
        return "assertion failed"
    return f"{type(error).__name__}: {error}"


def run_tests(assignment: Assignment, process: SubmissionProcess, parameters: dict) -> list[dict]:
    base = reference_namespace(assignment, parameters)
    results = []
    for test in assignment.tests:
        namespace = dict(base)
        namespace["student"] = process.root()
        reseed(int(parameters.get("SEED", 0)))
        started = time.monotonic()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(test.source, f"<hidden test {test.name}>", "exec"), namespace)  # noqa: S102
            passed, message = True, ""
        except Exception as error:  # noqa: BLE001 (any failure of the test is a failed test)
            passed, message = False, shorten(failure_message(error, test.source))
        results.append({"name": test.name, "max_points": test.points, "points": test.points if passed else 0.0,
                        "passed": passed, "message": message, "seconds": round(time.monotonic() - started, 2)})
    return results


# ---------------------------------------------------------------------------- status
def is_memory(error: dict) -> bool:
    text = f"{error.get('ename', '')} {error.get('evalue', '')}".lower()
    return "memoryerror" in text or "can't allocate memory" in text or "out of memory" in text \
        or "cannot allocate memory" in text


def is_network(error: dict) -> bool:
    text = f"{error.get('ename', '')} {error.get('evalue', '')}".lower()
    return any(s in text for s in ("network is unreachable", "name resolution", "name or service not known",
                                   "network access is disabled", "nodename nor servname"))


def notebook_status(run: dict, job: dict) -> str:
    """One short phrase for the CSV: the first thing that went wrong in the papermill run."""
    cells = [c for c in run.get("cells", []) if not c.get("injected")]
    status = run.get("status", "aborted")
    stopped = next((c for c in cells if c.get("running_when_stopped")), None)
    at = f" in code cell {stopped['number']}" if stopped else ""
    if status == "notebook-timeout":
        text = f"timeout: the notebook ran over {job['notebook_timeout']:g} s{at}"
    elif status == "dead":
        text = f"kernel died{at} ({describe_exit(run.get('kernel_exit'))})"
    elif status in ("aborted", "failed"):
        text = f"notebook run failed: {shorten(run.get('message', ''), 120)}"
    else:
        text = ""
    for cell in cells:
        if text:
            break
        error = cell.get("error")
        if cell.get("timed_out"):
            text = f"timeout: code cell {cell['number']} ran over {job['cell_timeout']:g} s"
        elif error and is_memory(error):
            text = f"memory limit: {error['ename']} in code cell {cell['number']} (limit {job['memory_mb']} MB)"
        elif error and is_network(error):
            text = f"network blocked: {error['ename']} in code cell {cell['number']}"
        elif error:
            text = f"error: {error['ename']} in code cell {cell['number']}"
    text = text or "ok"
    if run.get("truncated"):
        text += "; output truncated"
    return text


# ---------------------------------------------------------------------------- one submission
def grade_one(job: dict, assignment: Assignment | None = None) -> dict:
    started = time.monotonic()
    assignment = assignment or Assignment.from_json(job["assignment"])
    parameters = job["parameters"]
    result = {"name": job["name"], "submission": job["submission"], "max_score": assignment.max_score,
              "score": 0.0, "status": "", "tests": [], "notebook": {}, "load": [], "executed": None}
    try:
        notebook = read_submission(Path(job["submission"]))
    except InvalidSubmission as error:
        result["status"] = f"invalid notebook: {error}"
        result["notebook"] = {"message": f"The file could not be read as a Jupyter notebook: {error}. "
                                         f"{error.detail}".strip()}
        result["tests"] = [{"name": t.name, "max_points": t.points, "points": 0.0, "passed": False,
                            "message": "not run: the file is not a valid notebook"} for t in assignment.tests]
        result["seconds"] = round(time.monotonic() - started, 2)
        return result
    run = run_notebook(notebook, job)
    result["executed"] = run.pop("notebook", None)
    result["notebook"] = run
    result["status"] = notebook_status(run, job)
    cells = code_cells(notebook)
    process = SubmissionProcess(cells, parameters, job, time.monotonic() + job["notebook_timeout"])
    try:
        result["tests"] = run_tests(assignment, process, parameters)
    finally:
        process.close()
    result["load"] = [{"number": process.cells[i]["number"], **info} for i, info in sorted(process.report.items())
                      if info.get("status") in ("skipped", "timeout")]
    result["score"] = sum(t["points"] for t in result["tests"])
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def serve() -> None:
    """Answer jobs (one frame each) until stdin closes; a job that crashes the grader still gets a reply."""
    sandbox.set_not_dumpable()
    sandbox.set_parent_death_signal()
    reader, writer = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    import torch

    torch.set_num_threads(1)
    assignments: dict[str, Assignment] = {}
    while True:
        try:
            job = protocol.read_frame(reader)
        except protocol.ChannelClosed:
            return
        try:
            key = job["assignment"]
            if key not in assignments:
                assignments[key] = Assignment.from_json(key)
            result = grade_one(job, assignments[key])
        except Exception as error:  # noqa: BLE001 (reported as a grader error for this submission only)
            result = {"name": job.get("name"), "grader_error": shorten(traceback.format_exc(), 3000),
                      "status": f"grader error: {type(error).__name__}: {shorten(str(error), 200)}"}
        protocol.write_frame(writer, result)


if __name__ == "__main__":
    serve()
