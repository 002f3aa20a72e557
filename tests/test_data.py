"""The data layer: every dataset from the mirror, checksums, missing data, downloads."""

from __future__ import annotations

import hashlib
import io
import shutil
import urllib.error

import numpy as np
import pytest
import torch

from arlib import data


@pytest.mark.parametrize(
    ("split", "n"), [("train", 50000), ("valid", 10000), ("test", 10000)]
)
def test_binarized_mnist_from_mirror(fresh_cache, split, n):
    x = data.load("binarized_mnist", split)
    assert x.dtype == torch.uint8 and x.shape == (n, 784)
    assert set(torch.unique(x).tolist()) == {0, 1}
    assert (fresh_cache / "binarized_mnist" / f"{split}.npz").exists()  # copied into the cache


@pytest.mark.parametrize(("split", "n"), [("train", 60000), ("test", 10000)])
def test_mnist(fresh_cache, split, n):
    images, labels = data.load("mnist", split)
    assert images.dtype == torch.uint8 and images.shape == (n, 28, 28)
    assert labels.dtype == torch.int64 and labels.shape == (n,)
    assert int(images.max()) == 255 and set(labels.unique().tolist()) == set(range(10))


def test_thresholded_mnist_splits_mnist_and_keeps_the_labels(fresh_cache):
    images, labels = data.load("mnist", "train")
    train_x, train_y = data.load("thresholded_mnist", "train")
    valid_x, valid_y = data.load("thresholded_mnist", "valid")
    test_x, test_y = data.load("thresholded_mnist", "test")
    assert train_x.shape == (55000, 784) and valid_x.shape == (5000, 784) and test_x.shape == (10000, 784)
    assert torch.equal(torch.cat([train_x, valid_x]), (images > 127).to(torch.uint8).view(-1, 784))
    assert torch.equal(torch.cat([train_y, valid_y]), labels)
    assert torch.equal(test_y, data.load("mnist", "test")[1])
    assert set(test_x.unique().tolist()) == {0, 1}


def test_mnist5k_needs_no_files(fresh_cache, monkeypatch):
    monkeypatch.delenv("ARLIB_DATA_MIRROR")
    images, labels = data.load("mnist5k")
    assert images.dtype == torch.uint8 and images.shape == (5000, 28, 28)
    assert labels.dtype == torch.int64 and set(labels.unique().tolist()) == set(range(10))
    assert not fresh_cache.exists()


def test_text_datasets(fresh_cache):
    text = data.load("tinyshakespeare")
    assert isinstance(text, str) and len(text) == 1_115_394 and len(set(text)) == 65
    names = data.load("names")
    assert isinstance(names, list) and len(names) == 32033 and names[:2] == ["emma", "olivia"]


def test_fsdd(fresh_cache):
    test = data.load("fsdd", "test")
    assert len(test) == 300
    waveform, digit, speaker = test[0]
    assert waveform.dtype == torch.float32 and waveform.dim() == 1
    assert -1.0 <= waveform.min() and waveform.max() <= 1.0 and waveform.abs().max() > 0.01
    assert digit in range(10) and speaker in {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"}
    assert len(data.load("fsdd", "train")) == 2700


def test_loaded_tensors_are_independent_copies(fresh_cache):
    a = data.load("binarized_mnist", "test")
    a[0, 0] = 7
    assert data.load("binarized_mnist", "test")[0, 0] != 7


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'.*binarized_mnist"):
        data.load("cifar")
    with pytest.raises(ValueError, match="splits .*'valid'.*split='validation'"):
        data.load("binarized_mnist", "validation")


def _bad_mirror(tmp_path, mirror):
    bad = tmp_path / "mirror"
    shutil.copytree(mirror / "names", bad / "names")
    (bad / "names" / "names.txt").write_text("not the names\n")
    return bad


def test_checksum_mismatch_deletes_and_names_both_digests(fresh_cache, tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("ARLIB_DATA_MIRROR", str(_bad_mirror(tmp_path, mirror)))
    with pytest.raises(data.ChecksumError) as error:
        data.load("names")
    message = str(error.value)
    assert "names.txt" in message
    assert "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d" in message  # expected

    actual = hashlib.sha256(b"not the names\n").hexdigest()
    assert actual in message
    assert not (fresh_cache / "names" / "names.txt").exists()


def test_damaged_cache_is_replaced_from_mirror(fresh_cache):
    data.load("names")
    cached = fresh_cache / "names" / "names.txt"
    cached.write_text("damaged")
    data.clear_memory_cache()
    assert len(data.load("names")) == 32033
    assert cached.read_text().startswith("emma")


def test_no_mirror_and_no_network_names_url_and_variable(fresh_cache, monkeypatch):
    monkeypatch.delenv("ARLIB_DATA_MIRROR")
    with pytest.raises(data.DataUnavailableError) as error:
        data.load("tinyshakespeare")  # the autouse fixture refuses the connection
    message = str(error.value)
    assert "https://raw.githubusercontent.com/karpathy/char-rnn" in message
    assert "ARLIB_DATA_MIRROR" in message
    assert not list(fresh_cache.rglob("*.part"))


class _Response(io.BytesIO):
    headers: dict = {}

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()


def test_download_is_verified_and_cached(fresh_cache, mirror, monkeypatch):
    monkeypatch.delenv("ARLIB_DATA_MIRROR")
    payload = (mirror / "names" / "names.txt").read_bytes()
    requested = []

    def fake_urlopen(url, timeout):
        requested.append(url)
        return _Response(payload)

    monkeypatch.setattr(data.urllib.request, "urlopen", fake_urlopen)
    assert len(data.load("names")) == 32033
    assert requested == ["https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"]
    data.clear_memory_cache()
    data.load("names")  # second time from the cache: no new request
    assert len(requested) == 1


def test_corrupt_download_is_deleted(fresh_cache, monkeypatch):
    monkeypatch.delenv("ARLIB_DATA_MIRROR")
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: _Response(b"<html>oops</html>"))
    with pytest.raises(data.ChecksumError, match="expected sha256 0a30b5557f"):
        data.load("names")
    assert not (fresh_cache / "names" / "names.txt").exists()


def test_upstream_amat_format_is_parsed(fresh_cache, mirror, monkeypatch):
    """Without a mirror, binarized MNIST comes from Larochelle's .amat text files; rebuilding them from the
    mirror's arrays reproduces the upstream sha256, and parsing gives the same arrays back."""
    monkeypatch.delenv("ARLIB_DATA_MIRROR")
    with np.load(mirror / "binarized_mnist" / "test.npz") as archive:
        images = archive["images"]
    text = "\n".join(" ".join(map(str, row)) for row in images.tolist()) + "\n"

    def fake_urlopen(url, timeout):
        assert url.endswith("binarized_mnist_test.amat")
        return _Response(text.encode())

    monkeypatch.setattr(data.urllib.request, "urlopen", fake_urlopen)
    loaded = data.load("binarized_mnist", "test")
    assert torch.equal(loaded, torch.from_numpy(images))


def test_failed_download_raises(fresh_cache, monkeypatch):
    monkeypatch.delenv("ARLIB_DATA_MIRROR")

    def refuse(url, timeout):
        raise urllib.error.URLError("no route")

    monkeypatch.setattr(data.urllib.request, "urlopen", refuse)
    with pytest.raises(data.DataUnavailableError, match="ARLIB_DATA_MIRROR"):
        data.load("mnist", "test")
