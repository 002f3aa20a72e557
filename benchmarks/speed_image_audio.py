"""Speed of the image and audio models, measured in one run on this machine (ratios, not timed tests).

    python benchmarks/speed_image_audio.py [--threads 2]

Prints and stores (section `speed_image_audio` of benchmarks/results.json):
- WaveNet (the shipped `wavenet-fsdd`) generating one second of audio (8,000 μ-law codes) with its activation
  queues vs naive recomputation of the receptive field at every step (ratio; the samples are identical);
- PixelCNN vs PixelRNN (Row LSTM) training throughput at the shipped configurations (images/s, a full Adam
  step at batch 32 on binarized MNIST digits) and their ratio;
- sampling time per 28×28 image of each shipped image model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from arlib import data, pretrained
from arlib.models import PixelCNN, PixelRNN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_time, training_seconds, update_results  # noqa: E402

IMAGE_MODELS = ["pixelcnn-binarized-mnist", "gated-pixelcnn-binarized-mnist", "pixelrnn-binarized-mnist"]


def images_per_second(model: torch.nn.Module, batches: torch.Tensor, warmup: int = 2) -> float:
    """Images per second over full Adam steps on ``batches`` (n_steps, batch, 1, 28, 28), after a warm-up."""
    return len(batches[warmup:]) * batches.shape[1] / training_seconds(model, batches, model.nll, warmup=warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per model")
    parser.add_argument("--audio-seconds", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results: dict = {"threads": args.threads}

    wavenet = pretrained.load("wavenet-fsdd")
    length = int(8000 * args.audio_seconds)
    with torch.no_grad():
        def generate(use_cache: bool) -> torch.Tensor:
            return wavenet.sample(1, length=length, generator=torch.Generator().manual_seed(0), use_cache=use_cache)

        cached = best_time(lambda: generate(True), repeats=1)
        naive = best_time(lambda: generate(False), repeats=1)
    results["wavenet_generation_seconds"] = {"cached": cached, "naive": naive, "samples": length}
    results["wavenet_cache_speedup"] = naive / cached
    print(f"WaveNet generation of {length} samples: cached {cached:.2f} s, naive {naive:.2f} s, "
          f"ratio {naive / cached:.1f}x")

    x = data.load("binarized_mnist", "train")[: 32 * (args.steps + 2)].view(-1, 32, 1, 28, 28)
    configs = {"pixelcnn": (PixelCNN, "pixelcnn-binarized-mnist"), "pixelrnn": (PixelRNN, "pixelrnn-binarized-mnist")}
    rates = {kind: images_per_second(make(**pretrained.info(name)["config"]).train(), x)
             for kind, (make, name) in configs.items()}
    results["train_images_per_second"] = rates
    results["pixelcnn_over_pixelrnn_throughput"] = rates["pixelcnn"] / rates["pixelrnn"]
    for kind, rate in rates.items():
        print(f"training throughput {kind:9s} {rate:7,.0f} images/s (batch 32, Adam, {args.threads} threads)")
    print(f"PixelCNN / PixelRNN training throughput: {rates['pixelcnn'] / rates['pixelrnn']:.1f}x")

    results["sample_seconds_per_image"] = {}
    for name in IMAGE_MODELS:
        model = pretrained.load(name)
        with torch.no_grad():
            seconds = best_time(lambda m=model: m.sample(4, generator=torch.Generator().manual_seed(0)), repeats=1) / 4
        results["sample_seconds_per_image"][name] = seconds
        print(f"{name}: {seconds:.2f} s per sampled image (4 at once)")
    update_results("speed_image_audio", results)


if __name__ == "__main__":
    main()
