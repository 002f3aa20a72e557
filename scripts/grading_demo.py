"""Regenerate the shipped grading examples and the run shown in ``chapters/instructors.md``.

    .venv/bin/python scripts/grading_demo.py            # about a minute on 2 cores

1. ``assignments/released/<name>.ipynb``: the student notebook of every assignment (``arlib-grade assign release``);
2. ``assignments/examples/fvsbn_nade/*.ipynb``: example submissions (``arlib-grade assign examples``), good and bad;
3. grades them with ``arlib-grade grade ... --workers 2`` into a scratch folder (the fake-score example tries to
   overwrite the files there) and keeps ``grades.csv``, the feedback files and the log of the run in
   ``assignments/examples/run/``.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assignments" / "examples"
RUN = EXAMPLES / "run"
SCRATCH = Path("/tmp/arlib-grading-demo")  # where the demo grades to (and what the fake-score example attacks)
ASSIGNMENT = "fvsbn_nade"
COMMAND = ["arlib-grade", "grade", ASSIGNMENT, f"assignments/examples/{ASSIGNMENT}", "--out", str(SCRATCH),
           "--workers", "2", "--timeout", "10", "--notebook-timeout", "120", "--memory-mb", "1500"]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    import grader as grading
    from grader import examples

    for path in grading.available():
        assignment = grading.Assignment.load(path)
        target = ROOT / "assignments" / "released"
        target.mkdir(exist_ok=True)
        import nbformat

        nbformat.write(assignment.released(), target / f"{assignment.name}.ipynb")
    folder = EXAMPLES / ASSIGNMENT
    shutil.rmtree(folder, ignore_errors=True)
    examples.write(grading.load(ASSIGNMENT), folder,
                   targets=[str(SCRATCH / "grades.csv"), str(SCRATCH / "feedback" / "fake_score.md")])
    shutil.rmtree(SCRATCH, ignore_errors=True)
    executable = Path(sys.executable).parent / "arlib-grade"
    started = time.perf_counter()
    result = subprocess.run([str(executable), *COMMAND[1:], "--no-progress"], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout, result.stderr, file=sys.stderr)
        return result.returncode
    shutil.rmtree(RUN, ignore_errors=True)
    (RUN / "feedback").mkdir(parents=True)
    shutil.copy(SCRATCH / "grades.csv", RUN / "grades.csv")
    for feedback in sorted((SCRATCH / "feedback").glob("*.md")):
        shutil.copy(feedback, RUN / "feedback" / feedback.name)
    header = (f"# {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python "
              f"{platform.python_version()}; exit code {result.returncode}; wall time {seconds:.0f} s\n")
    listing = subprocess.run([str(executable), "assign", "list"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.replace(str(ROOT) + "/", "")
    log = header + "$ arlib-grade assign list\n" + listing + "$ " + " ".join(COMMAND) + "\n" \
        + result.stderr.split("\n", 1)[0] + "\n" + result.stdout + result.stderr.split("\n", 1)[1]
    (RUN / "run.log").write_text(log)
    print(log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
