"""Train WaveNet on the Free Spoken Digit Dataset and ship it with `arlib.pretrained`.

    python scripts/train_wavenet.py                 # -> data/pretrained/wavenet-fsdd.{pt,json}
    python scripts/train_wavenet.py [--iters 20] [--threads 2] [--seed 0] [--device cuda] [--checkpoints DIR]

| name         | model                                                 | data, loss                          |
| ------------ | ----------------------------------------------------- | ----------------------------------- |
| wavenet-fsdd | WaveNet, 32 channels, dilations 1, 2, ..., 128 twice  | 8 kHz spoken digits, 256 μ-law      |
|              | (16 layers, receptive field 511 samples = 64 ms)      | codes, bits per sample              |

The recipe: every training clip (takes 5-49 of each speaker and digit, the dataset's official split) is
μ-law encoded to 256 codes. A batch holds 8 crops of receptive_field + 1000 samples. Seven are windows at a
random offset of a random clip, and only their last 1000 samples count in the loss, because only those see
a full receptive field of real audio (earlier ones see the start token and zero padding where the clip
actually continues). The eighth crop is the *beginning* of a random clip with every sample counted, so the
model also learns how clips start, which is where both the exact likelihood of a clip and generation begin.
(A clip shorter than a crop is used whole from its start, with every sample counted.) The loss is the mean
negative log-likelihood of the counted samples in bits. AdamW (β2 = 0.99, no weight decay), learning rate 2e-3
warmed up over 100 steps then cosine-decayed to 2e-4, gradients clipped at 1; 2,500 steps.

Evaluation: the exact log-likelihood of every test clip (takes 0-4, 300 clips), each scored from its first
sample by the chain rule, summed over clips and divided by the number of samples, in bits per sample; the same
for 300 training clips drawn with a fixed seed. The two baselines are counted on the whole training split and
scored on the same test samples: the marginal histogram of the codes (i.i.d. samples, add-one smoothing) and a
first-order "previous code" bigram table (add-one smoothing; the first sample of each clip is scored by the
histogram). The monitor during training uses 20 fixed test clips and only reports; the final weights are kept.
A checkpoint is written at every evaluation (under data/checkpoints/, or --checkpoints) and resumed when the
same command runs again. The stored (fp16) weights are re-loaded and evaluated; those numbers go into the
sidecar with the exact command line and the training history.
"""

from __future__ import annotations

import math

import recipes
import torch
from recipes import Recipe

import arlib
from arlib import data, evaluation, pretrained
from arlib.models import WaveNet, mu_law_decode, mu_law_encode
from arlib.models.wavenet import bits_per_sample

NAME = "wavenet-fsdd"
K = 256  # μ-law codes
TRAIN_EVAL_CLIPS = 300  # training clips (fixed seed) in the final train metric
MONITOR_CLIPS = 20  # test clips (fixed seed) in the evaluations during training
LN2 = math.log(2)

RECIPE = Recipe(WaveNet, {"n_categories": K, "residual_channels": 32, "dilations": [2**i for i in range(8)] * 2},
                dataset="fsdd", iters=2500, batch_size=8, lr=2e-3, min_lr=2e-4, warmup=100,
                # context: samples per window crop that count in the loss (after the receptive field);
                # starts_per_batch: crops taken from the beginning of a clip, every sample counted
                extra={"context": 1000, "starts_per_batch": 1})


def encode_clips(split: str) -> list[torch.Tensor]:
    """μ-law codes (uint8) of every clip of an FSDD split, in the dataset's order."""
    return [mu_law_encode(waveform, K).to(torch.uint8) for waveform, _, _ in data.load("fsdd", split)]


def crops(clips: list[torch.Tensor], recipe: Recipe, receptive_field: int):
    """batch(generator) -> (codes (B, T) int64, weights (B, T)): T = receptive_field + context samples."""
    T = receptive_field + recipe.extra["context"]
    silence = int(mu_law_encode(torch.zeros(1), K))  # filler after a short clip (weight 0)

    def batch(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.full((recipe.batch_size, T), silence, dtype=torch.long)
        weight = torch.zeros(recipe.batch_size, T)
        for i, c in enumerate(torch.randint(len(clips), (recipe.batch_size,), generator=generator).tolist()):
            clip = clips[c]
            if i < recipe.extra["starts_per_batch"] or len(clip) <= T:  # a clip's beginning: every sample counts
                piece = clip[:T]
                weight[i, : len(piece)] = 1
            else:  # a window: only samples with a full receptive field inside it count
                offset = int(torch.randint(len(clip) - T + 1, (1,), generator=generator))
                piece = clip[offset: offset + T]
                weight[i, receptive_field:] = 1
            x[i, : len(piece)] = piece.long()
        return x, weight

    return batch


def loss(model: WaveNet, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the counted samples, in bits per sample."""
    return -(model.token_log_probs(x) * weight).sum() / weight.sum() / LN2


def baselines(train_clips: list[torch.Tensor], test_clips: list[torch.Tensor]) -> dict[str, float]:
    """Bits per test sample of the code histogram and of the previous-code bigram, both add-one smoothed."""
    unigram = torch.bincount(torch.cat(train_clips).long(), minlength=K).double() + 1
    log_unigram = (unigram / unigram.sum()).log()
    pairs = torch.cat([c[:-1].long() * K + c[1:].long() for c in train_clips])
    bigram = torch.bincount(pairs, minlength=K * K).double().view(K, K) + 1
    log_bigram = (bigram / bigram.sum(1, keepdim=True)).log()
    codes = [c.long() for c in test_clips]
    n = sum(len(c) for c in codes)
    uni = -sum(log_unigram[c].sum().item() for c in codes)
    bi = -sum(log_unigram[c[0]].item() + log_bigram[c[:-1], c[1:]].sum().item() for c in codes)
    return {"baseline_unigram_bits_per_sample": uni / n / LN2, "baseline_bigram_bits_per_sample": bi / n / LN2}


def main(argv: list[str] | None = None) -> None:
    args = recipes.arguments(__doc__, "iters").parse_args(argv)
    recipe = RECIPE.lasting(args.iters)
    torch.set_num_threads(args.threads)
    arlib.seed(args.seed)

    train_clips, test_clips = encode_clips("train"), encode_clips("test")
    model = recipe.model()
    pick = torch.Generator().manual_seed(1)
    monitor_clips = [test_clips[i] for i in torch.randperm(len(test_clips), generator=pick)[:MONITOR_CLIPS]]
    train_subset = [train_clips[i] for i in torch.randperm(len(train_clips), generator=pick)[:TRAIN_EVAL_CLIPS]]

    checkpoint = args.checkpoints / f"{NAME}-{recipe.iters}iters-seed{args.seed}.pt"  # another length: another run
    history = recipe.fit_steps(model, crops(train_clips, recipe, model.receptive_field), loss,
                               evaluate=lambda m: bits_per_sample(m, monitor_clips), checkpoint=checkpoint,
                               seed=args.seed, device=args.device)
    model.cpu()

    n_test = sum(len(c) for c in test_clips)
    scoring = (f"test: all {len(test_clips)} clips of the test split ({n_test:,} samples at 8 kHz), each scored "
               "from its first sample by the chain rule (exact log-likelihood); Σ −log2 p(clip) / Σ samples, "
               f"bits per sample of 256 μ-law codes. train: {TRAIN_EVAL_CLIPS} training clips (seed 1), the same "
               "way. Baselines counted on the whole training split (add-one smoothing), scored on the same test "
               "samples: unigram = histogram of codes, i.i.d.; bigram = p(code | previous code), first sample "
               "of a clip by the histogram. Training loss and monitor (20 test clips) in bits per sample.")
    architecture = {k: recipe.config[k] for k in ("residual_channels", "dilations")}
    crop = model.receptive_field + recipe.extra["context"]
    extra = {"history": history.to_dict(), "recipe": {**architecture, **recipe.record()}, "evaluation": scoring,
             "receptive_field": model.receptive_field, "sample_rate": 8000,
             "train_samples_per_second": round(recipe.iters * recipe.batch_size * crop / history.seconds)}

    def measure(stored: WaveNet) -> dict[str, float]:
        return {"test_bits_per_sample": bits_per_sample(stored, test_clips),
                "train_bits_per_sample": bits_per_sample(stored, train_subset),
                **baselines(train_clips, test_clips), "test_samples": n_test}

    measured = evaluation.publish(NAME, model, recipes.command(__file__, argv), measure,
                                  train_seconds=history.seconds, dataset=recipe.dataset, extra=extra)
    print(NAME, measured, f"{history.seconds:.0f} s, {model.n_parameters():,} parameters")
    stored = pretrained.load(NAME)
    waveform = mu_law_decode(stored.sample(1, length=8000, generator=torch.Generator().manual_seed(0))[0], K)
    print(f"one second sampled: RMS {waveform.pow(2).mean().sqrt():.4f}, peak {waveform.abs().max():.3f} "
          f"(test clips: RMS {mu_law_decode(torch.cat(test_clips).long(), K).pow(2).mean().sqrt():.4f})")


if __name__ == "__main__":
    main()
