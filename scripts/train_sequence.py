"""Train the sequence models on text and ship them with `arlib.pretrained`.

    python scripts/train_sequence.py gpt-tinyshakespeare       # -> data/pretrained/gpt-tinyshakespeare.{pt,json}
    python scripts/train_sequence.py charrnn-tinyshakespeare
    python scripts/train_sequence.py gpt-names
    python scripts/train_sequence.py charrnn-names [--iters 20] [--threads 2] [--device cuda]
    python scripts/train_sequence.py gpt-binarized-mnist

| name                    | model                                   | data, loss                              |
| ----------------------- | --------------------------------------- | --------------------------------------- |
| gpt-tinyshakespeare     | GPT 4 layers, 4 heads, 128 wide, block 64 | random 64-char blocks, nats/char      |
| charrnn-tinyshakespeare | LSTM, 2 layers of 256                   | the same blocks, batches and steps      |
| gpt-names               | GPT 4 layers, 4 heads, 128 wide, dropout 0.2 | one name + "." per sequence, nats/char |
| charrnn-names           | LSTM, 3 layers of 256, dropout 0.4      | the same                                |
| gpt-binarized-mnist     | GPT 2 layers, 4 heads, 64 wide, block 784 | one digit = 784 pixel tokens, nats/image |

The Shakespeare recipes follow nanoGPT's CPU example for shakespeare_char (batch 12, block 64, AdamW with
β2 = 0.99 and weight decay 0.1, learning rate 1e-3 warmed up over 100 steps then cosine-decayed to 1e-4,
gradients clipped at 1, no dropout) on the first 90 % of the text, but run 5,000 iterations instead of its
2,000: with 2,000 the GPT stayed above nanoGPT's 1.88 on our full validation metric. The validation loss
is the mean over 4,000 random 64-character blocks of the last 10 % (fixed seed). Each block is scored
from the start token, so its first character has no context; "valid_loss_in_context" leaves that
character out and counts the positions nanoGPT's loss counts.

The names recipes take 90 % of makemore's names (fixed seeded split), train on all but the last 1,000
of them with dropout, keep the weights of the evaluation best on those 1,000 (early stopping), and
report the loss per character, the end token included, on the other 10 %.

The binarized-MNIST recipe reads each digit as 784 tokens in {0, 1} (raster order), trains on random
batches of 16 training digits (minimising nats per pixel) and reports the NLL in nats per image on the
full validation and test splits, like the image models; it is kept small (2 layers of 64, 2,500 steps,
about ten minutes on two CPU cores) because attention over 784 positions costs 784² scores per head
and layer.

Recipes without early stopping ship the final weights (evaluations only monitor the run). A checkpoint
is written at every evaluation (under data/checkpoints/, or --checkpoints) and resumed when the same
command runs again. The stored (fp16) weights are re-loaded and evaluated; those numbers go into the
sidecar with the exact command line, the tokenizer and the training history.
"""

from __future__ import annotations

import recipes
import torch
from recipes import Recipe

import arlib
from arlib import data, evaluation, pretrained, text, train
from arlib.models import GPT, CharRNN, SequenceModel

EVAL_BLOCKS = 4000  # random validation blocks in the final Shakespeare metric
MONITOR_BLOCKS = 240  # ... and in the evaluations during training (nanoGPT's CPU example: 20 batches of 12)
MONITOR_DIGITS = 500  # validation digits in the evaluations during training of the pixel GPT
VALID_NAMES = 1000  # names held out of the training 90 % to monitor (and early-stop) the names runs

# extra: block_size, characters per training block of Shakespeare (0: whole sequences, a name or a digit)
SHAKESPEARE = dict(dataset="tinyshakespeare", iters=5000, batch_size=12, warmup=100, extra={"block_size": 64})
NAMES = dict(dataset="names", batch_size=32, warmup=200, eval_every=500, keep_best=True,
             extra={"block_size": 0, "valid_names": VALID_NAMES})
RECIPES = {
    "gpt-tinyshakespeare": Recipe(GPT, dict(vocab_size=65, block_size=64, n_layers=4, n_head=4, n_embd=128),
                                  lr=1e-3, min_lr=1e-4, weight_decay=0.1, **SHAKESPEARE),
    "charrnn-tinyshakespeare": Recipe(CharRNN, dict(vocab_size=65, hidden=256, n_layers=2, cell="lstm"),
                                      lr=3e-3, min_lr=3e-4, weight_decay=0.0, **SHAKESPEARE),
    "gpt-names": Recipe(GPT, dict(vocab_size=27, block_size=16, n_layers=4, n_head=4, n_embd=128, dropout=0.2),
                        iters=40000, lr=1e-3, min_lr=1e-4, weight_decay=0.1, **NAMES),
    "charrnn-names": Recipe(CharRNN, dict(vocab_size=27, hidden=256, n_layers=3, cell="lstm", dropout=0.4),
                            iters=20000, lr=3e-3, min_lr=3e-4, weight_decay=0.0, **NAMES),
    "gpt-binarized-mnist": Recipe(GPT, dict(vocab_size=2, block_size=784, n_layers=2, n_head=4, n_embd=64),
                                  dataset="binarized_mnist", iters=2500, batch_size=16, lr=2e-3, min_lr=2e-4,
                                  warmup=100, weight_decay=0.01, eval_every=500, extra={"block_size": 0}),
}


def shakespeare_task(recipe: Recipe):
    """(batch, loss, monitor, final metrics, tokenizer, sidecar record) for random blocks of Tiny Shakespeare."""
    train_tokens, valid_tokens, tokenizer = text.shakespeare_split()
    block = recipe.extra["block_size"]

    def batch(generator: torch.Generator) -> torch.Tensor:
        return text.random_blocks(train_tokens, block, recipe.batch_size, generator)

    def monitor(model: SequenceModel) -> float:
        return text.shakespeare_loss(model, valid_tokens, block, n_blocks=MONITOR_BLOCKS, seed=1)["loss"]

    def metrics(model: SequenceModel) -> dict[str, float]:
        valid = text.shakespeare_loss(model, valid_tokens, block, n_blocks=EVAL_BLOCKS)
        trained = text.shakespeare_loss(model, train_tokens, block, n_blocks=EVAL_BLOCKS)
        return {"train_loss": trained["loss"], "valid_loss": valid["loss"],
                "valid_loss_in_context": valid["loss_in_context"]}

    scoring = (f"mean over {EVAL_BLOCKS} random {block}-character blocks (seed 0) of the split, nats/char; "
               "_in_context: characters 2..block only")
    # train.token_loss: nats per character
    return batch, train.token_loss, monitor, metrics, tokenizer, {"evaluation": scoring}


def names_task(recipe: Recipe):
    """(batch, loss, monitor, final metrics, tokenizer, sidecar record) for one name plus its end token per sequence.

    The last ``valid_names`` of the (shuffled) training 90 % are held out for monitoring and early stopping,
    so the test 10 % is scored once, by the shipped weights.
    """
    fit_names, test_names, tokenizer = text.names_split()
    held_out = recipe.extra["valid_names"]
    train_names, valid_names = text.hold_out(fit_names, held_out, tokenizer)

    def batch(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return train_names.batch(torch.randint(len(train_names), (recipe.batch_size,), generator=generator))

    def loss(model: SequenceModel, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return text.names_nll(model, tokens, lengths).sum() / lengths.sum()  # nats per character

    def monitor(model: SequenceModel) -> float:
        return text.names_loss(model, valid_names)

    def metrics(model: SequenceModel) -> dict[str, float]:
        return {"train_loss": text.names_loss(model, train_names), "valid_loss": text.names_loss(model, valid_names),
                "test_loss": text.names_loss(model, test_names)}

    scoring = (f"all names of the split, nats per character with the end token counted (Σ NLL / Σ (len + 1)); "
               f"train: the {len(train_names)} names trained on, valid: the last {held_out} of the "
               "training 90 % (monitored, never trained on), test: the other 10 %")
    return batch, loss, monitor, metrics, tokenizer, {"evaluation": scoring, "train_examples": len(train_names)}


def pixels_task(recipe: Recipe):
    """(batch, loss, monitor, final metrics, tokenizer, sidecar record) for binarized MNIST as 784-token sequences."""
    x_train, x_valid, x_test = (data.load("binarized_mnist", split).long() for split in ("train", "valid", "test"))

    def batch(generator: torch.Generator) -> torch.Tensor:
        return x_train[torch.randint(len(x_train), (recipe.batch_size,), generator=generator)]

    def monitor(model: SequenceModel) -> float:
        return train.evaluate(model, x_valid[:MONITOR_DIGITS], batch_size=100).nll

    def metrics(model: SequenceModel) -> dict[str, float]:  # nats per image, bits per pixel
        return recipes.nll_metrics(model, {"valid": x_valid, "test": x_test}, batch_size=100)

    scoring = "the full split, nats per image (784 pixel tokens, the first from the start token)"
    # train.token_loss: nats per pixel
    return batch, train.token_loss, monitor, metrics, None, {"evaluation": scoring}


def main(argv: list[str] | None = None) -> None:
    parser = recipes.arguments(__doc__, "iters")
    parser.add_argument("model", choices=sorted(RECIPES))
    args = parser.parse_args(argv)
    name, recipe = args.model, RECIPES[args.model].lasting(args.iters)
    torch.set_num_threads(args.threads)
    arlib.seed(args.seed)

    task = {"tinyshakespeare": shakespeare_task, "names": names_task, "binarized_mnist": pixels_task}[recipe.dataset]
    batch, loss, monitor, metrics, tokenizer, record = task(recipe)  # record: the sidecar's data description
    model = recipe.model()
    checkpoint = args.checkpoints / f"{name}-{recipe.iters}iters-seed{args.seed}.pt"  # another length: another run
    history = recipe.fit_steps(model, batch, loss, evaluate=monitor, checkpoint=checkpoint, seed=args.seed,
                               device=args.device)
    model.cpu()

    extra = {"tokenizer": tokenizer.to_dict() if tokenizer is not None else None, "history": history.to_dict(),
             "recipe": recipe.record(), **record}
    examples = recipe.iters * recipe.batch_size / history.seconds  # sequences per second
    if recipe.dataset == "tinyshakespeare":
        extra["train_tokens_per_second"] = round(examples * recipe.extra["block_size"])
    if recipe.dataset == "binarized_mnist":
        extra["train_images_per_second"] = round(examples, 1)
    measured = evaluation.publish(name, model, recipes.command(__file__, argv), metrics,
                                  train_seconds=history.seconds, dataset=recipe.dataset, extra=extra)
    print(name, measured, f"{history.seconds:.0f} s")
    stored = pretrained.load(name)
    for temperature in (1.0, 0.8):
        generator = torch.Generator().manual_seed(0)
        if recipe.dataset == "binarized_mnist":
            digits = stored.sample(16, length=784, generator=generator, temperature=temperature)
            print(f"T={temperature}: 16 sampled digits, fraction of ink {digits.float().mean():.3f}")
        elif recipe.dataset == "names":
            samples = stored.sample(8, length=16, generator=generator, temperature=temperature)
            print(f"T={temperature}:", [tokenizer.decode(row).split(text.END)[0] for row in samples])
        else:
            drawn = stored.sample(1, length=200, generator=generator, temperature=temperature)
            print(f"T={temperature}:", tokenizer.decode(drawn[0]))


if __name__ == "__main__":
    main()
