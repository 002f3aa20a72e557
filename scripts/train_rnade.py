"""Train RNADE on the dequantised 8×8 digits (`mnist8x8`) and ship the weights with `arlib.pretrained`.

    python scripts/train_rnade.py                  # all three models below, one after the other
    python scripts/train_rnade.py rnade rnade1     # only some of them

| name                 | conditionals                                             |
| -------------------- | -------------------------------------------------------- |
| rnade-mnist8x8       | mixture of K = 10 Gaussians, learned weights π = softmax |
| rnadeu-mnist8x8      | mixture of K = 10 Gaussians, uniform weights π = 1/K (*) |
| rnade1-mnist8x8      | a single Gaussian (K = 1): the baseline                  |

(*) converges much more slowly than the others (components in the wrong place cannot be switched off),
so it gets twice the epochs.

Adam with early stopping on the 10,000 validation digits; the best epoch's weights are kept. A
checkpoint is written after every epoch (under data/checkpoints/, or --checkpoints) and resumed when the
same command runs again. The stored (fp16) weights are re-loaded and evaluated on train, valid and test;
those numbers go into the sidecar with the exact command line. The script also fits two closed-form
baselines on the training digits, independent Gaussians and one full-covariance Gaussian, and records
their NLLs in every sidecar under "baselines". All NLLs are in nats per image in the scaled space
[0, 1)^64; "*_nll_counts" adds 64 ln 17 (count units, an upper bound on the NLL of the discrete counts).
Training uses one CPU thread by default (--threads).
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path

import torch

import arlib
from arlib import data, pretrained, realdata, train
from arlib.models import RNADE

ROOT = Path(__file__).resolve().parent.parent
DATASET = "mnist8x8"
RECIPE = {"hidden": 100, "batch_size": 100, "lr": 3e-3, "patience": 5}
VARIANTS = {  # name prefix -> (maximum epochs, RNADE keyword arguments besides n_dims and hidden)
    "rnade": (30, {"n_components": 10}),
    "rnadeu": (60, {"n_components": 10, "uniform_weights": True}),
    "rnade1": (30, {"n_components": 1}),
}


def gaussian_baselines(x_train: torch.Tensor, splits: dict[str, torch.Tensor]) -> dict[str, float]:
    """Test NLLs (nats per image) of the maximum-likelihood independent and full-covariance Gaussians."""
    x64 = x_train.double()
    mean, cov = x64.mean(0), torch.cov(x64.T, correction=0)
    independent = torch.distributions.Normal(mean, cov.diagonal().sqrt())
    full = torch.distributions.MultivariateNormal(mean, cov)
    out = {}
    for split, x in splits.items():
        out[f"independent_gaussian_{split}_nll"] = round(-independent.log_prob(x.double()).sum(1).mean().item(), 4)
        out[f"full_gaussian_{split}_nll"] = round(-full.log_prob(x.double()).mean().item(), 4)
    return out


def measure(model: RNADE, splits: dict[str, torch.Tensor]) -> dict[str, float]:
    shift = realdata.count_log_jacobian(model.n_dims)
    metrics: dict[str, float] = {}
    for split, x in splits.items():
        result = train.evaluate(model, x)
        metrics[f"{split}_nll"] = round(result.nll, 4)
        metrics[f"{split}_nll_counts"] = round(result.nll + shift, 4)
        metrics[f"{split}_bits_per_count"] = round((result.nll + shift) / (model.n_dims * math.log(2)), 5)
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", metavar="variant",
                        help=f"which models to train, from {list(VARIANTS)} (default: all)")
    parser.add_argument("--epochs", type=int, help="maximum epochs for every variant (default: 30, 60 for rnadeu)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "data" / "checkpoints")
    args = parser.parse_args(argv)
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variant(s) {sorted(unknown)}; expected some of {list(VARIANTS)}")
    torch.set_num_threads(args.threads)
    command = " ".join(["python scripts/train_rnade.py", shlex.join(sys.argv[1:] if argv is None else argv)]).strip()

    splits = {split: data.load(DATASET, split) for split in ("train", "valid", "test")}
    baselines = gaussian_baselines(splits["train"], splits)
    print("closed-form baselines:", baselines)
    for variant in args.variants or list(VARIANTS):
        name = f"{variant}-{DATASET}"
        epochs, kwargs = VARIANTS[variant]
        epochs = args.epochs or epochs
        arlib.seed(args.seed)
        model = RNADE(realdata.SIDE**2, RECIPE["hidden"], **kwargs)
        history = train.fit(model, splits["train"], splits["valid"], epochs=epochs,
                            batch_size=RECIPE["batch_size"], lr=RECIPE["lr"], patience=RECIPE["patience"],
                            checkpoint=args.checkpoints / f"{name}.pt", seed=args.seed)
        seconds = sum(history.seconds)  # training epochs only (validation passes excluded), resumed runs included
        recipe = {**RECIPE, "epochs": epochs, "seed": args.seed, "threads": args.threads}
        extra = {"history": history.to_dict(), "epochs_run": history.epochs, "recipe": recipe,
                 "baselines": baselines, "nll_space": "nats per image for x in [0, 1)^64 (x = (count + u) / 17)"}
        pretrained.save(name, model, {}, command, train_seconds=seconds, dataset=DATASET, half=True, extra=extra)
        metrics = measure(pretrained.load(name), splits)  # the weights as stored (fp16), not the live model
        pretrained.save(name, model, metrics, command, train_seconds=seconds, dataset=DATASET, half=True, extra=extra)
        print(name, metrics, f"best epoch {history.best_epoch} of {history.epochs}, {seconds:.0f} s")


if __name__ == "__main__":
    main()
