"""The grader (``grader/``, the ``arlib-grade`` command): every kind of bad submission still gets its row with
a readable status, good ones get full marks, the released notebook gets zero, and parallel grading equals
serial grading.

One batch (the example submissions of ``fvsbn_nade``, graded with two workers and short time limits) is
shared by most tests; each bad-submission kind has its own test reading that batch.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import grader as grading
from grader import cli, examples, sandbox
from grader.assignment import BEGIN, END, HIDDEN_TAG, AssignmentError, strip_solutions
from grader.worker import SubmissionError, SubmissionProcess

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = {"cell_timeout": 10, "notebook_timeout": 90, "memory_mb": 1500, "progress": False}
ASSIGNMENTS = ["fvsbn_nade", "made_masks", "causal_attention"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The example submissions of fvsbn_nade, graded in one parallel batch (about a minute on 2 cores)."""
    root = tmp_path_factory.mktemp("grading")
    source = root / "assignment" / "fvsbn_nade.py"  # a copy: the fake-score example tries to overwrite it
    source.parent.mkdir()
    shutil.copy(ROOT / "assignments" / "fvsbn_nade.py", source)
    out = root / "out"
    assignment = grading.Assignment.load(source)
    targets = [out / "grades.csv", out / "feedback" / "fake_score.md", source]
    examples.write(assignment, root / "submissions", targets=[str(t) for t in targets])
    started = time.perf_counter()
    results = grading.grade(source, [root / "submissions"], out, grading.Options(workers=2, **OPTIONS))
    seconds = time.perf_counter() - started
    return {"results": {r["name"]: r for r in results}, "out": out, "assignment": assignment, "source": source,
            "root": root, "seconds": seconds}


def row(batch, name: str) -> dict:
    return batch["results"][name]


def points(result: dict) -> dict[str, float]:
    return {t["name"]: t["points"] for t in result["tests"]}


def full(batch, name: str) -> None:
    result = row(batch, name)
    assert result["score"] == result["max_score"] == batch["assignment"].max_score, result["tests"]


# ---------------------------------------------------------------------------- the batch as a whole
def test_every_submission_gets_a_row_and_a_feedback_file(batch):
    with (batch["out"] / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["submission"] for r in rows] == sorted(examples.KINDS)
    tests = [t.name for t in batch["assignment"].tests]
    assert list(rows[0]) == ["submission", "score", "max_score", "status", *tests]
    for r in rows:
        assert r["status"], r
        assert float(r["score"]) == sum(float(r[t]) for t in tests)
        assert (batch["out"] / "feedback" / f"{r['submission']}.md").read_text().startswith(
            f"# Feedback: {r['submission']}")


def test_full_marks_after_release_and_fill_in(batch):
    full(batch, "full_marks")
    assert row(batch, "full_marks")["status"] == "ok"


def test_released_notebook_scores_zero_without_crashing(batch):
    result = row(batch, "untouched")
    assert result["score"] == 0
    assert result["status"].startswith("error: NotImplementedError in code cell")
    assert all("still the released stub" in t["message"] for t in result["tests"])


def test_partial_solution_gets_partial_credit(batch):
    result = row(batch, "partial")
    assert points(result)["nade_sample_matches_reference"] == 0
    assert result["score"] == batch["assignment"].max_score - 2


def test_raising_cell_and_raising_function(batch):
    result = row(batch, "raises")
    assert result["status"].startswith("error: RuntimeError in code cell")
    failed = [t for t in result["tests"] if not t["passed"]]
    assert [t["name"] for t in failed] == ["nade_sample_matches_reference"]
    assert "ValueError: not today" in failed[0]["message"]


def test_infinite_loop_is_interrupted_and_the_rest_graded(batch):
    result = row(batch, "infinite_loop")
    assert result["status"].startswith("timeout: code cell") and "ran over 10 s" in result["status"]
    full(batch, "infinite_loop")
    assert result["seconds"] < 60


def test_memory_bomb_is_stopped_and_reported(batch):
    result = row(batch, "memory_bomb")
    assert result["status"].startswith("memory limit: MemoryError in code cell"), result["status"]
    full(batch, "memory_bomb")


def test_sys_exit(batch):
    assert row(batch, "sys_exit")["status"].startswith("error: SystemExit in code cell")
    full(batch, "sys_exit")


def test_os_exit_kills_the_kernel_and_is_reported(batch):
    result = row(batch, "os_exit")
    assert result["status"].startswith("kernel died in code cell") and "exit code 0" in result["status"]
    full(batch, "os_exit")  # the tests' process skipped the cell that ended it
    assert any("ended the process" in (c.get("error") or "") for c in result["load"])


def test_killing_its_own_kernel(batch):
    result = row(batch, "kills_kernel")
    assert result["status"].startswith("kernel died in code cell") and "SIGKILL" in result["status"]
    full(batch, "kills_kernel")


def test_100_mb_of_output_is_truncated(batch):
    result = row(batch, "prints_100mb")
    assert result["status"] == "ok; output truncated"
    full(batch, "prints_100mb")
    executed = batch["out"] / "executed" / "prints_100mb.ipynb"
    assert executed.stat().st_size < 3 * 2**20
    assert "truncated by the grader" in executed.read_text()


def test_network_access_fails_inside_the_grader(batch):
    result = row(batch, "network")
    assert result["status"].startswith("network blocked:"), result["status"]
    full(batch, "network")


def test_fake_scores_and_overwritten_output_change_nothing(batch):
    result = row(batch, "fake_score")
    assert result["score"] == 0 and all(not t["passed"] for t in result["tests"])
    with (batch["out"] / "grades.csv").open() as handle:
        rows = {r["submission"]: r for r in csv.DictReader(handle)}
    assert rows["fake_score"]["score"] == "0" and len(rows) == len(examples.KINDS)
    feedback = (batch["out"] / "feedback" / "fake_score.md").read_text()
    assert "**0 / 11**" in feedback
    assert batch["source"].read_text() == (ROOT / "assignments" / "fvsbn_nade.py").read_text()
    printed = (batch["out"] / "executed" / "fake_score.ipynb").read_text()
    assert "Score: 100 / 100" in printed  # it did print its fake score, to no effect


def test_renamed_function_fails_its_tests_with_a_hint(batch):
    result = row(batch, "renamed")
    failed = {t["name"]: t["message"] for t in result["tests"] if not t["passed"]}
    assert set(failed) == {"fvsbn_log_prob_matches_arlib", "fvsbn_uses_only_the_lower_triangle", "fvsbn_sums_to_one"}
    assert all("defines no 'fvsbn_log_prob'" in m and "fvsbn_log_prob_v2" in m for m in failed.values())


def test_not_a_notebook(batch):
    result = row(batch, "not_a_notebook")
    assert result["status"] == "invalid notebook: not JSON"
    assert "could not be read as a Jupyter notebook" in (batch["out"] / "feedback" / "not_a_notebook.md").read_text()
    assert result["score"] == 0


def test_parallel_grading_equals_serial_grading_from_the_command_line(batch, tmp_path):
    names = ["full_marks", "partial", "renamed"]
    paths = [str(batch["root"] / "submissions" / f"{n}.ipynb") for n in names]
    command = [sys.executable, "-m", "grader", "grade", str(batch["source"]), *paths, "--out", str(tmp_path),
               "--workers", "1", "--timeout", "10", "--notebook-timeout", "90", "--memory-mb", "1500",
               "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    serial = {r["name"]: r for r in json.loads((tmp_path / "grades.json").read_text())["results"]}
    for name in names:
        for key in ("score", "status"):
            assert serial[name][key] == row(batch, name)[key], (name, key)
        assert points(serial[name]) == points(row(batch, name)), name
        assert [t["message"] for t in serial[name]["tests"]] == [t["message"] for t in row(batch, name)["tests"]]


# ---------------------------------------------------------------------------- the other assignments
@pytest.mark.parametrize("name", ASSIGNMENTS[1:])
def test_round_trip_release_fill_in_grade(name, tmp_path):
    assignment = grading.load(name)
    paths = examples.write(assignment, tmp_path / "submissions", kinds=["full_marks", "untouched"])
    solution = tmp_path / "submissions" / "solution.ipynb"
    nbformat.write(assignment.solution(), solution)
    results = grading.grade(assignment, [*paths, solution], tmp_path / "out", grading.Options(workers=2, **OPTIONS))
    scores = {r["name"]: (r["score"], r["status"]) for r in results}
    assert scores["full_marks"] == scores["solution"] == (assignment.max_score, "ok"), results
    assert scores["untouched"][0] == 0


# ---------------------------------------------------------------------------- pieces
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_hides_solutions_and_hidden_tests(name, tmp_path):
    assignment = grading.load(name)
    released, solution = assignment.released(), assignment.solution()
    text = nbformat.writes(released)
    assert BEGIN not in text and END not in text
    assert not any(HIDDEN_TAG in c.metadata.get("tags", []) for c in released.cells)
    for test in assignment.tests:
        assert test.source not in text
    assert "raise NotImplementedError" in text
    assert any("parameters" in c.metadata.get("tags", []) for c in released.cells)
    assert [c.id for c in released.cells] == [c.id for c in solution.cells]
    assert BEGIN not in nbformat.writes(solution)
    nbformat.validate(released)
    assert cli.main(["assign", "release", name, "--out", str(tmp_path)]) == 0
    assert nbformat.read(tmp_path / f"{name}.ipynb", as_version=4) == released
    committed = ROOT / "assignments" / "released" / f"{name}.ipynb"
    assert nbformat.read(committed, as_version=4) == released, "run scripts/grading_demo.py"


def test_shipped_examples_are_up_to_date():
    spec = importlib.util.spec_from_file_location("grading_demo", ROOT / "scripts" / "grading_demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    targets = [str(demo.SCRATCH / "grades.csv"), str(demo.SCRATCH / "feedback" / "fake_score.md")]
    built = examples.build(grading.load(demo.ASSIGNMENT), targets)
    folder = ROOT / "assignments" / "examples" / demo.ASSIGNMENT
    assert sorted(p.stem for p in folder.glob("*.ipynb")) == sorted(built)
    for kind, example in built.items():
        path = folder / f"{kind}.ipynb"
        if isinstance(example, str):
            assert path.read_text() == example
        else:
            assert nbformat.read(path, as_version=4) == example, f"{kind}: run scripts/grading_demo.py"
    run = ROOT / "assignments" / "examples" / "run"
    with (run / "grades.csv").open() as handle:
        assert sorted(r["submission"] for r in csv.DictReader(handle)) == sorted(built)
    assert sorted(p.stem for p in (run / "feedback").glob("*.md")) == sorted(built)


def test_solution_stub_keeps_the_indentation():
    source = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n"
    assert strip_solutions(source, ("# YOUR CODE HERE", "raise NotImplementedError")) == \
        "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError\n"
    with pytest.raises(AssignmentError):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n", ("pass",))
    with pytest.raises(AssignmentError):
        strip_solutions("x = 1\n### END SOLUTION\n", ("pass",))


def test_a_function_that_never_returns_times_out(tmp_path):
    code = ("import signal\n\ndef spins():\n    while True:\n        pass\n\n"
            "def ignores_the_alarm():\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
            "    while True:\n        pass\n\n"
            "def add_one(x):\n    return x + 1\n")
    job = {"cell_timeout": 1, "notebook_timeout": 60, "memory_mb": 1500, "hide": []}
    process = SubmissionProcess([{"source": code, "number": 1, "parameters": False}], {}, job, time.monotonic() + 60)
    try:
        student = process.root()
        with pytest.raises(SubmissionError, match="Timeout: the call ran over 1 s"):
            student.spins()
        assert student.add_one(41) == 42  # interrupted: same process, still serving
        with pytest.raises(SubmissionError, match="could not be interrupted; the process was killed"):
            student.ignores_the_alarm()
        assert student.add_one(1) == 2  # a fresh process
        assert process.starts == 2
    finally:
        process.close()


@pytest.mark.skipif(not sandbox.namespaces_available(), reason="unprivileged user namespaces are not available here")
def test_namespace_sandbox_has_no_network_and_a_read_only_filesystem(tmp_path):
    """Hidden folders cannot be read, wherever the clone lives: under /tmp the sandbox keeps /tmp (its own
    interpreter is there) and covers a hidden folder with an empty mode-000 tmpfs; elsewhere /tmp is private
    and the folder is gone. Either way its files are out of reach, which is all the sandbox promises."""
    seen = isolation_probe(tmp_path, None)  # the sandbox this machine picks
    assert "net [Errno 101] Network is unreachable" in seen, seen
    assert "write Read-only file system" in seen
    assert "read refused" in seen and "THE-HIDDEN-ANSWER" not in seen, seen
    assert "list refused" in seen or "listed []" in seen, seen
    assert "answers.txt" not in seen and "scratch ok" in seen


def test_fallback_socket_guard_blocks_connections():
    code = ("import socket, sys\nsys.path.insert(0, sys.argv[1])\nimport sandbox\nsandbox.guard_network()\n"
            "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=3)\nexcept OSError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code, str(sandbox.HERE)], capture_output=True, text=True, timeout=60)
    assert "network access is disabled while grading" in result.stdout, result.stderr


# ---------------------------------------------------------------------------- the sandboxes: bwrap and its fallback
def isolation_probe(tmp_path: Path, using: str) -> str:
    """What a sandboxed process sees of the network, the clone, a hidden folder and its scratch space."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "input.txt").write_text("the job's file")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "answers.txt").write_text("THE-HIDDEN-ANSWER")
    probe = ("import os, socket\n"
             "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=3)\n"
             "except OSError as e:\n    print('net', e)\n"
             f"try:\n    open({str(ROOT / 'README.md')!r}, 'a')\nexcept OSError as e:\n    print('write', e.strerror)\n"
             f"try:\n    print('read', open({str(secret / 'answers.txt')!r}).read())\n"
             "except OSError as e:\n    print('read refused', type(e).__name__)\n"
             f"try:\n    print('listed', os.listdir({str(secret)!r}))\n"
             "except OSError as e:\n    print('list refused', type(e).__name__)\n"
             "print('input', open('input.txt').read())\n"
             "print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit())[:2])\n"
             "open('scratch.txt', 'w').write('ok')\nprint('scratch ok')\n")
    command = sandbox.command([sys.executable, "-c", probe], work, 1024, hide=[secret], using=using)
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert not (work / "scratch.txt").exists()  # the scratch space was private
    return result.stdout + result.stderr


@pytest.mark.parametrize("using", ["bwrap", "namespace"])
def test_bwrap_and_the_namespace_fallback_isolate_alike(using, tmp_path):
    if not sandbox.works(using):
        pytest.skip(f"the {using} sandbox does not work here")
    seen = isolation_probe(tmp_path, using)
    assert "net [Errno 101] Network is unreachable" in seen, seen
    assert "write Read-only file system" in seen, seen
    assert "read refused" in seen and "THE-HIDDEN-ANSWER" not in seen, seen
    assert "list refused" in seen or "listed []" in seen, seen
    assert "input the job's file" in seen and "scratch ok" in seen, seen
    assert "pids [1, 2]" in seen or "pids [1]" in seen, seen  # a PID namespace of its own


def test_bwrap_is_preferred_when_it_works():
    if os.environ.get(sandbox.MODE_ENV) or not sandbox.works("bwrap"):
        pytest.skip("bwrap is not installed or does not work here (or the sandbox is chosen by hand)")
    assert sandbox.mode() == "bwrap"
    assert sandbox.describe().startswith("bubblewrap")


def test_without_a_working_bwrap_the_grader_falls_back(tmp_path):
    """No bwrap on PATH, or one that fails its probe: the namespaces by hand, or else the process sandbox."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    unshare = shutil.which("unshare")
    if unshare:
        (bin_dir / "unshare").symlink_to(unshare)
    code = "from grader import sandbox\nprint(sandbox.mode(), sandbox.works('bwrap'))\n"
    env = {k: v for k, v in os.environ.items() if k != sandbox.MODE_ENV}
    fallback = "namespace" if sandbox.works("namespace") else "process"

    def chosen() -> str:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                                env={**env, "PATH": str(bin_dir), "PYTHONPATH": str(ROOT)})
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert chosen() == f"{fallback} False"  # absent
    (bin_dir / "bwrap").write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    (bin_dir / "bwrap").chmod(0o755)
    assert chosen() == f"{fallback} False"  # present, but user namespaces are not permitted


def test_hostile_submissions_in_the_fallback_sandbox(batch, tmp_path, monkeypatch):
    """Without bwrap (ARLIB_GRADER_SANDBOX=namespace), the hand-made namespaces grade like bwrap does."""
    if not sandbox.works("namespace"):
        pytest.skip("unprivileged user namespaces are not available here")
    monkeypatch.setenv(sandbox.MODE_ENV, "namespace")
    names = ["full_marks", "network", "fake_score"]
    out = tmp_path / "out"
    targets = [str(out / "grades.csv"), str(out / "feedback" / "fake_score.md")]
    paths = examples.write(batch["assignment"], tmp_path / "submissions", targets=targets, kinds=names)
    results = {r["name"]: r for r in grading.grade(batch["assignment"], paths, out,
                                                  grading.Options(workers=2, **OPTIONS))}
    for name in names:
        assert (results[name]["score"], results[name]["status"]) == (row(batch, name)["score"],
                                                                     row(batch, name)["status"]), name
        assert points(results[name]) == points(row(batch, name)), name
    with (out / "grades.csv").open() as handle:
        assert {r["submission"]: r["score"] for r in csv.DictReader(handle)}["fake_score"] == "0"
    assert "**0 / 11**" in (out / "feedback" / "fake_score.md").read_text()


def test_console_script_and_arlib_without_the_grader():
    script = Path(sys.executable).parent / "arlib-grade"
    if not script.exists():
        pytest.skip("arlib-grade is not installed in this environment (make setup installs it)")
    result = subprocess.run([str(script), "assign", "list"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == sorted(ASSIGNMENTS)
    for path in sorted((ROOT / "arlib").rglob("*.py")):  # the library never imports the grader
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n == "grader" or n.startswith(("grader.", "arlib.grading")) for n in names), path
