"""Run a command with a submission's code under operating-system limits.

``python -m grader.sandbox [options] -- COMMAND...`` is the process that the grader starts for every
piece of work that executes student code (the papermill run, and the process the hidden tests call into).
It isolates COMMAND in one of three ways, the first that works here (probed once per process), or the one
named by ``ARLIB_GRADER_SANDBOX``:

1. ``bwrap``: Debian's `bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap`` on PATH) makes
   the namespaces, the read-only file system and the private scratch space (:func:`bwrap_command`); this
   module then only copies the job's files in, sets the limits and starts COMMAND;
2. ``namespace``: where bwrap is not installed (or cannot run here), the same isolation made by hand:
   ``unshare -rnmpf`` and the mount / ioctl / prctl calls of this module;
3. ``process``: where neither works (containers that forbid user namespaces), the resource limits plus a
   Python-level socket guard (:func:`guard_network`, installed in the kernel and in the test server), which
   is weaker: determined code can undo it.

The first two give the same guarantees, inside fresh user (where allowed), network, mount and PID namespaces:

- network: a new network namespace holds only a loopback interface (up: the papermill client and its
  kernel talk over it); any outside connection fails with "Network is unreachable";
- files: a private tmpfs (``--scratch-mb``) becomes the working directory, holding a copy of the job's
  files; every other mount is read-only, and the grader's own directories (output, job files, assignment
  sources, other submissions, the user's home) are covered by empty mounts, so student code can neither read
  the hidden tests nor write the grader's output;
- processes: the PID namespace dies with its first process, taking every child (daemons included) along;
  processes outside it are invisible and cannot be signalled;
- privileges: all capabilities are dropped and ``no_new_privs`` set before COMMAND starts.

Everywhere: resource limits (``RLIMIT_AS`` for memory, ``RLIMIT_FSIZE`` per written file, no core files,
``RLIMIT_CPU`` as a backstop).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import fcntl
import functools
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

GUARD_ENV = "ARLIB_GRADER_NETWORK_GUARD"
# "auto" (default: the first that works of the three), "bwrap", "namespace" (by hand, without bwrap) or "process"
MODE_ENV = "ARLIB_GRADER_SANDBOX"
MODES = ("bwrap", "namespace", "process")
INPUT = ".grader-input"  # bwrap: where the job's files are bound read-only, beside the working directory

# <sys/mount.h>, <linux/prctl.h>, <linux/mount.h>
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 28, 38
SECBIT_NOROOT, SECBIT_NOROOT_LOCKED = 1, 2
AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY, SYS_MOUNT_SETATTR = -100, 0x8000, 1, 442


@functools.cache
def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def prctl(option: int, value: int) -> None:
    _check(_libc().prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def set_parent_death_signal(signum: int = signal.SIGKILL) -> None:
    """Die with the parent (Linux only; no-op elsewhere)."""
    try:
        prctl(PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):
        pass


def set_not_dumpable() -> None:
    """Make /proc/<pid>/fd etc. of this process unreadable to other processes of the same user."""
    try:
        prctl(PR_SET_DUMPABLE, 0)
    except (OSError, AttributeError):
        pass


# ---------------------------------------------------------------------------- choosing the sandbox
UNSHARE = ["unshare", "--user", "--map-root-user", "--net", "--mount", "--pid", "--fork", "--kill-child",
           "--mount-proc"]
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # holds the grader package, and arlib installed beside it


def script(name: str) -> str:
    """Modules that run inside the sandbox are started by file path: no ``import grader`` (nor torch) first."""
    return str(HERE / f"{name}.py")


def _probe_bwrap() -> bool:
    """Run a tiny job through the real bwrap command line: every option it uses must work here."""
    if shutil.which("bwrap") is None:
        return False
    work = Path(tempfile.mkdtemp(prefix="arlib-probe-"))
    code = ("import socket\nassert open('probe.txt').read() == 'ok'\nopen('written.txt', 'w').write('ok')\n"
            "try:\n    socket.create_connection(('192.0.2.1', 9), timeout=5)\nexcept OSError as e:\n"
            "    assert e.errno == 101, e\nelse:\n    raise SystemExit('network')\nprint('sandbox-ok')\n")
    try:
        (work / "probe.txt").write_text("ok")
        probe = command([sys.executable, "-c", code], work, 1024, using="bwrap")
        result = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        return result.returncode == 0 and result.stdout.strip() == "sandbox-ok"
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _probe_namespace() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = [*UNSHARE, sys.executable, script("sandbox"), "--probe"]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        return result.returncode == 0 and "sandbox-ok" in result.stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def works(kind: str) -> bool:
    """Whether the ``bwrap`` or the ``namespace`` sandbox works on this machine (probed once)."""
    return {"bwrap": _probe_bwrap, "namespace": _probe_namespace, "process": lambda: True}[kind]()


@functools.cache
def _choose(requested: str) -> str:
    if requested == "auto":
        return next(kind for kind in MODES if works(kind))
    if requested not in MODES:
        raise RuntimeError(f"{MODE_ENV}={requested!r}: expected auto, {', '.join(MODES)}")
    if not works(requested):
        needs = {"bwrap": "the bwrap command", "namespace": "the unshare command and user namespaces"}[requested]
        raise RuntimeError(f"{MODE_ENV}={requested} but that sandbox does not work here (it needs {needs})")
    return requested


def mode() -> str:
    """The sandbox in use: ``ARLIB_GRADER_SANDBOX`` if set, else bwrap, else namespace, else process."""
    return _choose(os.environ.get(MODE_ENV) or "auto")


def namespaces_available() -> bool:
    """Whether submissions run in namespaces (no network, read-only files, private processes)."""
    return mode() != "process"


def describe() -> str:
    kind = mode()
    if kind == "bwrap":
        return "bubblewrap (no network, read-only files, private processes) + resource limits"
    if kind == "namespace":
        return "namespaces (no network, read-only files, private processes) + resource limits"
    return "resource limits + Python socket guard (user namespaces unavailable: weaker isolation)"


def command(target: list[str], work: Path, memory_mb: int, *, hide=(), fsize_mb: int = 256,
            scratch_mb: int = 512, cpu_seconds: int | None = None, using: str | None = None) -> list[str]:
    """The argv that runs ``target`` in the sandbox (``using``, default :func:`mode`); ``work`` holds its input
    files, which are copied into a private scratch space at start (in the process sandbox they are used there)."""
    using = using or mode()
    limits = ["--memory-mb", str(memory_mb), "--fsize-mb", str(fsize_mb)]
    if cpu_seconds:
        limits += ["--cpu-seconds", str(int(cpu_seconds))]
    if using == "bwrap":
        outer, inside, files = bwrap_command(Path(work), hide, scratch_mb)
        return [*outer, sys.executable, script("sandbox"), "--work", str(inside), "--input", str(files), *limits,
                "--", *target]
    inner = [sys.executable, script("sandbox"), "--work", str(work), *limits, "--scratch-mb", str(scratch_mb)]
    if using == "namespace":
        inner.append("--namespace")
        for path in hide:
            inner += ["--hide", str(path)]
        return [*UNSHARE, *inner, "--", *target]
    return [*inner, "--", *target]


def outermost(paths) -> list[Path]:
    """The paths, resolved, without those inside another one of them."""
    paths = sorted({Path(p).resolve() for p in paths})
    return [p for p in paths if not any(q in p.parents for q in paths)]


def bwrap_command(work: Path, hide=(), scratch_mb: int = 512) -> tuple[list[str], Path, Path]:
    """bwrap's part of the command line, the working directory inside, and where ``work`` is seen inside.

    Fresh namespaces (``--unshare-all``: user where allowed, network with loopback up, PID, IPC, UTS), every
    mount read-only (``--ro-bind / /``, a minimal read-only ``/dev``, a ``/proc`` of the PID namespace),
    ``hide`` covered by empty mode-000 read-only tmpfs mounts, a private scratch tmpfs of ``scratch_mb`` (a new
    ``/tmp`` when nothing Python needs lives there, else one over ``work`` itself) with ``work`` bound
    read-only inside it, all capabilities dropped, ``no_new_privs`` (bwrap always sets it), a new session, and
    death with the parent (the grader's ``kill`` of bwrap takes the whole PID namespace along)."""
    work = work.resolve()
    tmp = Path("/tmp")
    private_tmp = bool(hideable([tmp], needed_paths()))
    scratch = tmp if private_tmp else work
    argv = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev", "--remount-ro", "/dev", "--proc", "/proc"]
    for path in outermost(hide):
        if private_tmp and (path == tmp or tmp in path.parents):
            continue  # gone with the private /tmp
        argv += ["--perms", "0000", "--size", "4096", "--tmpfs", str(path), "--remount-ro", str(path)]
    argv += ["--perms", "1777" if private_tmp else "0700", "--size", str(scratch_mb * 2**20), "--tmpfs", str(scratch),
             "--ro-bind", str(work), str(scratch / INPUT)]
    return argv, scratch / "work", scratch / INPUT


def needed_paths() -> list[Path]:
    """What sandboxed code must still see: the interpreter, its packages, the grader and arlib beside it, the data
    mirror and cache."""
    paths = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.executable).resolve().parent,
             ROOT]
    paths += [Path(p) for p in sys.path if p and Path(p).is_dir()]
    paths += [Path(os.environ[v]) for v in ("ARLIB_DATA_MIRROR", "ARLIB_CACHE") if os.environ.get(v)]
    return [p.resolve() for p in paths]


def hideable(paths, keep=None) -> list[Path]:
    """Directories that can be covered without hiding anything in ``keep`` (default :func:`needed_paths`)."""
    keep = needed_paths() if keep is None else [Path(p).resolve() for p in keep]
    out = set()
    for path in paths:
        path = Path(path).resolve()
        if path == Path("/") or not path.is_dir():
            continue
        if any(k == path or path in k.parents for k in keep):
            continue
        out.add(path)
    return sorted(out)


def private_paths() -> list[Path]:
    """The user's home (or, when Python lives there, its usual credential folders): never shown to submissions."""
    home = Path.home()
    if hideable([home]):
        return [home]
    names = [".ssh", ".gnupg", ".aws", ".config", ".kube", ".docker", ".azure", ".local/share/keyrings"]
    return hideable([home / n for n in names])


# ---------------------------------------------------------------------------- the namespace sandbox by hand (no bwrap)
def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def encode(text):
        return None if text is None else text.encode()

    _check(_libc().mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)),
           f"mount {target}")


def _mount_setattr(path: str, set_flags: int, clear_flags: int) -> None:
    attr = struct.pack("QQQQ", set_flags, clear_flags, 0, 0)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), path.encode(),
                          ctypes.c_uint(AT_RECURSIVE), buffer, ctypes.c_size_t(len(attr)))
    _check(int(result), f"mount_setattr {path}")


def _loopback_up() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        request = struct.pack("16sH14s", b"lo", 0, b"\0" * 14)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, 0x8913, request)[:18])[1]  # SIOCGIFFLAGS
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b"\0" * 14))  # SIOCSIFFLAGS, IFF_UP
    finally:
        sock.close()


def _drop_privileges() -> None:
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for capability in range(last + 1):
        prctl(PR_CAPBSET_DROP, capability)
    prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED)  # uid 0 gains nothing at exec
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def _isolate_files(work: Path, hide: list[str], scratch_mb: int) -> Path:
    """Mount namespace set-up; returns the private working directory (a fresh tmpfs)."""
    files = {p.relative_to(work): p.read_bytes() for p in work.rglob("*") if p.is_file()}
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for path in hide:
        try:
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=000")
        except OSError:
            pass  # inside an already hidden folder
    tmp = Path("/tmp")
    if hideable([tmp], needed_paths()):  # a private /tmp: the grader's and other submissions' files vanish
        _mount("tmpfs", str(tmp), "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_mb}m,mode=1777")
        scratch, final = tmp, tmp / "work"
    else:
        _mount("tmpfs", str(work), "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_mb}m,mode=700")
        scratch, final = work, work
    for relative, data in files.items():
        (final / relative).parent.mkdir(parents=True, exist_ok=True)
        (final / relative).write_bytes(data)
    _mount_setattr("/", MOUNT_ATTR_RDONLY, 0)
    _mount_setattr(str(scratch), 0, MOUNT_ATTR_RDONLY)
    return final


def _probe() -> None:
    work = tempfile.mkdtemp(prefix="arlib-probe-")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=700")
    (Path(work) / "probe").write_text("ok")
    _check(_libc().umount2(work.encode(), 0), f"umount {work}")
    os.rmdir(work)
    _mount_setattr("/", MOUNT_ATTR_RDONLY, 0)
    _loopback_up()
    _drop_privileges()


# ---------------------------------------------------------------------------- inside, whichever sandbox
def _copy_in(source: Path, target: Path) -> None:
    """bwrap: the job's files (bound read-only) copied into the private working directory."""
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (target / path.relative_to(source)).write_bytes(path.read_bytes())


def _environment(work: Path) -> None:
    """Home, temporary and Jupyter/IPython/matplotlib folders inside the working directory."""
    folders = {"HOME": "", "TMPDIR": ".tmp", "JUPYTER_PATH": "jupyter", "JUPYTER_RUNTIME_DIR": ".runtime",
               "JUPYTER_CONFIG_DIR": ".jupyter", "JUPYTER_DATA_DIR": ".local/share/jupyter",
               "IPYTHONDIR": ".ipython", "MPLCONFIGDIR": ".mpl", "XDG_CACHE_HOME": ".cache",
               "XDG_CONFIG_HOME": ".config"}
    for variable, folder in folders.items():
        path = work / folder
        path.mkdir(parents=True, exist_ok=True)
        os.environ[variable] = str(path)


def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m grader.sandbox")
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--memory-mb", type=int, default=2048)
    parser.add_argument("--fsize-mb", type=int, default=256)
    parser.add_argument("--scratch-mb", type=int, default=512)
    parser.add_argument("--cpu-seconds", type=int)
    parser.add_argument("--namespace", action="store_true", help="make the namespaces' isolation here (no bwrap)")
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--input", type=Path, help="inside bwrap: the job's files, to copy into --work")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.probe:  # inside fresh namespaces: can we do everything the sandbox needs?
        _probe()
        print("sandbox-ok")
        return
    target = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not target or args.work is None:
        parser.error("needs --work DIR -- COMMAND...")
    work = args.work.resolve()
    if args.namespace:
        _loopback_up()
        work = _isolate_files(work, args.hide, args.scratch_mb)
        _drop_privileges()
    elif args.input is not None:  # bwrap made the namespaces, the read-only mounts and the scratch tmpfs
        work.mkdir(parents=True, exist_ok=True)
        _copy_in(args.input, work)
    else:
        os.environ[GUARD_ENV] = "1"
    _environment(work)
    _limit(resource.RLIMIT_AS, args.memory_mb * 2**20)
    _limit(resource.RLIMIT_FSIZE, args.fsize_mb * 2**20)
    _limit(resource.RLIMIT_CORE, 0)
    if args.cpu_seconds:
        _limit(resource.RLIMIT_CPU, args.cpu_seconds)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # too large a file: EFBIG for the writer, not a dead process
    os.chdir(work)
    sys.stdout.flush()
    os.execvp(target[0], target)


# ---------------------------------------------------------------------------- fallback network guard
def guard_network() -> None:
    """Refuse every internet-family connection from Python code (the fallback without a network namespace)."""

    def refuse(*args, **kwargs):
        raise OSError(101, "Network is unreachable (network access is disabled while grading)")

    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse()
        return original_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse()
        return original_connect_ex(self, address)

    def sendto(self, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse()
        return original_sendto(self, *args)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    socket.gethostbyname = refuse


if __name__ == "__main__":
    main()
