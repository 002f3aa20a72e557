"""NADE: the neural autoregressive distribution estimator (Larochelle & Murray, 2011).

Each conditional is a one-hidden-layer network of the pixels before it, with the input weights W tied
across conditionals:

    h_i = σ(W[:, <i] x_<i + c),      p(x_i = 1 | x_<i) = σ(V_i · h_i + b_i).

Tying makes the pre-activations a running sum, a_1 = c and a_{i+1} = a_i + W[:, i] x_i, so all n
conditionals cost O(nd) instead of O(n²d), with O(nd) parameters. The likelihood is computed blockwise:
within a block of pixels the running sum is a cumulative sum, across blocks it is carried over, and a
hand-written backward pass keeps the whole step at a few passes over the (n, B, d) hidden activations.
Sampling reuses the same running sum: soft probability x̂_i, hard sample x_i, then a += W[:, i] x_i.

With ``n_categories = K > 2`` every pixel takes values {0, ..., K-1}: inputs are one-hot (W is d×n×K)
and each conditional is a softmax over K logits (V is n×K×d, b is n×K).

With ``order_agnostic=True`` the model is DeepNADE (Uria et al., 2014): a feed-forward ReLU network
reads the observed pixels (zeroed elsewhere) concatenated with the mask of which pixels are observed,
and predicts every unobserved pixel. Trained on random orderings and random prefixes, it gives a
conditional for any ordering; the exact likelihood of one ordering costs n forward passes.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.base import AutoregressiveModel, Support, uniform_like

__all__ = ["NADE", "running_hidden"]

BLOCK = 16  # pixels per block in the fast likelihood


# ---------------------------------------------------------------------------- the fast tied-weight layer
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


def running_hidden(X: Tensor, W: Tensor, c: Tensor, V: Tensor, activation: str = "sigmoid",
                   spare: list | None = None) -> Tensor:
    """logits[i] = V_i · act(c + Σ_{j<i} X_j W_j) for all i at once, shape (n, B, K_out).

    X: (n, B, K_in) inputs, W: (n, K_in, d), c: (d,), V: (n, K_out, d). ``spare`` is a list in which
    the (n, B, d) activation buffer is kept between training steps.
    """
    relu = activation == "relu"
    if X.requires_grad:  # plain autograd: the cumulative sum written out
        Z = _outer(X, W)
        A = c + Z.cumsum(0) - Z
        return torch.bmm(A.relu() if relu else A.sigmoid(), V.transpose(1, 2))
    if torch.is_grad_enabled() and (W.requires_grad or c.requires_grad or V.requires_grad):
        return _RunningHidden.apply(X, W, c, V, relu, [] if spare is None else spare)
    return _hidden_blocks(X, W, c, V, relu, None)


def check_order(order, n: int) -> Tensor:
    """An ordering as a LongTensor permutation of 0..n-1 (order[p] = the dimension generated p-th)."""
    try:
        order = torch.as_tensor(order, dtype=torch.long).flatten().cpu()
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"order must be a permutation of 0..{n - 1}, got {order!r}") from error
    if order.numel() != n or not torch.equal(order.sort().values, torch.arange(n)):
        raise ValueError(f"order must be a permutation of 0..{n - 1}, got {order.tolist()}")
    return order


def _draw(logits: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """Inverse-CDF draw from Bernoulli logits (B, 1) or categorical logits (B, K); returns (x, probs)."""
    if logits.shape[-1] == 1:
        p = torch.sigmoid(logits[:, 0])
        return (u < p).to(p.dtype), p
    p = torch.softmax(logits, -1)
    x = (torch.cumsum(p, -1) < u.unsqueeze(-1)).sum(-1)  # smallest k with u <= F_k
    return x.clamp(max=p.shape[-1] - 1), p


# ---------------------------------------------------------------------------- the model
class NADE(AutoregressiveModel):
    """NADE with ``hidden`` units; binary pixels, or ``n_categories`` values; optionally order-agnostic.

    ``n_layers`` is the number of hidden layers of the order-agnostic (DeepNADE) network.
    """

    def __init__(self, n_dims: int, hidden: int, n_categories: int = 2, order_agnostic: bool = False,
                 n_layers: int = 1) -> None:
        super().__init__()
        n, d, K = int(n_dims), int(hidden), int(n_categories)
        if K < 2:
            raise ValueError(f"n_categories must be at least 2, got {K}")
        self.event_shape = (n,)
        if K > 2:
            self.support = Support("categorical", K)
        self.order_agnostic = bool(order_agnostic)
        self.k_in = 1 if K == 2 else K  # input columns per pixel (value or one-hot)
        self.k_out = 1 if K == 2 else K  # output logits per pixel
        if self.order_agnostic:
            sizes = [n * self.k_in + n] + [d] * int(n_layers)
            layers = []
            for a, b in pairwise(sizes):
                layers += [nn.Linear(a, b), nn.ReLU()]
            self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], n * self.k_out))
            return
        wide = () if K == 2 else (K,)
        self.W = nn.Parameter(torch.randn(d, n, *wide) / math.sqrt(n))
        self.c = nn.Parameter(torch.zeros(d))
        self.V = nn.Parameter(torch.randn(n, *wide, d) / math.sqrt(d))
        self.b = nn.Parameter(torch.zeros(n, *wide))
        self._spare: list[Tensor] = []

    def train(self, mode: bool = True) -> NADE:
        """Switch mode; leaving training frees the activation buffer kept between steps."""
        if not mode and not self.order_agnostic:
            self._spare.clear()
        return super().train(mode)

    # ------------------------------------------------------------------ public API
    def log_prob(self, x: Tensor, order=None) -> Tensor:
        """log p(x) in nats, shape (B,); ``order`` (order-agnostic mode only) defaults to 0..n-1."""
        return self._log_prob(self.validate(x), order)

    def conditionals(self, x: Tensor, order=None) -> Tensor:
        """p(x_i = 1 | x_<i) (B, n); for K categories the (B, n, K) probabilities of every value."""
        logits = self._logits(self.validate(x), order)
        return torch.sigmoid(logits[..., 0]) if self.k_out == 1 else torch.softmax(logits, -1)

    def nll(self, x: Tensor) -> Tensor:
        """Mean NLL; when training an order-agnostic model, the DeepNADE estimate instead.

        DeepNADE: per example draw an ordering and a prefix length k in {0, ..., n-1}, observe the first
        k dimensions and score all n - k others in one pass, scaled by n / (n - k). Its expectation is the
        NLL averaged over orderings.
        """
        if not (self.order_agnostic and self.training):
            return -self.log_prob(x).mean()
        x = self.validate(x)
        B, n = x.shape
        k = torch.randint(0, n, (B, 1), device=x.device)
        rank = torch.rand(B, n, device=x.device).argsort(1).argsort(1)  # position in a random ordering
        observed = (rank < k).to(self.net[0].weight.dtype)
        log_p = self._per_dim(self._net_logits(x, observed), x)
        return -((1 - observed) * log_p).sum(1).mul(n / (n - k[:, 0])).mean()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, return_probs: bool = False,
               order=None) -> Tensor | tuple[Tensor, Tensor]:
        """n samples (n, n_dims); with ``return_probs`` also the soft probabilities x̂ drawn from."""
        return super().sample(n, generator, return_probs=return_probs, order=order)

    def log_prob_naive(self, x: Tensor) -> Tensor:
        """log p(x) recomputing h_i = σ(W[:, <i] x_<i + c) from scratch for each i: O(n²d)."""
        x = self._tied_only(x)
        X, W, V = self._inputs(x), self._w_in(), self._v_out()
        logits = []
        for i in range(self.n_dims):
            h = torch.sigmoid(self.c + torch.einsum("ibk,ikd->bd", X[:i], W[:i]))
            logits.append(h @ V[i].T)
        return self._per_dim(self._add_bias(torch.stack(logits)), x).sum(-1)

    @torch.no_grad()
    def sample_naive(self, n: int, generator: torch.Generator | None = None,
                     return_probs: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Like ``sample`` but recomputing every hidden layer from scratch (same random stream)."""
        self._tied_only(None)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"sample expects a positive integer n, got {n!r}")
        return self._sample_tied(n, generator, return_probs, naive=True)

    # ------------------------------------------------------------------ internals
    def _log_prob(self, x: Tensor, order=None) -> Tensor:
        return self._per_dim(self._logits(x, order), x).sum(-1)

    def _logits(self, x: Tensor, order=None) -> Tensor:
        """Logits (B, n, k_out) of every conditional."""
        if self.order_agnostic:
            order = check_order(range(self.n_dims) if order is None else order, self.n_dims)
            observed = torch.zeros(x.shape, device=x.device, dtype=self.net[0].weight.dtype)
            logits = []
            for dim in order.tolist():  # one pass per prefix
                logits.append(self._net_logits(x, observed)[:, dim])
                observed[:, dim] = 1
            out = torch.stack(logits, 1)
            return out[:, order.argsort()]
        if order is not None:
            raise ValueError("order is only supported with order_agnostic=True")
        out = running_hidden(self._inputs(x), self._w_in(), self.c, self._v_out(), spare=self._spare)
        return self._add_bias(out)

    def _inputs(self, x: Tensor) -> Tensor:
        """x (B, n) as (n, B, k_in): the values, or their one-hot codes."""
        dtype = (self.net[0].weight if self.order_agnostic else self.W).dtype
        X = x.T.unsqueeze(-1) if self.k_in == 1 else F.one_hot(x.T, self.k_in)
        return X.to(dtype)

    def _w_in(self) -> Tensor:
        return self.W.T.unsqueeze(1).contiguous() if self.k_in == 1 else self.W.permute(1, 2, 0).contiguous()

    def _v_out(self) -> Tensor:
        return self.V.unsqueeze(1) if self.k_out == 1 else self.V

    def _add_bias(self, out: Tensor) -> Tensor:
        """(n, B, k_out) tied-layer outputs -> (B, n, k_out) logits."""
        return out.transpose(0, 1) + self.b.view(self.n_dims, self.k_out)

    def _net_logits(self, x: Tensor, observed: Tensor) -> Tensor:
        """DeepNADE: logits (B, n, k_out) of every dimension given the observed ones."""
        X = self._inputs(x).transpose(0, 1) * observed.unsqueeze(-1)
        out = self.net(torch.cat([X.flatten(1), observed], 1))
        return out.view(x.shape[0], self.n_dims, self.k_out)

    def _per_dim(self, logits: Tensor, x: Tensor) -> Tensor:
        """log p(x_i | ...) for every i, (B, n), from logits (B, n, k_out)."""
        if self.k_out == 1:
            return -F.binary_cross_entropy_with_logits(logits[..., 0], x.to(logits.dtype), reduction="none")
        return torch.log_softmax(logits, -1).gather(-1, x.unsqueeze(-1))[..., 0]

    def _tied_only(self, x: Tensor | None) -> Tensor | None:
        if self.order_agnostic:
            raise ValueError("the naive methods belong to the tied-weight NADE (order_agnostic=False)")
        return None if x is None else self.validate(x)

    def _sample(self, n: int, generator: torch.Generator | None, return_probs: bool = False,
                order=None) -> Tensor | tuple[Tensor, Tensor]:
        if not self.order_agnostic:
            if order is not None:
                raise ValueError("order is only supported with order_agnostic=True")
            return self._sample_tied(n, generator, return_probs, naive=False)
        order = check_order(range(self.n_dims) if order is None else order, self.n_dims)
        u = uniform_like((n, self.n_dims), generator, self._device())
        x, probs = self._empty_samples(n)
        observed = torch.zeros(n, self.n_dims, device=u.device, dtype=self.net[0].weight.dtype)
        for i in order.tolist():
            x[:, i], probs[:, i] = _draw(self._net_logits(x, observed)[:, i], u[:, i])
            observed[:, i] = 1
        return (x, probs) if return_probs else x

    def _sample_tied(self, n: int, generator: torch.Generator | None, return_probs: bool,
                     naive: bool) -> Tensor | tuple[Tensor, Tensor]:
        u = uniform_like((n, self.n_dims), generator, self._device())
        W, V, b = self._w_in(), self._v_out(), self.b.view(self.n_dims, self.k_out)
        x, probs = self._empty_samples(n)
        a = self.c.expand(n, -1).clone()
        for i in range(self.n_dims):
            if naive:
                a = self.c + torch.einsum("ibk,ikd->bd", self._inputs(x[:, :i]), W[:i])
            x[:, i], probs[:, i] = _draw(torch.sigmoid(a) @ V[i].T + b[i], u[:, i])
            if not naive:
                a += self._inputs(x[:, i : i + 1])[0] @ W[i]
        return (x, probs) if return_probs else x

    def _empty_samples(self, n: int) -> tuple[Tensor, Tensor]:
        device = self._device()
        dtype = (self.net[0].weight if self.order_agnostic else self.W).dtype
        if self.k_out == 1:
            return torch.zeros(n, self.n_dims, device=device, dtype=dtype), \
                torch.zeros(n, self.n_dims, device=device, dtype=dtype)
        return torch.zeros(n, self.n_dims, device=device, dtype=torch.long), \
            torch.zeros(n, self.n_dims, self.k_out, device=device, dtype=dtype)
