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
same command runs again; --epochs sets the maximum epochs of every variant. The stored (fp16) weights
are re-loaded and evaluated on train, valid and test; those numbers go into the sidecar with the exact
command line. The script also fits two closed-form
baselines on the training digits, independent Gaussians and one full-covariance Gaussian, and records
their NLLs in every sidecar under "baselines". All NLLs are in nats per image in the scaled space
[0, 1)^64; "*_nll_counts" adds 64 ln 17 (count units, an upper bound on the NLL of the discrete counts).
Training uses one CPU thread by default (--threads).
"""

from __future__ import annotations

import math

import recipes
import torch
from recipes import Recipe

import arlib
from arlib import evaluation, realdata, train
from arlib.models import RNADE

DATASET = "mnist8x8"
ADAM = dict(dataset=DATASET, batch_size=100, lr=3e-3, patience=5)
RNADE_CONFIG = {"n_dims": realdata.SIDE**2, "hidden": 100}
RECIPES = {  # name prefix -> recipe
    "rnade": Recipe(RNADE, {**RNADE_CONFIG, "n_components": 10}, epochs=30, **ADAM),
    "rnadeu": Recipe(RNADE, {**RNADE_CONFIG, "n_components": 10, "uniform_weights": True}, epochs=60, **ADAM),
    "rnade1": Recipe(RNADE, {**RNADE_CONFIG, "n_components": 1}, epochs=30, **ADAM),
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
    """Per split: the NLL in the scaled space, in count units (+ 64 ln 17), and in bits per count."""
    shift = realdata.count_log_jacobian(model.n_dims)
    metrics: dict[str, float] = {}
    for split, x in splits.items():
        nll = train.evaluate(model, x).nll
        metrics[f"{split}_nll"] = nll
        metrics[f"{split}_nll_counts"] = nll + shift
        metrics[f"{split}_bits_per_count"] = (nll + shift) / (model.n_dims * math.log(2))
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = recipes.arguments(__doc__, "epochs", threads=1)
    parser.add_argument("variants", nargs="*", metavar="variant",
                        help=f"which models to train, from {list(RECIPES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = set(args.variants) - set(RECIPES)
    if unknown:
        parser.error(f"unknown variant(s) {sorted(unknown)}; expected some of {list(RECIPES)}")
    torch.set_num_threads(args.threads)
    command = recipes.command(__file__, argv)

    splits = recipes.load_splits(DATASET)
    baselines = gaussian_baselines(splits["train"], splits)
    print("closed-form baselines:", baselines)
    for variant in args.variants or list(RECIPES):
        name = f"{variant}-{DATASET}"
        recipe = RECIPES[variant].lasting(args.epochs)
        arlib.seed(args.seed)
        model = recipe.model()
        history = recipe.fit(model, splits["train"], splits["valid"], checkpoint=args.checkpoints / f"{name}.pt",
                             seed=args.seed)
        seconds = sum(history.seconds)  # training epochs only (validation passes excluded), resumed runs included
        record = {"hidden": recipe.config["hidden"], **recipe.record(), "seed": args.seed, "threads": args.threads}
        extra = {"history": history.to_dict(), "epochs_run": history.epochs, "recipe": record,
                 "baselines": baselines, "nll_space": "nats per image for x in [0, 1)^64 (x = (count + u) / 17)"}
        metrics = evaluation.publish(name, model, command, lambda stored: measure(stored, splits),
                                     train_seconds=seconds, dataset=DATASET, extra=extra)
        print(name, metrics, f"best epoch {history.best_epoch} of {history.epochs}, {seconds:.0f} s")


if __name__ == "__main__":
    main()
