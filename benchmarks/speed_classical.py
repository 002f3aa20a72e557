"""Speed of the classical models, measured in one run on this machine (ratios, not timed tests).

    python benchmarks/speed_classical.py [--threads 2]

Prints and stores (section `speed_classical` of benchmarks/results.json):
- NADE 1×500: fast (running pre-activation, blocked) vs naive (recompute every conditional) likelihood, ratio;
- NADE 1×500: fast vs naive sampling, ratio;
- training throughput (images/s, a full step: forward, backward, Adam) of FVSBN, NADE 1×500, MADE 1×500
  and MADE 1×500 with 8 masks at batch 100, on binarized MNIST batches;
- steadiness over a whole training run: images/s of the first and the last epoch of each shipped model,
  read from the per-epoch times its training run recorded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from arlib import data, pretrained
from arlib.models import FVSBN, MADE, NADE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_time, training_seconds, update_results  # noqa: E402


def throughput(model: torch.nn.Module, batches: torch.Tensor, warmup: int = 10) -> float:
    """Images per second over full Adam steps on ``batches`` (n_steps, batch, 784), after a warm-up."""
    return (len(batches) - warmup) * batches.shape[1] / training_seconds(model, batches, model.nll, warmup=warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60, help="timed training steps per model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as arlib.train.fit does
    torch.manual_seed(0)
    x_train = data.load("binarized_mnist", "train").float()
    results: dict = {"threads": args.threads}

    nade = NADE(784, 500).eval()
    x = x_train[:100]
    with torch.no_grad():
        fast = best_time(lambda: nade.log_prob(x))
        naive = best_time(lambda: nade.log_prob_naive(x), repeats=1)
        sample_fast = best_time(lambda: nade.sample(10, generator=torch.Generator().manual_seed(0)))
        sample_naive = best_time(lambda: nade.sample_naive(10, generator=torch.Generator().manual_seed(0)),
                                 repeats=1)
    results["nade_log_prob_seconds"] = {"fast": fast, "naive": naive, "batch": 100}
    results["nade_log_prob_speedup"] = naive / fast
    results["nade_sample_seconds"] = {"fast": sample_fast, "naive": sample_naive, "n": 10}
    results["nade_sample_speedup"] = sample_naive / sample_fast
    print(f"NADE 1x500 likelihood of 100 images: fast {fast * 1e3:.1f} ms, naive {naive * 1e3:.1f} ms, "
          f"ratio {naive / fast:.1f}x")
    print(f"NADE 1x500 sampling of 10 images:    fast {sample_fast * 1e3:.1f} ms, naive {sample_naive * 1e3:.1f} ms, "
          f"ratio {sample_naive / sample_fast:.1f}x")

    batches = x_train[torch.randperm(len(x_train))[: 100 * (args.steps + 10)]].view(-1, 100, 784)
    models = {"fvsbn": FVSBN(784), "made": MADE(784, [500]),
              "made-8masks": MADE(784, [500], n_masks=8, order="random"), "nade": NADE(784, 500)}
    results["train_images_per_second"] = {}
    for name, model in models.items():
        steps = batches if name != "nade" else batches[: 10 + max(args.steps // 4, 5)]
        rate = throughput(model.train(), steps)
        results["train_images_per_second"][name] = rate
        print(f"training throughput {name:12s} {rate:9,.0f} images/s (batch 100, Adam, {args.threads} threads)")

    results["shipped_epoch_images_per_second"] = {}
    for name in pretrained.available():
        sidecar = pretrained.info(name)
        seconds = sidecar.get("history", {}).get("seconds")
        if sidecar.get("dataset") == "binarized_mnist" and isinstance(seconds, list) and len(seconds) > 1:
            first, last = 50_000 / seconds[0], 50_000 / seconds[-1]
            results["shipped_epoch_images_per_second"][name] = {"first": first, "last": last,
                                                                "epochs": len(seconds)}
            print(f"{name}: first epoch {first:,.0f} images/s, last ({len(seconds)}) {last:,.0f} images/s")
    update_results("speed_classical", results)


if __name__ == "__main__":
    main()
