"""The submission's side of the hidden tests: ``python server.py JOB.json``, run inside the sandbox.

It executes the submission's code cells one by one (each under a timeout, errors recorded and skipped,
as a forgiving notebook run would), then answers requests from the grader: look up a name, call an
object, with plain values and tensors crossing as JSON (:mod:`protocol`) and every other object staying
here behind a reference. The process's stdin/stdout/stderr are /dev/null once the channel is set up, so
what the submission prints goes nowhere. Whatever this process sends can only be the submission's own
answers: the tests, their expected values and the score live in the grader's process.
"""

from __future__ import annotations

import builtins
import difflib
import json
import os
import re
import signal
import sys
import traceback
from pathlib import Path

if __package__:
    from grader import protocol
    from grader.sandbox import GUARD_ENV, guard_network
else:  # started by file path inside the sandbox: import the siblings, not the grader package
    import protocol
    from sandbox import GUARD_ENV, guard_network

    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    sys.modules.pop("sandbox", None)


class GraderTimeout(BaseException):  # noqa: N818 (like KeyboardInterrupt: not an Exception)
    """Raised in the submission's code by the per-cell / per-call alarm."""


MAGIC = re.compile(r"^(\s*)[%!]")


def without_magics(source: str) -> str:
    """IPython line magics and shell escapes become ``pass`` (cell magics drop their first line)."""
    lines = source.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        lines = lines[1:]
    return "\n".join(MAGIC.sub(r"\1pass  # ", line) if MAGIC.match(line) else line for line in lines)


class _Shell:
    """Stands in for ``get_ipython()``: every method does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class Server:
    def __init__(self, reader: int, writer: int, timeout: float) -> None:
        self.reader, self.writer, self.timeout = reader, writer, timeout
        self.namespace: dict = {"__name__": "__main__", "__builtins__": builtins,
                                "get_ipython": _Shell, "display": lambda *args, **kwargs: None}
        self.objects: dict[int, object] = {}

    def send(self, message: dict) -> None:
        protocol.write_frame(self.writer, message)

    # ------------------------------------------------------------------ loading the submission
    def load(self, cells: list[dict], skip: set[int]) -> None:
        for index, cell in enumerate(cells):
            if index in skip:
                self.send({"event": "cell", "index": index, "status": "skipped"})
                continue
            self.send({"event": "start", "index": index})
            status, error = "ok", None
            try:
                code = compile(without_magics(cell["source"]), f"<code cell {cell['number']}>", "exec")
                self._alarmed(exec, code, self.namespace)
            except GraderTimeout:
                status, error = "timeout", f"ran over {self.timeout:g} s"
            except BaseException as caught:  # noqa: BLE001 (SystemExit, KeyboardInterrupt: a cell's problem)
                status, error = "error", self._describe(caught)
            self.send({"event": "cell", "index": index, "status": status, "error": error})
        self.send({"event": "ready"})

    def _alarmed(self, function, *args, **kwargs):
        def ring(signum, frame):
            raise GraderTimeout

        previous = signal.signal(signal.SIGALRM, ring)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            return function(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @staticmethod
    def _describe(error: BaseException) -> dict:
        frames = traceback.format_exception(type(error), error, error.__traceback__)
        return {"type": type(error).__name__, "message": str(error)[:2000], "traceback": "".join(frames)[-3000:]}

    # ------------------------------------------------------------------ answering requests
    def _reference(self, value) -> dict:
        key = len(self.objects) + 1
        self.objects[key] = value
        return {"__ref__": key, "type": type(value).__name__}

    def _dereference(self, value):
        key = value.get("__ref__")
        if key not in self.objects:
            raise KeyError(f"unknown object reference {key!r}")
        return self.objects[key]

    def _lookup(self, name: str):
        if name in self.namespace and not name.startswith("__"):
            return self.namespace[name]
        candidates = [k for k in self.namespace if not k.startswith("_")]
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}? (keep the names the assignment asks for)" \
            if close else ""
        raise NameError(f"the submission defines no {name!r}{hint}")

    def handle(self, request: dict):
        op = request.get("op")
        if op == "get":
            ref = request.get("ref", 0)
            if ref == 0:
                return self._lookup(str(request["name"]))
            return getattr(self._dereference({"__ref__": ref}), str(request["name"]))
        if op == "call":
            target = self._dereference({"__ref__": request["ref"]})
            args = protocol.decode(request.get("args", []), self._dereference)
            kwargs = protocol.decode(request.get("kwargs", {"__dict__": {}}), self._dereference)
            return self._alarmed(target, *args, **kwargs)
        raise ValueError(f"unknown request {op!r}")

    def serve(self) -> None:
        while True:
            try:
                request = protocol.read_frame(self.reader)
            except protocol.ChannelClosed:
                return
            try:
                value = self.handle(request)
                reply = {"ok": protocol.encode(value, self._reference)}
            except GraderTimeout:
                reply = {"error": {"type": "Timeout", "message": f"the call ran over {self.timeout:g} s",
                                   "traceback": ""}}
            except BaseException as caught:  # noqa: BLE001
                reply = {"error": self._describe(caught)}
            self.send(reply)


def main() -> None:
    reader, writer = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    job = json.loads(Path(sys.argv[1]).read_text())
    if os.environ.get(GUARD_ENV):
        guard_network()
    server = Server(reader, writer, float(job["timeout"]))
    server.load(job["cells"], set(job.get("skip", [])))
    server.serve()
    os._exit(0)  # the submission's atexit handlers and threads do not get the last word


if __name__ == "__main__":
    main()
