"""MADE: the masked autoencoder for distribution estimation (Germain et al., 2015).

An autoencoder x -> hidden layers -> n output logits is not a density model: output i may look at x_i
itself. MADE multiplies every weight matrix by a binary mask so that output i only depends on the
inputs before it in an ordering. Every unit gets a degree:

    inputs:  m(x_i) = position of x_i in the ordering, 1..n;
    hidden:  m ∈ [min degree of the previous layer, n - 1], drawn at random;

and a weight is kept iff m_prev ≤ m (into a hidden unit) or m < m(x_i) (into output i). Then the
product of the masks is strictly lower-triangular in the ordering, and one forward pass gives all n
conditionals p(x_i = 1 | x_<i) (NADE needs n steps). Training cycles through ``n_masks`` mask sets
(connectivity-agnostic; with ``order="random"`` also order-agnostic), and ``log_prob_ensemble``
averages the probabilities the mask sets assign. With ``direct=True`` the logits also get a direct
input-to-output term, masked like the output layer (m(x_j) < m(x_i)), as in the paper's MNIST models:

    logit_i = b_i + V_i · h_L(x) + Σ_{j: m(x_j) < m(x_i)} A_ij x_j.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.base import AutoregressiveModel
from arlib.models.common import check_order, uniforms

__all__ = ["MADE"]


class MADE(AutoregressiveModel):
    """A masked ReLU MLP with one Bernoulli logit per dimension and ``n_masks`` mask sets.

    ``order``: None (x_1, ..., x_n), "random" (a fresh ordering per mask set) or a list giving the
    dimension generated first, second, ... (e.g. [1, 2, 0] for x2, x3, x1). ``seed`` fixes the draws.
    ``direct`` adds the masked input-to-output connections.
    """

    def __init__(self, n_dims: int, hidden_sizes: list[int], n_masks: int = 1, order=None,
                 seed: int = 0, direct: bool = False) -> None:
        super().__init__(n_dims=n_dims, hidden_sizes=hidden_sizes, n_masks=n_masks, order=order, seed=seed,
                         direct=direct)
        n, n_masks = int(n_dims), int(n_masks)
        if n_masks < 1:
            raise ValueError(f"n_masks must be at least 1, got {n_masks}")
        self.event_shape = (n,)
        self.n_masks = n_masks
        sizes = [n, *[int(h) for h in hidden_sizes], n]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.direct = nn.Linear(n, n, bias=False) if direct else None
        generator = torch.Generator().manual_seed(int(seed))
        top = max(n - 1, 1)
        orders, degrees = [], [[] for _ in sizes[:-1]]
        for _ in range(n_masks):
            if isinstance(order, str) and order == "random":
                o = torch.randperm(n, generator=generator)
            elif isinstance(order, str):
                raise ValueError(f"order must be None, 'random' or a permutation, got {order!r}")
            else:
                o = check_order(range(n) if order is None else order, n)
            orders.append(o)
            m = torch.empty(n, dtype=torch.long)
            m[o] = torch.arange(1, n + 1)
            degrees[0].append(m)
            for layer, size in enumerate(sizes[1:-1], start=1):
                low = min(int(m.min()), top)
                m = torch.randint(low, top + 1, (size,), generator=generator)
                degrees[layer].append(m)
        self.register_buffer("orders", torch.stack(orders))
        for layer, degs in enumerate(degrees):
            self.register_buffer(f"degrees{layer}", torch.stack(degs))
        self._build_masks()
        self.register_load_state_dict_post_hook(lambda module, _: module._build_masks())
        self.register_buffer("mask_counter", torch.zeros((), dtype=torch.long))
        with torch.no_grad():
            for layer, linear in enumerate(self.layers):
                linear.weight.mul_(getattr(self, f"mask{layer}").amax(0))  # never-used weights are exactly 0
            if self.direct is not None:
                self.direct.weight.mul_(self.mask_direct.amax(0))

    # ------------------------------------------------------------------ masks
    def _build_masks(self) -> None:
        """Masks from the degrees (kept out of the saved state: the degrees determine them)."""
        for layer in range(len(self.layers)):
            d_in = getattr(self, f"degrees{layer}")[:, None, :]
            if layer + 1 < len(self.layers):  # into a hidden unit: m_prev <= m
                keep = getattr(self, f"degrees{layer + 1}")[:, :, None] >= d_in
            else:  # into output i: m < m(x_i)
                keep = self.degrees0[:, :, None] > d_in
            self.register_buffer(f"mask{layer}", keep.to(self.layers[layer].weight.dtype), persistent=False)
        if self.direct is not None:  # input j -> output i: m(x_j) < m(x_i), like the output layer
            keep = self.degrees0[:, :, None] > self.degrees0[:, None, :]
            self.register_buffer("mask_direct", keep.to(self.direct.weight.dtype), persistent=False)

    def masks(self, k: int = 0) -> list[Tensor]:
        """The mask matrices (out × in) of mask set k, from the input layer to the output layer."""
        k = self._check_index(k)
        return [getattr(self, f"mask{layer}")[k] for layer in range(len(self.layers))]

    def degrees(self, k: int = 0) -> list[Tensor]:
        """Degrees of the input units (positions 1..n in the ordering) and of each hidden layer."""
        k = self._check_index(k)
        return [getattr(self, f"degrees{layer}")[k] for layer in range(len(self.layers))]

    def order(self, k: int = 0) -> Tensor:
        """The ordering of mask set k: order[p] is the dimension generated p-th."""
        return self.orders[self._check_index(k)]

    def n_parameters(self) -> int:
        """Weights connected under at least one mask set, plus all biases."""
        count = sum(int(getattr(self, f"mask{layer}").amax(0).sum()) + linear.bias.numel()
                    for layer, linear in enumerate(self.layers))
        return count + (int(self.mask_direct.amax(0).sum()) if self.direct is not None else 0)

    # ------------------------------------------------------------------ likelihood
    def logits(self, x: Tensor, mask_index: int | None = None) -> Tensor:
        """Logits of p(x_i = 1 | x_<i) for every i, (B, n), under mask set ``mask_index``."""
        return self._logits(self.validate(x), self._check_index(mask_index))

    def conditionals(self, x: Tensor, mask_index: int | None = None) -> Tensor:
        """p(x_i = 1 | x before i in the ordering) for every i, shape (B, n)."""
        return torch.sigmoid(self.logits(x, mask_index))

    def log_prob(self, x: Tensor, mask_index: int | None = None) -> Tensor:
        """log p(x) in nats under one mask set (default: the current one of the training cycle)."""
        return self._log_prob(self.validate(x), self._check_index(mask_index))

    def log_prob_ensemble(self, x: Tensor) -> Tensor:
        """log of the mean probability over all mask sets: logsumexp_k log p_k(x) - log n_masks."""
        x = self.validate(x)
        log_p = torch.stack([self._log_prob(x, k) for k in range(self.n_masks)])
        return torch.logsumexp(log_p, 0) - math.log(self.n_masks)

    def nll(self, x: Tensor) -> Tensor:
        """Mean NLL under the current mask set; in training mode, then move on to the next set."""
        loss = -self.log_prob(x).mean()
        if self.training:
            self.mask_counter.add_(1).remainder_(self.n_masks)
        return loss

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, mask_index: int | None = None) -> Tensor:
        """n samples under one mask set, drawn in its ordering."""
        return super().sample(n, generator=generator, mask_index=mask_index)

    # ------------------------------------------------------------------ internals
    def _check_index(self, k: int | None) -> int:
        if k is None:
            return int(self.mask_counter)
        if not isinstance(k, int) or not 0 <= k < self.n_masks:
            raise ValueError(f"mask_index must be an int in [0, {self.n_masks}), got {k!r}")
        return k

    def _logits(self, x: Tensor, k: int) -> Tensor:
        x = h = x.to(self.layers[0].weight.dtype)
        for layer, linear in enumerate(self.layers):
            h = F.linear(h, linear.weight * getattr(self, f"mask{layer}")[k], linear.bias)
            if layer + 1 < len(self.layers):
                h = F.relu(h)
        if self.direct is not None:
            h = h + F.linear(x, self.direct.weight * self.mask_direct[k])
        return h

    def _log_prob(self, x: Tensor, k: int | None = None) -> Tensor:
        k = self._check_index(k)
        logits = self._logits(x, k)
        return -F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none").sum(-1)

    def _sample(self, n: int, generator: torch.Generator | None, mask_index: int | None = None) -> Tensor:
        k = self._check_index(mask_index)
        u = uniforms((n, self.n_dims), generator, self.device)
        x = torch.zeros(n, self.n_dims, device=u.device, dtype=self.layers[0].weight.dtype)
        for i in self.orders[k].tolist():
            x[:, i] = (u[:, i] < torch.sigmoid(self._logits(x, k)[:, i])).to(x.dtype)
        return x
