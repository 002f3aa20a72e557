"""Speed of the sequence models, measured in one run on this machine (ratios, not timed tests).

    python benchmarks/speed_sequence.py [--threads 2]

Prints and stores (section `speed_sequence` of benchmarks/results.json):
- GPT generation of 256 tokens with and without the key/value cache (ratio), for a GPT shaped like the shipped
  Shakespeare model but with a block of 256, so that every one of the 256 steps can use the cache;
- training throughput (tokens/s, a full AdamW step on batches of 12 blocks of 64 Tiny Shakespeare characters)
  of the shipped CharRNN (LSTM 2×256) and GPT (4 layers, 4 heads, 128 wide) configurations, and their ratio;
- both shipped models' validation loss, re-measured from the stored weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from arlib import evaluation, pretrained, text, train
from arlib.models import GPT, CharRNN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_time, training_seconds, update_results  # noqa: E402


def tokens_per_second(model: torch.nn.Module, batches: torch.Tensor, warmup: int = 5) -> float:
    """Tokens per second over full AdamW steps on ``batches`` (n_steps, batch, block), after a warm-up."""
    seconds = training_seconds(model, batches, lambda x: train.token_loss(model, x), torch.optim.AdamW, warmup)
    return batches[warmup:].numel() / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per model")
    parser.add_argument("--length", type=int, default=256, help="generated tokens in the cache comparison")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results: dict = {"threads": args.threads}

    gpt_config = pretrained.info("gpt-tinyshakespeare")["config"]
    rnn_config = pretrained.info("charrnn-tinyshakespeare")["config"]
    long_gpt = GPT(**{**gpt_config, "block_size": args.length}).eval()
    with torch.no_grad():
        cached = best_time(lambda: long_gpt.sample(1, length=args.length, generator=torch.Generator().manual_seed(0)))
        uncached = best_time(lambda: long_gpt.sample(1, length=args.length, generator=torch.Generator().manual_seed(0),
                                                      use_cache=False), repeats=2)
    results["gpt_generation_seconds"] = {"cached": cached, "uncached": uncached, "tokens": args.length}
    results["gpt_cache_speedup"] = uncached / cached
    print(f"GPT generation of {args.length} tokens: cached {cached:.3f} s, uncached {uncached:.3f} s, "
          f"ratio {uncached / cached:.1f}x")

    train_tokens, _, _ = text.shakespeare_split()
    generator = torch.Generator().manual_seed(0)
    batches = torch.stack([text.random_blocks(train_tokens, 64, 12, generator) for _ in range(args.steps + 5)])
    rates = {"charrnn": tokens_per_second(CharRNN(**rnn_config).train(), batches),
             "gpt": tokens_per_second(GPT(**gpt_config).train(), batches)}
    results["train_tokens_per_second"] = rates
    results["gpt_over_charrnn_throughput"] = rates["gpt"] / rates["charrnn"]
    for name, rate in rates.items():
        print(f"training throughput {name:8s} {rate:9,.0f} tokens/s (batch 12 x 64, AdamW, {args.threads} threads)")

    results["valid_loss"] = {}
    for kind, name in (("charrnn", "charrnn-tinyshakespeare"), ("gpt", "gpt-tinyshakespeare")):
        loss = evaluation.measure(name)
        results["valid_loss"][kind] = loss
        print(f"{name}: validation loss {loss:.4f} nats/char")
    update_results("speed_sequence", results)


if __name__ == "__main__":
    main()
