"""WaveNet (van den Oord et al., 2016): causal dilated convolutions over μ-law audio codes.

Audio in [−1, 1] is compressed by the μ-law (μ = K − 1) and quantised to K classes,

    f(a) = sign(a) · ln(1 + μ|a|) / ln(1 + μ),    code = round((f(a) + 1) / 2 · μ),

so quiet samples get finer steps. The codes x_1, ..., x_T are modelled by the chain rule, with the input
shifted right behind a learned start token ([start, x_1, ..., x_{T−1}], embedded in R channels) so that the
output at t is p(x_t | x_<t) and the K^T probabilities of all sequences of one length sum to 1.

Each layer is a causal convolution with kernel 2 and dilation d, output aligned with its last input,

    (W * h)_t = W_0 h_{t−d} + W_1 h_t          (h_t = 0 before the start),

inside a gated residual unit with a skip connection:

    z = tanh(W_f * h) ⊙ σ(W_g * h),    h ← h + W_res z,    s ← s + W_skip z,

and the logits are W_2 ReLU(W_1 ReLU(s)) (1 × 1 convolutions). With dilations 1, 2, 4, ..., 2^(n−1) the
receptive field doubles with every layer: each prediction sees 1 + Σ_l d_l = 2^n inputs.

Fast generation: layer l only needs its input at t and at t − d_l, so a queue of its last d_l inputs (filled
with zeros at the start) replaces recomputing the receptive field, and every new sample costs O(layers).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.common import eval_mode, gate
from arlib.models.sequence import SequenceModel

__all__ = ["WaveNet", "bits_per_sample", "mu_law_decode", "mu_law_encode"]


def mu_law_encode(waveform: Tensor, n_categories: int = 256) -> Tensor:
    """A waveform (any shape, floats in [−1, 1]) -> μ-law codes, int64 in [0, n_categories)."""
    a = torch.as_tensor(waveform)
    if not a.is_floating_point() or not torch.isfinite(a).all() or (a.numel() and a.abs().max() > 1):
        raise ValueError("mu_law_encode expects a floating-point waveform with finite values in [-1, 1]")
    mu = int(n_categories) - 1
    f = torch.sign(a.double()) * torch.log1p(mu * a.double().abs()) / math.log1p(mu)
    return ((f + 1) / 2 * mu).round().long()


def mu_law_decode(codes: Tensor, n_categories: int = 256) -> Tensor:
    """μ-law codes (integers in [0, n_categories)) -> the waveform values at the centres of their bins (float32)."""
    codes = torch.as_tensor(codes)
    mu = int(n_categories) - 1
    if codes.is_floating_point() or codes.is_complex() or (codes.numel() and (codes.min() < 0 or codes.max() > mu)):
        raise ValueError(f"mu_law_decode expects integer codes in [0, {n_categories})")
    f = codes.double() * (2 / mu) - 1
    return (torch.sign(f) * torch.expm1(f.abs() * math.log1p(mu)) / mu).float()


class WaveNet(SequenceModel):
    """Gated residual layers with kernel-2 causal convolutions of the given ``dilations`` over K μ-law codes."""

    def __init__(self, n_categories: int = 256, residual_channels: int = 32,
                 dilations: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128)) -> None:
        dilations = [int(d) for d in dilations]
        super().__init__(n_categories, n_categories=n_categories, residual_channels=residual_channels,
                         dilations=dilations)
        if not dilations or min(dilations) < 1:
            raise ValueError(f"dilations must be a non-empty list of positive integers, got {dilations!r}")
        self.dilations = dilations
        K, R = self.vocab_size, int(residual_channels)
        self.embed = nn.Embedding(K + 1, R)
        self.filters = nn.ModuleList(nn.Conv1d(R, 2 * R, 2, dilation=d) for d in self.dilations)
        self.residual = nn.ModuleList(nn.Conv1d(R, R, 1) for _ in self.dilations)
        self.skip = nn.ModuleList(nn.Conv1d(R, R, 1) for _ in self.dilations)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(R, R, 1), nn.ReLU(), nn.Conv1d(R, K, 1))

    @property
    def receptive_field(self) -> int:
        """How many inputs (the start token and previous codes) each prediction sees, 1 + Σ dilations."""
        return 1 + sum(self.dilations)

    def _forward(self, tokens: Tensor) -> Tensor:
        """Logits (B, T', K) from input tokens (B, T') (the start token and codes), all positions at once."""
        h = self.embed(tokens).transpose(1, 2)  # (B, R, T')
        skip = 0
        for d, filt, res, sk in zip(self.dilations, self.filters, self.residual, self.skip, strict=True):
            z = gate(filt(F.pad(h, (d, 0))))  # left padding: output t sees inputs t − d and t
            h = h + res(z)
            skip = skip + sk(z)
        return self.head(skip).transpose(1, 2)

    def _logits(self, x: Tensor) -> Tensor:
        return self._forward(self.shift_right(x))

    def _step(self, token: Tensor, queues: list[deque]) -> Tensor:
        """Logits (n, K) after feeding one more input token (n,); each queue holds its layer's last d inputs."""
        h = self.embed(token).unsqueeze(-1)  # (n, R, 1)
        skip = 0
        for queue, filt, res, sk in zip(queues, self.filters, self.residual, self.skip, strict=True):
            past = queue.popleft()  # this layer's input d steps ago
            queue.append(h)
            z = gate(F.conv1d(torch.cat([past, h], dim=-1), filt.weight, filt.bias))  # the kernel's two taps
            h = h + res(z)
            skip = skip + sk(z)
        return self.head(skip)[:, :, 0]

    @torch.no_grad()
    def sample(self, n: int, *, length: int, generator: torch.Generator | None = None, use_cache: bool = True,
               temperature: float = 1.0, top_k: int | None = None,
               return_logits: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """n sequences of codes (n, length) int64; ``use_cache=False`` recomputes the receptive field every step.

        Both settings draw the same uniforms and compute the same logits (up to float rounding), so they
        return the same samples from the same generator.
        """
        return super().sample(n, length=length, generator=generator, temperature=temperature, top_k=top_k,
                              return_logits=return_logits, use_cache=use_cache)

    def _sampler(self, n: int, use_cache: bool = True) -> Callable[[Tensor, int], Tensor]:
        queues = [deque([self.embed.weight.new_zeros(n, self.embed.embedding_dim, 1)] * d) for d in self.dilations]

        def step(seq: Tensor, t: int) -> Tensor:
            if use_cache:
                return self._step(seq[:, t], queues)
            return self._forward(seq[:, max(0, t + 1 - self.receptive_field): t + 1])[:, -1]

        return step


@torch.no_grad()
def bits_per_sample(model: SequenceModel, clips: list[Tensor]) -> float:
    """Σ over clips of −log2 p(clip), each clip of codes scored from its first sample, over the number of samples."""
    with eval_mode(model):
        total = sum(-model.log_prob(c[None].long()).double().item() for c in clips)
    return total / sum(len(c) for c in clips) / math.log(2)
