"""Run one submission with papermill, inside the sandbox: ``python -m grader.executor JOB.json``.

Parameters are injected after the ``parameters`` cell, every cell has a timeout (the kernel is interrupted
and the run goes on), the whole notebook has a timeout (the kernel is killed), errors do not stop the run,
and outputs are truncated as they arrive (per cell and per notebook), so printing 100 MB costs neither
memory nor disk. The result (status, per-cell errors, kernel exit code, the executed notebook) goes to the
grader over this process's original stdout, which is not the kernel's: the kernel is started with its
stdio on /dev/null. This is a record for the feedback; the score never comes from here.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import nbformat
import papermill
from nbclient.util import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError

if __package__:
    from grader.sandbox import set_not_dumpable
else:  # started by file path inside the sandbox: import the sibling, not the grader package
    from sandbox import set_not_dumpable

ENGINE = "arlib-grader"
KERNEL = "arlib-grader"
TRUNCATED = "\n[... output truncated by the grader ...]\n"


class GraderClient(PapermillNotebookClient):
    """nbclient with output caps, and a record of timed-out cells, the running cell and the kernel process."""

    cell_limit = 100_000  # characters of output kept per cell
    notebook_limit = 2_000_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timed_out: set[int] = set()  # ids of the cell objects
        self.current: int | None = None
        self.current_cell = None
        self.used: dict[int, int] = {}
        self.total = 0
        self.truncated = False
        self.cut: set[int] = set()

    async def async_start_new_kernel(self, **kwargs):
        await super().async_start_new_kernel(**kwargs)
        STATE["kernel"] = getattr(self.km.provisioner, "process", None)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self.current, self.current_cell = cell_index, cell
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    # nbclient binds the synchronous versions to its own coroutines: rebind them to ours
    start_new_kernel = run_sync(async_start_new_kernel)
    execute_cell = run_sync(async_execute_cell)

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out.add(id(self.current_cell))  # by identity: papermill may insert cells later
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        kind = msg.get("msg_type")
        if kind == "stream":
            size = len(content.get("text", ""))
        elif kind in ("display_data", "execute_result", "update_display_data"):
            size = sum(len(str(v)) for v in content.get("data", {}).values())
        elif kind == "error":  # always kept, shortened
            content["traceback"] = [line[:2000] for line in content.get("traceback", [])[-40:]]
            content["evalue"] = str(content.get("evalue", ""))[:2000]
            return super().output(outs, msg, display_id, cell_index)
        else:
            return super().output(outs, msg, display_id, cell_index)
        used = self.used.get(cell_index, 0)
        room = max(0, min(self.cell_limit - used, self.notebook_limit - self.total))
        if size <= room:
            self._count(cell_index, size)
            return super().output(outs, msg, display_id, cell_index)
        if kind == "stream" and room > 0:  # keep the beginning
            content["text"] = content["text"][:room]
            super().output(outs, msg, display_id, cell_index)
        if cell_index not in self.cut:
            self.cut.add(cell_index)
            outs.append(nbformat.v4.new_output("stream", name="stderr", text=TRUNCATED))
        self.truncated = True
        self._count(cell_index, room)
        return None

    def _count(self, cell_index, size):
        self.used[cell_index] = self.used.get(cell_index, 0) + size
        self.total += size


class GraderEngine(NBClientEngine):
    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        for unused in ("input_path", "log_output", "stdout_file", "stderr_file"):
            kwargs.pop(unused, None)
        timeout = kwargs.pop("execution_timeout", None)
        client = GraderClient(nb_man, kernel_name=kernel_name, timeout=timeout,
                              startup_timeout=kwargs.pop("start_timeout", 60), log_output=False, **kwargs)
        STATE["client"] = client
        return client.execute()


STATE: dict = {}


def kill_kernel() -> None:
    STATE["notebook_timeout"] = True
    process = STATE.get("kernel")
    if process is not None and process.poll() is None:
        process.kill()


def run(job: dict) -> dict:
    source = Path(job["notebook"])
    output = source.with_name("executed.ipynb")
    papermill_engines.register(ENGINE, GraderEngine)
    timer = threading.Timer(job["notebook_timeout"], kill_kernel)
    timer.daemon = True
    started = time.monotonic()
    status, message = "ok", ""
    timer.start()
    try:
        notebook = papermill.execute_notebook(
            str(source), str(output), parameters=job["parameters"], engine_name=ENGINE, kernel_name=KERNEL,
            execution_timeout=job["cell_timeout"], allow_errors=True, interrupt_on_timeout=True,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": f"ran over {job['cell_timeout']} s",
                              "traceback": []},
            progress_bar=False, log_output=False, cwd=str(source.parent), start_timeout=60,
        )
    except PapermillExecutionError:
        notebook = None
    except Exception as error:  # DeadKernelError, CellTimeoutError on a kernel that ignores interrupts, ...
        notebook = None
        kind = type(error).__name__
        if kind == "CellTimeoutError":  # the timed-out cell is recorded; the status comes from it
            message = "the kernel did not respond to the interrupt, so the run stopped at that cell"
        elif kind == "DeadKernelError":
            status, message = "dead", "the kernel died; the cells after it did not run"
        else:
            status, message = "failed", f"{kind}: {str(error)[:500]}"
    finally:
        timer.cancel()
    client = STATE.get("client")
    if notebook is None:
        notebook = client.nb if client is not None else nbformat.read(source, as_version=4)
    kernel = STATE.get("kernel")
    exit_code = kernel.poll() if kernel is not None else None
    if STATE.get("notebook_timeout"):
        status, message = "notebook-timeout", f"the notebook ran over {job['notebook_timeout']} s"
    cells = []
    number = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        injected = "injected-parameters" in cell.metadata.get("tags", [])
        number += 0 if injected else 1
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        record = {"number": number, "injected": injected, "first_line": cell.source.strip().split("\n")[0][:80],
                  "executed": cell.get("execution_count") is not None or bool(errors),
                  "timed_out": client is not None and id(cell) in client.timed_out}
        if errors:
            last = errors[-1]
            record["error"] = {"ename": str(last.get("ename", "")), "evalue": str(last.get("evalue", ""))[:500]}
        running = client is not None and cell is client.current_cell
        if running and status in ("dead", "notebook-timeout", "failed"):
            record["running_when_stopped"] = True
        cells.append(record)
    for cell in notebook.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return {"status": status, "message": message, "kernel_exit": exit_code, "cells": cells,
            "truncated": bool(client and client.truncated), "seconds": round(time.monotonic() - started, 2),
            "notebook": nbformat.writes(notebook)}


def main() -> None:
    set_not_dumpable()  # the kernel (same user) cannot open /proc/<this pid>/fd and write a fake result
    channel = os.dup(1)  # results go here; everything else printed in this process goes to stderr
    os.dup2(2, 1)
    job = json.loads(Path(sys.argv[1]).read_text())
    result = run(job)
    with os.fdopen(channel, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
