"""arlib.train.fit under torchrun: two CPU processes (gloo) reach the weights of one process on the same data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

import arlib
from arlib.models import MADE

WORKER = Path(__file__).with_name("ddp_worker.py")


def run(tmp_path: Path, processes: int) -> dict:
    out = tmp_path / f"weights-{processes}.pt"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command = (launcher if processes > 1 else [sys.executable]) + [str(WORKER), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return torch.load(out, weights_only=False)


def test_two_gloo_processes_reach_the_weights_of_one(tmp_path):
    single, double = run(tmp_path, 1), run(tmp_path, 2)
    assert single["world"] == 1 and double["world"] == 2
    arlib.seed(0)
    initial = MADE(8, [16], order="random").state_dict()  # the workers' initial weights: training moved them
    for n, one in single["runs"].items():
        two = double["runs"][n]
        for name, value in one["state"].items():
            torch.testing.assert_close(two["state"][name], value, rtol=1e-4, atol=1e-5)
            if value.is_floating_point() and name in initial:
                assert not torch.equal(value, initial[name]), name
        for a, b in zip(one["train_nll"], two["train_nll"], strict=True):
            assert abs(a - b) < 1e-4
