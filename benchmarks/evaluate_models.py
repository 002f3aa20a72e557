"""Evaluate every shipped model on its test split and write the `models` section of benchmarks/results.json.

    python benchmarks/evaluate_models.py

Each row: the test NLL measured now from the stored weights (nats per example and bits per dimension),
the NLL recorded in the sidecar when the model was shipped, the published figure for the same data
where there is one, the parameter count, and the training time and mean time per epoch from the sidecar.
"""

from __future__ import annotations

import math
import sys
import time

import torch

from arlib import data, pretrained, train

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import update_results  # noqa: E402

# Published test NLLs (nats) on the same data, with their source.
PUBLISHED = {
    "fvsbn-binarized-mnist": (97.45, "FVSBN, Larochelle & Murray (2011)"),
    "nade-binarized-mnist": (88.86, "NADE 1×500, Larochelle & Murray (2011)"),
    "made-binarized-mnist": (88.40, "MADE 1 hidden layer, 1 mask, Germain et al. (2015)"),
    "made-8masks-binarized-mnist": (86.64, "MADE 1 hidden layer, 32 masks, Germain et al. (2015)"),
}


def test_split(dataset: str) -> torch.Tensor | tuple | None:
    """The test data a model of ``dataset`` is evaluated on (None: no evaluator registered)."""
    if dataset == "binarized_mnist":
        return data.load("binarized_mnist", "test")
    loader = getattr(data, f"{dataset}_test", None)  # datasets derived in arlib expose a test loader
    return loader() if loader is not None else None


def main() -> None:
    torch.set_num_threads(2)
    rows = {}
    for name in pretrained.available():
        sidecar = pretrained.info(name)
        x = test_split(sidecar.get("dataset") or "")
        if x is None:
            print(f"{name}: no test split registered for dataset {sidecar.get('dataset')!r}, skipped")
            continue
        model = pretrained.load(name).float()
        start = time.perf_counter()
        result = train.evaluate(model, x)
        seconds = time.perf_counter() - start
        row = {
            "class": sidecar["class"],
            "dataset": sidecar["dataset"],
            "test_nll": round(result.nll, 4),
            "test_bits_per_dim": round(result.bits_per_dim, 5),
            "sidecar_test_nll": sidecar["metrics"].get("test_nll"),
            "n_parameters": sidecar["n_parameters"],
            "train_seconds": sidecar.get("train_seconds"),
            "eval_seconds": round(seconds, 2),
            "command": sidecar["command"],
        }
        if hasattr(model, "log_prob_ensemble") and getattr(model, "n_masks", 1) > 1:
            with torch.no_grad():
                ens = -torch.cat([model.log_prob_ensemble(b) for b in x.split(1000)]).double().mean().item()
            row["test_nll_ensemble"] = round(ens, 4)
        epochs = sidecar.get("history", {}).get("seconds") or []
        if epochs:
            row["epochs"] = len(epochs)
            row["seconds_per_epoch"] = round(sum(epochs) / len(epochs), 2)
        if name in PUBLISHED:
            row["published_nll"], row["published_source"] = PUBLISHED[name]
        rows[name] = row
        extra = f", ensemble {row['test_nll_ensemble']:.2f}" if "test_nll_ensemble" in row else ""
        print(f"{name:32s} test NLL {row['test_nll']:9.3f}{extra}  ({row['n_parameters']:,} parameters)")
        assert math.isfinite(row["test_nll"])
    update_results("models", {"rows": rows})


if __name__ == "__main__":
    main()
