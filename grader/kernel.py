"""The Jupyter kernel the grader starts: ``python -m grader.kernel -f CONNECTION_FILE``.

An ordinary IPython kernel, except that its process-level stdin/stdout/stderr are /dev/null (outputs
travel over the kernel protocol, where the executor truncates them), and that in the fallback sandbox
(no network namespace) the Python socket guard is installed before any student code runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__:
    from grader.sandbox import GUARD_ENV, guard_network
else:  # started by file path: import the sibling, then take this folder off the path student code sees
    from sandbox import GUARD_ENV, guard_network

    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    sys.modules.pop("sandbox", None)


def main() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    if os.environ.get(GUARD_ENV):
        guard_network()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
