"""Train a density model of binarized MNIST (FVSBN, NADE, MADE, PixelCNN family) and ship it with `arlib.pretrained`.

    python scripts/train_classical.py fvsbn          # -> data/pretrained/fvsbn-binarized-mnist.{pt,json}
    python scripts/train_classical.py nade [--epochs 40] [--threads 2] [--checkpoints DIR]
    python scripts/train_classical.py made
    python scripts/train_classical.py made-direct [--hidden 1000 1000]   # -> made-direct-h1000x1000-binarized-mnist
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
decay_epochs epochs and then lowers it along a cosine to min_lr. A checkpoint (under data/checkpoints/, or
--checkpoints) is written after every epoch and resumed when the same command runs again. The stored (fp16)
weights are re-loaded and evaluated on all of train, valid and test; those numbers go into the sidecar with
the exact command line.
"""

from __future__ import annotations

from dataclasses import replace

import recipes
import torch
from recipes import Recipe

import arlib
from arlib import evaluation, train
from arlib.models import FVSBN, MADE, NADE, AutoregressiveModel, GatedPixelCNN, PixelCNN, PixelRNN

ADAM = dict(dataset="binarized_mnist", batch_size=100)  # the vector models
IMAGES = dict(dataset="binarized_mnist", batch_size=32, lr=2e-3, patience=2)  # the image models
IMAGE = {"image_shape": (1, 28, 28), "n_categories": 2, "hidden_channels": 32}
RECIPES = {
    "fvsbn": Recipe(FVSBN, {"n_dims": 784}, epochs=60, lr=5e-3, patience=5, weight_decay=1e-4, **ADAM),
    "nade": Recipe(NADE, {"n_dims": 784, "hidden": 500}, epochs=25, lr=1e-3, patience=5, **ADAM),
    "made": Recipe(MADE, {"n_dims": 784, "hidden_sizes": [500], "order": "random"}, epochs=70, lr=3e-3,
                   patience=10, weight_decay=1e-4, **ADAM),
    "made-direct": Recipe(MADE, {"n_dims": 784, "hidden_sizes": [2000], "direct": True}, epochs=60, lr=1e-3,
                          patience=10, weight_decay=1e-4, decay_epochs=20, min_lr=1e-5, **ADAM),
    "made-8masks": Recipe(MADE, {"n_dims": 784, "hidden_sizes": [500], "n_masks": 8, "order": "random"},
                          epochs=50, lr=3e-3, patience=15, weight_decay=1e-4, **ADAM),
    "pixelcnn": Recipe(PixelCNN, {**IMAGE, "n_layers": 14},  # 7 × 7 mask A, then 13 layers of 3 × 3: 16 rows above
                       epochs=8, decay_epochs=3, min_lr=2e-5, **IMAGES),
    "gated-pixelcnn": Recipe(GatedPixelCNN, {**IMAGE, "n_layers": 8, "kernel_size": 5},  # 16 rows above (2 a layer)
                             epochs=4, **IMAGES),
    "pixelrnn": Recipe(PixelRNN, {**IMAGE, "n_layers": 2}, epochs=4, **IMAGES),
    "gated-pixelcnn-conditional": Recipe(GatedPixelCNN, {**IMAGE, "n_layers": 5, "n_classes": 10}, epochs=3,
                                         **dict(IMAGES, dataset="thresholded_mnist")),  # (x, label) pairs
}


def shaped(x: train.Data, event_shape: tuple[int, ...]) -> train.Data:
    """Digits (or (digits, labels)) with each digit in the model's shape: a vector, or a (1, 28, 28) image."""
    return (x[0].view(-1, *event_shape), *x[1:]) if isinstance(x, tuple) else x.view(-1, *event_shape)


def measure(model: AutoregressiveModel, splits: dict[str, train.Data]) -> dict[str, float]:
    """NLL and bits per dimension of every split; for a MADE with several mask sets also the test NLL of their
    ensemble, and for a class-conditional model the accuracy of its generative classifier (equal priors)."""
    metrics = recipes.nll_metrics(model, splits)
    if isinstance(model, MADE) and model.n_masks > 1:
        ensemble = train.log_probs(model, splits["test"], score=model.log_prob_ensemble)
        metrics["test_nll_ensemble"] = -ensemble.mean().item()
    if getattr(model, "n_classes", None):  # argmax_y log p(x | y)
        x, y = splits["test"]
        metrics["test_accuracy"] = (model.classify(x) == y).float().mean().item()
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = recipes.arguments(__doc__, "epochs")
    parser.add_argument("model", choices=sorted(RECIPES))
    parser.add_argument("--hidden", type=int, nargs="+", help="MADE's hidden sizes (default: the recipe's); "
                        "the name gains -h<sizes>")
    args = parser.parse_args(argv)
    recipe = RECIPES[args.model].lasting(args.epochs)
    torch.set_num_threads(args.threads)
    arlib.seed(args.seed)
    width = ""
    if args.hidden:
        recipe = replace(recipe, config={**recipe.config, "hidden_sizes": args.hidden})
        width = "-h" + "x".join(map(str, args.hidden))
    name = f"{args.model}{width}-{recipe.dataset.replace('_', '-')}"

    model = recipe.model()
    splits = {split: shaped(x, model.event_shape) for split, x in recipes.load_splits(recipe.dataset).items()}
    history = recipe.fit(model, splits["train"], splits["valid"], checkpoint=args.checkpoints / f"{name}.pt",
                         seed=args.seed)
    seconds = sum(history.seconds)  # training epochs only (validation passes excluded), resumed runs included
    if train.init_distributed()[0] != 0:
        return  # under torchrun, rank 0 alone evaluates and ships the (identical) weights

    if isinstance(model, MADE):
        model.mask_counter.zero_()  # the stored model's log_prob uses mask set 0; the ensemble uses all
    metrics = evaluation.publish(name, model, recipes.command(__file__, argv), lambda stored: measure(stored, splits),
                                 train_seconds=seconds, dataset=recipe.dataset,
                                 extra={"history": history.to_dict(), "epochs_run": history.epochs})
    print(name, metrics, f"{seconds:.0f} s")


if __name__ == "__main__":
    main()
