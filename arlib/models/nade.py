"""NADE: the neural autoregressive distribution estimator (Larochelle & Murray, 2011).

NADE models n binary pixels in a fixed order, x_1, ..., x_n. Conditional i is a network with one
hidden layer of d units that reads the pixels before it, and all n networks share one input matrix
W (d × n): network i uses its first i - 1 columns. Their pre-activations therefore form a running sum,

    a_1 = c,        a_{i+1} = a_i + W[:, i] x_i,
    h_i = σ(a_i),   p(x_i = 1 | x_<i) = σ(b_i + V_i · h_i),

and log p(x) = Σ_i log p(x_i | x_<i) costs O(nd) for all n conditionals (recomputing every a_i from
scratch, as ``log_prob_naive`` does, costs O(n²d)). The parameters are W (d, n), c (d,), V (n, d) and
b (n,). Sampling runs the same sum forwards with the model's own draws: the soft value
x̂_i = p(x_i = 1 | x_<i), the hard value x_i = [u_i < x̂_i] for a uniform u_i, then a += W[:, i] x_i.

Top to bottom: :class:`NADE`, the model above written as that loop; :func:`running_hidden`, the same
sum for any inputs and outputs (CategoricalNADE and RNADE use it); and an opt-in fast path,
``NADE(..., fused=True)``, that computes the sum blockwise with a hand-written backward pass: the same
values, and a training step of the 784 × 500 model about 1.3 times faster on one CPU thread, 1.5 to
1.8 times on two (benchmarks/speed_classical.py). The variants live in their own files: pixels with
K values in :mod:`arlib.models.categorical_nade`, one network for every ordering in
:mod:`arlib.models.deep_nade`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.base import AutoregressiveModel
from arlib.models.common import uniforms

__all__ = ["NADE", "running_hidden"]


class _SampledWithProbs(AutoregressiveModel):
    """``sample`` and ``sample_naive`` of the NADEs, whose ``_sample(n, generator, return_probs, naive)`` can
    also return the probabilities each value was drawn from."""

    def sample(self, n: int, *, generator: torch.Generator | None = None,
               return_probs: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """n samples (n, n_dims); with ``return_probs`` also the probabilities they were drawn from."""
        return super().sample(n, generator=generator, return_probs=return_probs)

    def sample_naive(self, n: int, *, generator: torch.Generator | None = None,
                     return_probs: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Like ``sample`` but recomputing every hidden layer from scratch (the same random stream)."""
        return super().sample(n, generator=generator, return_probs=return_probs, naive=True)


class NADE(_SampledWithProbs):
    """NADE for ``n_dims`` binary pixels with ``hidden`` units; ``fused=True`` trains with the fast kernel.

    (Sidecars saved before CategoricalNADE and DeepNADE were split off also name ``n_categories=2``,
    ``order_agnostic=False`` and ``n_layers=1``; those are accepted and mean this model.)
    """

    def __init__(self, n_dims: int, hidden: int, fused: bool = False) -> None:
        super().__init__(n_dims=n_dims, hidden=hidden, fused=fused)
        n, d = int(n_dims), int(hidden)
        self.event_shape = (n,)
        self.fused = bool(fused)
        self.W = nn.Parameter(torch.randn(d, n) / math.sqrt(n))
        self.c = nn.Parameter(torch.zeros(d))
        self.V = nn.Parameter(torch.randn(n, d) / math.sqrt(d))
        self.b = nn.Parameter(torch.zeros(n))
        self._spare: list[Tensor] = []  # fused path: the activation buffer kept between training steps

    # ------------------------------------------------------------------ likelihood
    def _logits(self, x: Tensor) -> Tensor:
        """Logits of p(x_i = 1 | x_<i) for every i, shape (B, n): the running sum."""
        if self.fused:
            out = running_hidden(x.T.unsqueeze(-1), self.W.T.unsqueeze(1).contiguous(), self.c,
                                 self.V.unsqueeze(1), fused=True, spare=self._spare)
            return out[..., 0].T + self.b
        a = self.c.expand(len(x), -1)  # a_1 = c, one row per example
        logits = []
        # unbind: the columns as views whose gradients autograd gathers in one step (W[:, i] would cost
        # a full-size gradient of W per pixel)
        for x_i, W_i, V_i in zip(x.T, self.W.unbind(1), self.V.unbind(0), strict=True):
            logits.append(torch.sigmoid(a) @ V_i)  # V_i · h_i
            a = a + torch.outer(x_i, W_i)  # a_{i+1} = a_i + W[:, i] x_i
        return torch.stack(logits, 1) + self.b

    def _log_prob(self, x: Tensor) -> Tensor:
        x = x.to(self.W.dtype)
        return -F.binary_cross_entropy_with_logits(self._logits(x), x, reduction="none").sum(-1)

    def log_prob(self, x: Tensor, order=None) -> Tensor:
        """log p(x) in nats, shape (B,). A NADE has one ordering, 0..n-1 (``order`` is for DeepNADE)."""
        _no_order(order)
        return super().log_prob(x)

    def conditionals(self, x: Tensor) -> Tensor:
        """p(x_i = 1 | x_<i) for every i, shape (B, n)."""
        return torch.sigmoid(self._logits(self.validate(x).to(self.W.dtype)))

    def log_prob_naive(self, x: Tensor) -> Tensor:
        """log p(x) recomputing h_i = σ(W[:, <i] x_<i + c) from scratch for each i: O(n²d)."""
        x = self.validate(x).to(self.W.dtype)
        logits = torch.stack([torch.sigmoid(self.c + x[:, :i] @ self.W[:, :i].T) @ self.V[i] + self.b[i]
                              for i in range(self.n_dims)], 1)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)

    # ------------------------------------------------------------------ sampling
    def _sample(self, n: int, generator: torch.Generator | None, return_probs: bool = False,
                naive: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        u = uniforms((n, self.n_dims), generator, self.device)
        x = torch.zeros(n, self.n_dims, device=self.device, dtype=self.W.dtype)
        probs = torch.zeros_like(x)
        a = self.c.expand(n, -1).clone()  # a_1 = c
        for i in range(self.n_dims):
            if naive:
                a = self.c + x[:, :i] @ self.W[:, :i].T
            probs[:, i] = torch.sigmoid(torch.sigmoid(a) @ self.V[i : i + 1].T + self.b[i])[:, 0]  # soft: x̂_i
            x[:, i] = (u[:, i] < probs[:, i]).to(x.dtype)  # hard: x_i ~ Bernoulli(x̂_i)
            a += torch.outer(x[:, i], self.W[:, i])  # feed the hard value back
        return (x, probs) if return_probs else x

    def train(self, mode: bool = True) -> NADE:
        """Switch mode; leaving training frees the fused path's activation buffer."""
        if not mode:
            self._spare.clear()
        return super().train(mode)


def _no_order(order) -> None:
    if order is not None:
        raise ValueError("a NADE has the fixed ordering 0..n-1; to choose the ordering use the order_agnostic "
                         "DeepNADE")


# ---------------------------------------------------------------------------- the running sum, any shape
def running_hidden(X: Tensor, W: Tensor, c: Tensor, V: Tensor, activation: str = "sigmoid", *,
                   fused: bool = False, spare: list | None = None) -> Tensor:
    """out[i] = V_i act(a_i) with a_1 = c, a_{i+1} = a_i + X_i W_i, for every i: shape (n, B, K_out).

    X: (n, B, K_in) inputs (values or one-hot codes), W: (n, K_in, d), c: (d,), V: (n, K_out, d);
    ``activation`` is "sigmoid" or "relu". ``fused=True`` takes the fast path below (no gradient for X:
    an X that needs one takes the plain loop); ``spare`` is a list in which that path keeps its
    (n, B, d) activation buffer between training steps.
    """
    if fused and not X.requires_grad:
        relu = activation == "relu"
        if torch.is_grad_enabled() and (W.requires_grad or c.requires_grad or V.requires_grad):
            return _RunningHidden.apply(X, W, c, V, relu, [] if spare is None else spare)
        return _hidden_blocks(X, W, c, V, relu, None)
    act = torch.relu if activation == "relu" else torch.sigmoid
    a = c.expand(X.shape[1], -1)
    out = []
    for X_i, W_i, V_i in zip(X.unbind(0), W.unbind(0), V.unbind(0), strict=True):
        out.append(act(a) @ V_i.T)
        a = a + X_i @ W_i
    return torch.stack(out)


# ---------------------------------------------------------------------------- opt-in fast path (fused=True)
# The same sum, blockwise: within a block of BLOCK pixels the pre-activations are a cumulative sum written
# into one preallocated (n, B, d) buffer, across blocks the last one is carried over, and a hand-written
# backward pass walks the blocks in reverse. A training step then makes a few passes over that buffer
# instead of building n small autograd nodes.
BLOCK = 16  # pixels per block


def _outer(X: Tensor, W: Tensor, out: Tensor | None = None) -> Tensor:
    """X_j W_j for a run of dimensions j: (k, B, K_in) × (k, K_in, d) -> (k, B, d)."""
    if X.shape[-1] == 1:
        return torch.mul(X, W, out=out)
    return torch.bmm(X, W, out=out)


def _cumsum_(Z: Tensor) -> Tensor:
    """In-place cumulative sum along dim 0 (faster than torch.cumsum for a few dozen slices)."""
    for i in range(1, Z.shape[0]):
        Z[i].add_(Z[i - 1])
    return Z


def _hidden_blocks(X: Tensor, W: Tensor, c: Tensor, V: Tensor, relu: bool, H: Tensor | None) -> Tensor:
    """Output logits (n, B, K_out); the hidden units go into H (n, B, d) if given, else a scratch block."""
    n, B, _ = X.shape
    d = W.shape[-1]
    out = X.new_empty(n, B, V.shape[1])
    scratch = X.new_empty(min(BLOCK, n), B, d) if H is None else None
    a = c.expand(B, d)
    for s in range(0, n, BLOCK):
        e = min(s + BLOCK, n)
        Hb = H[s:e] if H is not None else scratch[: e - s]
        Hb[0].copy_(a)
        _outer(X[s : e - 1], W[s : e - 1], out=Hb[1:])
        _cumsum_(Hb)  # Hb[i] = a_{s+i}, the running pre-activation
        a = Hb[-1] + _outer(X[e - 1 : e], W[e - 1 : e])[0]
        Hb.relu_() if relu else Hb.sigmoid_()
        torch.bmm(Hb, V[s:e].transpose(1, 2), out=out[s:e])
    return out


class _RunningHidden(torch.autograd.Function):
    """Autograd for _hidden_blocks with a hand-written O(n·B·d) backward pass (no grad for X)."""

    @staticmethod
    def forward(ctx, X, W, c, V, relu, spare):
        n, B, _ = X.shape
        shape = (n, B, W.shape[-1])
        ok = spare and spare[0].shape == shape and spare[0].dtype == X.dtype and spare[0].device == X.device
        H = spare.pop() if ok else X.new_empty(shape)  # reusing a buffer saves ~40 ms of page faults
        out = _hidden_blocks(X, W, c, V, relu, H)
        ctx.relu, ctx.spare = relu, spare
        ctx.save_for_backward(X, W, V, H)  # a later forward into the same H bumps its version: autograd errors
        return out

    @staticmethod
    def backward(ctx, G):
        X, W, V, H = ctx.saved_tensors
        n, B, _ = X.shape
        dW, dV = torch.empty_like(W), torch.empty_like(V)
        da = X.new_zeros(B, W.shape[-1])  # gradient reaching the running sum from later pixels
        D = X.new_empty(min(BLOCK, n), B, W.shape[-1])
        Gt, Xt = G.transpose(1, 2).contiguous(), X.transpose(1, 2).contiguous()
        for s in reversed(range(0, n, BLOCK)):
            e = min(s + BLOCK, n)
            Hb, Db = H[s:e], D[: e - s]
            torch.bmm(Gt[s:e], Hb, out=dV[s:e])
            torch.bmm(G[s:e], V[s:e], out=Db)  # dL/dh_i
            if ctx.relu:
                Db.masked_fill_(Hb <= 0, 0)
            else:
                torch.ops.aten.sigmoid_backward.grad_input(Db, Hb, grad_input=Db)  # dL/da_i
            _cumsum_(Db)
            da.add_(Db[-1])
            # W[:, j] feeds every a_i with i > j: dW_j = X_j^T (sum_{i>j} dL/da_i) = X_j^T (da - cumsum_j)
            torch.bmm(Xt[s:e], Db, out=dW[s:e])
            dW[s:e].neg_().add_(torch.matmul(Xt[s:e], da))
        ctx.spare[:] = [H]
        return None, dW, da.sum(0), dV, None, None
