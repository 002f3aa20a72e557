"""Train the independent-Bernoulli baseline on binarized MNIST and ship it as `bernoulli-binarized-mnist`.

    python scripts/train_independent_bernoulli.py

The maximum-likelihood solution is the mean image (smoothed with one pseudo-count per value), so no
gradient steps are needed; the test NLL is measured on all 10,000 test images from the stored weights.
"""

from __future__ import annotations

import time

import arlib
from arlib import data, pretrained, train
from arlib.models import IndependentBernoulli

NAME = "bernoulli-binarized-mnist"


def main() -> None:
    arlib.seed(0)
    start = time.perf_counter()
    model = IndependentBernoulli(784).fit_closed_form(data.load("binarized_mnist", "train"), pseudo_count=1.0)
    seconds = time.perf_counter() - start
    command = "python scripts/train_independent_bernoulli.py"
    pretrained.save(NAME, model, {}, command, train_seconds=seconds, dataset="binarized_mnist")
    stored = pretrained.load(NAME)
    metrics = {}
    for split in ("train", "valid", "test"):
        result = train.evaluate(stored, data.load("binarized_mnist", split))
        metrics[f"{split}_nll"] = round(result.nll, 4)
        metrics[f"{split}_bits_per_dim"] = round(result.bits_per_dim, 5)
    pretrained.save(NAME, model, metrics, command, train_seconds=seconds, dataset="binarized_mnist")
    print(NAME, metrics)


if __name__ == "__main__":
    main()
