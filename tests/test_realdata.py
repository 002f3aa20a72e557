"""Real-valued data: 8×8 ink counts, dequantisation, and the mnist8x8 dataset."""

from __future__ import annotations

import math

import pytest
import torch

from arlib import data, realdata


def test_ink_counts_of_a_full_image_follow_the_padding():
    counts = realdata.ink_counts(torch.full((1, 28, 28), 255, dtype=torch.uint8)).reshape(8, 8)
    assert counts.dtype == torch.int64 and int(counts.sum()) == 28 * 28
    assert counts[0, 0] == 4 and counts[0, 3] == 8 and counts[3, 3] == 16  # corner, edge and inner blocks
    assert int(realdata.ink_counts(torch.full((2, 28, 28), 127, dtype=torch.uint8)).sum()) == 0  # below threshold


def test_ink_counts_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        realdata.ink_counts(torch.zeros(3, 32, 32, dtype=torch.uint8))


def test_dequantise_stays_in_its_bin_and_is_determined_by_the_seed():
    counts = torch.randint(0, realdata.LEVELS, (500, 64), generator=torch.Generator().manual_seed(0))
    x = realdata.dequantise(counts, seed=3)
    assert x.dtype == torch.float32 and x.shape == counts.shape
    assert torch.equal((x * realdata.LEVELS).floor().long(), counts)
    assert float(x.min()) >= 0 and float(x.max()) < 1
    assert torch.equal(x, realdata.dequantise(counts, seed=3))
    assert not torch.equal(x, realdata.dequantise(counts, seed=4))
    assert realdata.count_log_jacobian(64) == pytest.approx(64 * math.log(17))


@pytest.mark.parametrize(("split", "n"), [("train", 50000), ("valid", 10000), ("test", 10000)])
def test_mnist8x8_splits(fresh_cache, split, n):
    x = data.load("mnist8x8", split)
    assert x.dtype == torch.float32 and x.shape == (n, 64)
    assert float(x.min()) >= 0 and float(x.max()) < 1
    images, _ = data.load("mnist", "test" if split == "test" else "train")
    assert torch.equal(x, realdata.mnist8x8(images, split))  # the same noise every time
    first = images[:1] if split != "valid" else images[-realdata.N_VALID:][:1]
    assert torch.equal((x[:1] * realdata.LEVELS).floor().long(), realdata.ink_counts(first))


def test_mnist8x8_noise_differs_between_splits_and_seeds(fresh_cache):
    images, _ = data.load("mnist", "train")
    a, b = realdata.mnist8x8(images, "train")[:100], realdata.mnist8x8(images, "train", seed=1)[:100]
    assert torch.equal((a * 17).floor(), (b * 17).floor()) and not torch.equal(a, b)
    with pytest.raises(ValueError, match="splits"):
        realdata.mnist8x8(images, "validation")
