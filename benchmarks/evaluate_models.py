"""Evaluate every shipped model on its test split and write the `models` section of benchmarks/results.json.

    python benchmarks/evaluate_models.py

Each row: the model's headline metric (`arlib.evaluation.headline_metric`: test NLL in nats per example,
or nats per character for text) measured now from the stored weights, the value recorded in the sidecar
when the model was shipped, the published figure for the same data where there is one, the parameter
count, and the training time and mean time per epoch from the sidecar.
"""

from __future__ import annotations

import math
import sys
import time

import torch

from arlib import data, evaluation, pretrained, train
from arlib.models import MADE

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import update_results  # noqa: E402

# Published test NLLs (nats) on the same data, with their source.
PUBLISHED = {
    "fvsbn-binarized-mnist": (97.45, "FVSBN, Larochelle & Murray (2011)"),
    "nade-binarized-mnist": (88.86, "NADE 1×500, Larochelle & Murray (2011)"),
    "made-binarized-mnist": (88.40, "MADE 1 hidden layer, 1 mask, Germain et al. (2015)"),
    "made-8masks-binarized-mnist": (86.64, "MADE 32 masks, ensemble, Germain et al. (2015)"),
    "gpt-tinyshakespeare": (1.88, "nanoGPT shakespeare_char CPU configuration, validation loss"),
    "gpt-names": (1.92, "makemore Transformer, test loss (nats/char)"),
}


def main() -> None:
    torch.set_num_threads(2)
    rows = {}
    for name in pretrained.available():
        sidecar = pretrained.info(name)
        key = evaluation.headline_metric(name)
        start = time.perf_counter()
        value = evaluation.measure(name)
        seconds = time.perf_counter() - start
        row = {
            "class": sidecar["class"],
            "dataset": sidecar["dataset"],
            "metric": key,
            "value": round(value, 4),
            "sidecar_value": sidecar["metrics"][key],
            "n_parameters": sidecar["n_parameters"],
            "train_seconds": sidecar.get("train_seconds"),
            "eval_seconds": round(seconds, 2),
            "command": sidecar["command"],
        }
        if key == "test_nll" and sidecar["dataset"] == "binarized_mnist":
            row["test_bits_per_dim"] = round(value / (784 * math.log(2)), 5)
        model = pretrained.load(name)
        if isinstance(model, MADE) and model.n_masks > 1:
            x = data.load("binarized_mnist", "test")
            ens = -train.log_probs(model, x, score=model.log_prob_ensemble).mean().item()
            row["test_nll_ensemble"] = round(ens, 4)
        if getattr(model, "n_classes", None):  # a class-conditional model also classifies: argmax_y log p(x | y)
            x, y = data.load(sidecar["dataset"], "test")
            predicted = model.classify(x.view(-1, *model.image_shape))
            row["test_accuracy"] = round((predicted == y).double().mean().item(), 4)
        epochs = sidecar.get("history", {}).get("seconds")
        if isinstance(epochs, list) and epochs:  # per-epoch times (image models); text models record steps
            row["epochs"] = len(epochs)
            row["seconds_per_epoch"] = round(sum(epochs) / len(epochs), 2)
        if name in PUBLISHED:
            row["published"], row["published_source"] = PUBLISHED[name]
        rows[name] = row
        extra = f", ensemble {row['test_nll_ensemble']:.2f}" if "test_nll_ensemble" in row else ""
        extra += f", classifier accuracy {row['test_accuracy']:.4f}" if "test_accuracy" in row else ""
        print(f"{name:32s} {key} {value:9.4f}{extra}  ({row['n_parameters']:,} parameters)")
        assert math.isfinite(value)
    update_results("models", {"rows": rows})


if __name__ == "__main__":
    main()
