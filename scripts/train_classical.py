"""Train a density model of binarized MNIST (FVSBN, NADE, MADE, PixelCNN family) and ship it with `arlib.pretrained`.

    python scripts/train_classical.py fvsbn          # -> data/pretrained/fvsbn-binarized-mnist.{pt,json}
    python scripts/train_classical.py nade [--epochs 40] [--threads 2]
    python scripts/train_classical.py made
    python scripts/train_classical.py made-8masks
    python scripts/train_classical.py pixelcnn       # image models: digits as (1, 28, 28) binary images
    python scripts/train_classical.py gated-pixelcnn
    python scripts/train_classical.py pixelrnn
    python scripts/train_classical.py gated-pixelcnn-conditional   # p(x | y) on labelled, thresholded MNIST

Runs unchanged under `torchrun --standalone --nproc_per_node=N` (DistributedDataParallel; rank 0 ships).
The conditional recipe trains on `thresholded_mnist` (MNIST with labels, ink = grey > 127: 55,000 train,
5,000 valid, the 10,000 test digits) and also records the accuracy of the generative classifier
argmax_y log p(x | y) on the test digits. Adam with early stopping on the validation images; the best
epoch's weights are kept. A recipe with decay_epochs keeps the learning rate constant until its last
decay_epochs epochs and then lowers it along a cosine to min_lr. A checkpoint under data/checkpoints/ is
written after every epoch and resumed when the same command runs again. The stored (fp16) weights are
re-loaded and evaluated on all of train, valid and test; those numbers go into the sidecar with the exact
command line.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

import arlib
from arlib import data, pretrained, train
from arlib.models import FVSBN, MADE, NADE, AutoregressiveModel, GatedPixelCNN, PixelCNN, PixelRNN

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Recipe:
    make: type[AutoregressiveModel]
    config: dict
    epochs: int
    batch_size: int
    lr: float
    patience: int
    weight_decay: float = 0.0
    decay_epochs: int = 0  # the last epochs, where the learning rate falls along a cosine to min_lr
    min_lr: float = 0.0
    extra: dict = field(default_factory=dict)
    image: bool = False  # the model takes (B, 1, 28, 28) images rather than (B, 784) vectors
    dataset: str = "binarized_mnist"  # "thresholded_mnist" gives (x, label) pairs: a class-conditional model


RECIPES = {
    "fvsbn": Recipe(FVSBN, {"n_dims": 784}, epochs=60, batch_size=100, lr=5e-3, patience=5, weight_decay=1e-4),
    "nade": Recipe(NADE, {"n_dims": 784, "hidden": 500}, epochs=25, batch_size=100, lr=1e-3, patience=5),
    "made": Recipe(MADE, {"n_dims": 784, "hidden_sizes": [500], "order": "random"}, epochs=70, batch_size=100, lr=3e-3,
                   patience=10,
                   weight_decay=1e-4),
    "made-8masks": Recipe(MADE, {"n_dims": 784, "hidden_sizes": [500], "n_masks": 8, "order": "random"},
                          epochs=50, batch_size=100, lr=3e-3, patience=15, weight_decay=1e-4),
    "pixelcnn": Recipe(PixelCNN, {"image_shape": (1, 28, 28), "n_categories": 2, "hidden_channels": 32,
                                  "n_layers": 14},  # 7 × 7 mask A, then 13 layers of 3 × 3: 16 rows above
                       epochs=8, batch_size=32, lr=2e-3, patience=2, decay_epochs=3, min_lr=2e-5, image=True),
    "gated-pixelcnn": Recipe(GatedPixelCNN, {"image_shape": (1, 28, 28), "n_categories": 2, "hidden_channels": 32,
                                             "n_layers": 8, "kernel_size": 5},  # sees 16 rows above (2 per layer)
                             epochs=4, batch_size=32, lr=2e-3, patience=2, image=True),
    "pixelrnn": Recipe(PixelRNN, {"image_shape": (1, 28, 28), "n_categories": 2, "hidden_channels": 32,
                                  "n_layers": 2}, epochs=4, batch_size=32, lr=2e-3, patience=2, image=True),
    "gated-pixelcnn-conditional": Recipe(GatedPixelCNN, {"image_shape": (1, 28, 28), "n_categories": 2,
                                                         "hidden_channels": 32, "n_layers": 5, "n_classes": 10},
                                         epochs=3, batch_size=32, lr=2e-3, patience=2, image=True,
                                         dataset="thresholded_mnist"),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=sorted(RECIPES))
    parser.add_argument("--epochs", type=int, help="maximum epochs (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    recipe = RECIPES[args.model]
    epochs = args.epochs or recipe.epochs
    torch.set_num_threads(args.threads)
    arlib.seed(args.seed)
    name = f"{args.model}-{recipe.dataset.replace('_', '-')}"
    command = "python scripts/train_classical.py " + shlex.join(sys.argv[1:] if argv is None else argv)

    model = recipe.make(**recipe.config)
    splits = {split: data.load(recipe.dataset, split) for split in ("train", "valid", "test")}
    if recipe.image:
        splits = {split: (x[0].view(-1, 1, 28, 28), x[1]) if isinstance(x, tuple) else x.view(-1, 1, 28, 28)
                  for split, x in splits.items()}
    checkpoint = ROOT / "data" / "checkpoints" / f"{name}.pt"
    history = train.fit(model, splits["train"], splits["valid"], epochs=epochs, batch_size=recipe.batch_size,
                        lr=recipe.lr, weight_decay=recipe.weight_decay, patience=recipe.patience,
                        decay_epochs=min(recipe.decay_epochs, epochs), min_lr=recipe.min_lr,
                        checkpoint=checkpoint, seed=args.seed)
    seconds = sum(history.seconds)  # training epochs only (validation passes excluded), resumed runs included
    if train.distributed()[0] != 0:
        return  # under torchrun, rank 0 alone evaluates and ships the (identical) weights

    if isinstance(model, MADE):
        model.mask_counter.zero_()  # the stored model's log_prob uses mask set 0; the ensemble uses all
    extra = {"history": history.to_dict(), "epochs_run": history.epochs, **recipe.extra}
    pretrained.save(name, model, {}, command, train_seconds=seconds, dataset=recipe.dataset, half=True,
                    extra=extra)
    stored = pretrained.load(name).float()
    metrics: dict[str, float] = {}
    for split, x in splits.items():
        result = train.evaluate(stored, x)
        metrics[f"{split}_nll"] = round(result.nll, 4)
        metrics[f"{split}_bits_per_dim"] = round(result.bits_per_dim, 5)
    if isinstance(stored, MADE) and stored.n_masks > 1:
        with torch.no_grad():
            nll = -torch.cat([stored.log_prob_ensemble(b) for b in splits["test"].split(1000)]).mean()
        metrics["test_nll_ensemble"] = round(float(nll), 4)
    if getattr(stored, "n_classes", None):  # the generative classifier: argmax_y log p(x | y), equal class priors
        x, y = splits["test"]
        metrics["test_accuracy"] = round((stored.classify(x) == y).float().mean().item(), 4)
    pretrained.save(name, model, metrics, command, train_seconds=seconds, dataset=recipe.dataset, half=True,
                    extra=extra)
    print(name, metrics, f"{seconds:.0f} s")


if __name__ == "__main__":
    main()
