"""Run by tests/test_distributed.py: one arlib.train.fit, alone or as one of several torchrun processes."""

from __future__ import annotations

import sys

import torch

import arlib
from arlib import train
from arlib.models import MADE


def main(out: str) -> None:
    torch.set_num_threads(1)
    results = {}
    # 67 examples: a last batch of 3, shared 1 + 2 between two processes; 65: a last batch of 1 (one share empty)
    for n in (67, 65):
        arlib.seed(0)
        model = MADE(8, [16], order="random")
        generator = torch.Generator().manual_seed(1)
        x = (torch.rand(n, 8, generator=generator) < 0.3).float()
        history = train.fit(model, x, x[:20], epochs=3, batch_size=16, lr=1e-2, progress=False)
        results[n] = {"state": model.state_dict(), "train_nll": history.train_nll}
    rank, world = train.init_distributed()
    if rank == 0:
        torch.save({"runs": results, "world": world}, out)


if __name__ == "__main__":
    main(sys.argv[1])
