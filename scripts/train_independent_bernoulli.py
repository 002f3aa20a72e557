"""Train the independent-Bernoulli baseline on binarized MNIST and ship it as `bernoulli-binarized-mnist`.

    python scripts/train_independent_bernoulli.py

The maximum-likelihood solution is the mean image (smoothed with one pseudo-count per value), so no
gradient steps are needed; the test NLL is measured on all 10,000 test images from the stored weights.
"""

from __future__ import annotations

import time

import recipes

import arlib
from arlib import evaluation
from arlib.models import IndependentBernoulli

NAME = "bernoulli-binarized-mnist"
DATASET = "binarized_mnist"


def main() -> None:
    arlib.seed(0)
    splits = recipes.load_splits(DATASET)
    start = time.perf_counter()
    model = IndependentBernoulli(784).fit_closed_form(splits["train"], pseudo_count=1.0)
    seconds = time.perf_counter() - start
    metrics = evaluation.publish(NAME, model, recipes.command(__file__, []),
                                 lambda stored: recipes.nll_metrics(stored, splits), train_seconds=seconds,
                                 dataset=DATASET, half=False)  # 784 probabilities, stored as float32
    print(NAME, metrics)


if __name__ == "__main__":
    main()
