"""Real-valued data for the continuous models: MNIST digits as dequantised 8×8 ink counts.

The recipe follows the UCI "optical recognition of handwritten digits" set: a 32×32 bitmap is cut into
non-overlapping 4×4 blocks and each block is replaced by its number of ink pixels, an integer in
0..16, giving an 8×8 image with 17 grey levels. Here the bitmap is an MNIST digit (28×28, zero-padded
by 2 pixels on every side to 32×32, ink = grey level > 127).

Those counts are discrete. A density model for real numbers could put unbounded density on them, so
each count c is **dequantised** with uniform noise and scaled to the unit interval,

    x = (c + u) / 17,   u ~ Uniform[0, 1),

which gives real vectors in [0, 1)^64. The noise is drawn once from a fixed seed per split, so a split
is the same array on every machine. Densities of this data are in the scaled space: nats per image
for x in [0, 1)^64. Adding 64 ln 17 turns them into nats in count units (bins of width 1), and that
number is an upper bound on the NLL of the discrete counts (Jensen's inequality over each bin).

This module only computes: :func:`mnist8x8` turns MNIST images it is given into one split.
``data.load("mnist8x8", split)`` loads the MNIST images and returns that split (float32 (N, 64)).
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["LEVELS", "SIDE", "count_log_jacobian", "dequantise", "ink_counts", "mnist8x8"]

LEVELS = 17  # counts 0..16 per 4×4 block
SIDE = 8  # the images are SIDE × SIDE
_SPLITS = {"train": 1, "valid": 2, "test": 3}  # mixed into the noise seed: every split has its own noise
N_VALID = 10_000  # the last 10,000 MNIST training digits form the validation split


def ink_counts(images: torch.Tensor | np.ndarray, threshold: int = 127) -> torch.Tensor:
    """MNIST digits (N, 28, 28) of grey levels 0..255 -> ink counts per 4×4 block, int64 (N, 64) in 0..16."""
    images = torch.as_tensor(np.asarray(images))
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
        raise ValueError(f"ink_counts expects images of shape (N, 28, 28), got {tuple(images.shape)}")
    ink = (images > threshold).to(torch.int64)
    ink = torch.nn.functional.pad(ink, (2, 2, 2, 2))  # 28×28 -> 32×32
    blocks = ink.reshape(-1, SIDE, 4, SIDE, 4).sum((2, 4))  # (N, 8, 8) counts
    return blocks.reshape(-1, SIDE * SIDE)


def dequantise(counts: torch.Tensor, seed: int | tuple[int, ...]) -> torch.Tensor:
    """x = (c + u) / LEVELS, u ~ Uniform[0, 1) drawn from NumPy's generator for ``seed``: float32 in [0, 1)."""
    counts = torch.as_tensor(counts)
    rng = np.random.default_rng(seed)
    u = torch.from_numpy(rng.random(tuple(counts.shape), dtype=np.float32))
    # float32 rounding could give exactly 1.0 for c = 16, u ≈ 1: keep every value inside [0, 1)
    return ((counts.to(torch.float32) + u) / LEVELS).clamp(max=1 - 2**-24)


def count_log_jacobian(n_dims: int = SIDE * SIDE) -> float:
    """n ln 17: add it to an NLL in the scaled space to get the NLL in count units (bins of width 1)."""
    return n_dims * math.log(LEVELS)


def mnist8x8(images: torch.Tensor | np.ndarray, split: str, seed: int = 0) -> torch.Tensor:
    """One split of the dequantised 8×8 digits, float32 (N, 64), from MNIST's grey-level images (N, 28, 28).

    ``images``: MNIST's 60,000 training images for "train" (the first 50,000) and "valid" (the last
    10,000), its 10,000 test images for "test". The noise depends on ``seed`` and the split.
    """
    if split not in _SPLITS:
        raise ValueError(f"mnist8x8 has splits {list(_SPLITS)}, got split={split!r}")
    if split == "train":
        images = images[:-N_VALID]
    elif split == "valid":
        images = images[-N_VALID:]
    return dequantise(ink_counts(images), seed=(seed, _SPLITS[split]))
