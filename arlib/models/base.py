"""The interface every model in arlib shares.

An autoregressive model factorises a joint distribution with the chain rule,

    log p(x) = sum_i log p(x_i | x_<i),

so it can evaluate ``log_prob(x)`` exactly (in nats, one value per example) and draw exact samples
one dimension at a time with ``sample(n)``. Subclasses implement ``_log_prob`` on validated input and
``_sample``; this base class handles input checking and the mean NLL. Every constructor passes its own
arguments to this class's ``__init__`` by name; they become ``model.config``, from which
:mod:`arlib.pretrained` rebuilds a model (``type(model)(**model.config)``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["AutoregressiveModel", "Support"]


@dataclass(frozen=True)
class Support:
    """The set of values each dimension of x may take.

    ``kind`` is "binary" ({0, 1}), "categorical" ({0, ..., n_categories - 1}) or "real" (finite floats).
    """

    kind: str
    n_categories: int = 2

    def describe(self) -> str:
        if self.kind == "binary":
            return "values in {0, 1} (any numeric dtype)"
        if self.kind == "categorical":
            return f"integer values in [0, {self.n_categories}) (any integer dtype)"
        return "finite real values (a floating-point dtype)"


BINARY = Support("binary")
REAL = Support("real")


class AutoregressiveModel(nn.Module, ABC):
    """Base class: ``log_prob(x)`` in nats per example, ``sample(n)``, ``nll(x)``.

    A subclass calls ``super().__init__(**its arguments)``, sets ``self.event_shape`` (the shape of one
    example) and ``self.support``, and implements ``_log_prob(x)`` (x already validated and converted by
    :meth:`validate`) and ``_sample(n, generator, **options)``.
    """

    event_shape: tuple[int, ...]
    support: Support = BINARY

    def __init__(self, **config: Any) -> None:
        """``config``: the subclass constructor's arguments by name, all of them (kept as ``self.config``)."""
        super().__init__()
        self.config = config

    # ------------------------------------------------------------------ public API
    @property
    def n_dims(self) -> int:
        """Number of scalar dimensions in one example."""
        return math.prod(self.event_shape)

    def validate(self, x: Tensor) -> Tensor:
        """Check shape, dtype and support of a batch; return it as float32 on the model's device.

        Raises ValueError naming the expected shape, dtype and support.
        """
        name = type(self).__name__
        expected = f"{name} expects x of shape (B, {', '.join(map(str, self.event_shape))}) with " \
                   f"{self.support.describe()}"
        if not isinstance(x, Tensor):
            raise ValueError(f"{expected}; got {type(x).__name__}, not a torch.Tensor")
        if x.dim() != 1 + len(self.event_shape) or tuple(x.shape[1:]) != tuple(self.event_shape):
            raise ValueError(f"{expected}; got shape {tuple(x.shape)}")
        if x.is_complex():
            raise ValueError(f"{expected}; got dtype {x.dtype}")
        if self.support.kind == "real":
            if not x.is_floating_point():
                raise ValueError(f"{expected}; got dtype {x.dtype}")
            if not torch.isfinite(x).all():
                raise ValueError(f"{expected}; got non-finite values")
        else:
            if x.is_floating_point() and not torch.equal(x, x.round()):
                raise ValueError(f"{expected}; got non-integer values")
            if x.numel() and (x.min() < 0 or x.max() >= self.support.n_categories):
                raise ValueError(
                    f"{expected}; got values in [{x.min().item():g}, {x.max().item():g}]"
                )
            if self.support.kind == "categorical":
                return x.to(device=self.device, dtype=torch.long)
        return x.to(device=self.device, dtype=torch.float32)

    def log_prob(self, x: Tensor, *condition: Tensor) -> Tensor:
        """log p(x) in nats, one value per example: shape (B,)."""
        return self._log_prob(self.validate(x), *condition)

    def nll(self, x: Tensor, *condition: Tensor) -> Tensor:
        """Mean negative log-likelihood of a batch, in nats per example (the training loss)."""
        return -self.log_prob(x, *condition).mean()

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, **options: Any) -> Tensor:
        """Draw n exact samples, shape ``(n, *event_shape)``; ``options`` are the model's own, by name."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"sample expects a positive integer n, got {n!r}")
        return self._sample(n, generator, **options)

    # ------------------------------------------------------------------ for subclasses
    @abstractmethod
    def _log_prob(self, x: Tensor, *condition: Tensor) -> Tensor: ...

    @abstractmethod
    def _sample(self, n: int, generator: torch.Generator | None, **options: Any) -> Tensor: ...

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters (or buffers); the CPU for a model with neither."""
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    def n_parameters(self) -> int:
        """Number of trainable scalars (masked-out weights excluded where a model says so)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())
