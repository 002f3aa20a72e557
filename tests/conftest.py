"""Shared fixtures. Every test runs offline: connecting to anything but this machine fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import arlib

ROOT = Path(__file__).resolve().parent.parent


def _mirror() -> Path:
    value = os.environ.get("ARLIB_DATA_MIRROR")
    if not value:
        pytest.exit("ARLIB_DATA_MIRROR is not set: point it at the offline data mirror (e.g. ../shared/data)", 2)
    return Path(value)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Refuse outside connections (loopback stays open for Jupyter kernels)."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in {"localhost", "::1"}
                                          or self.family == socket.AF_UNIX):
            raise OSError(f"tests must not use the network (tried {address!r})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def seeded():
    """Seed python, numpy and torch before every test, so no result depends on which tests ran before."""
    arlib.seed(0)


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tests on one thread (faster for tiny models), restoring the thread count afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mirror() -> Path:
    return _mirror()


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty ARLIB_CACHE, and no parsed datasets held in memory."""
    from arlib import data

    monkeypatch.setenv("ARLIB_CACHE", str(tmp_path / "cache"))
    data.clear_memory_cache()
    yield tmp_path / "cache"
    data.clear_memory_cache()


@pytest.fixture(scope="session")
def html(tmp_path_factory) -> Path:
    """The book built from the committed notebook outputs (nbval already re-executes every chapter and
    compares; `make book` executes them again). Same configuration otherwise, warnings are errors."""
    out = tmp_path_factory.mktemp("book")
    config = (ROOT / "_config.yml").read_text()
    assert "execute_notebooks: force" in config
    config = config.replace("execute_notebooks: force", 'execute_notebooks: "off"')
    config = config.replace("offline_assets: _ext", f"offline_assets: {ROOT / '_ext'}")  # relative to the config
    (out / "_config.yml").write_text(config)
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", "--all", "-W", "-n", "--keep-going",
               "--config", str(out / "_config.yml"), "--path-output", str(out), str(ROOT)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "_build" / "html"
