"""A decoder-only Transformer (GPT; Radford et al., 2018), written after Karpathy's nanoGPT.

The input is a learned start token followed by x_1, ..., x_{T−1}; each position gets a token embedding
plus a learned position embedding, then ``n_layers`` pre-LayerNorm blocks

    h ← h + Attention(LN(h)),    h ← h + MLP(LN(h)),

and the output logits_t = LN(h_t) E^T reuse the token embeddings E (weight tying). Causal self-attention
lets position t read positions ≤ t only: with q_t, k_s, v_s linear in h, per head

    attention_t = Σ_{s ≤ t} softmax_s(q_t · k_s / √d) v_s,

so logits_t depends on x_<t alone and one pass scores all T conditionals (teacher forcing).

The Transformer has ``block_size`` positions and the start token takes the first, so ``log_prob``
accepts T ≤ block_size and x_t is predicted from the start token and the t − 1 tokens before it.

Generation appends one token at a time. Keys and values of past positions never change, so a
key/value cache keeps them and each step only runs the newest position: O(T) work per token instead of
O(T²). Past block_size tokens the context becomes a sliding window (the start token, then the last
block_size − 1 tokens), as in nanoGPT. With absolute position embeddings every cached key changes when
the window moves, so there each step recomputes the window (with or without the cache flag).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arlib.models.sequence import SequenceModel

__all__ = ["GPT"]

Cache = list[tuple[Tensor, Tensor]]


class CausalSelfAttention(nn.Module):
    """n_head heads of causal attention; with a cache, the new positions also attend to the cached ones."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be a multiple of n_head ({n_head})")
        self.n_head, self.dropout = n_head, dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # queries, keys and values in one matrix
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, h: Tensor, cache: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        B, T, C = h.shape
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                   for t in self.c_attn(h).split(C, dim=2))
        past = 0 if cache is None else cache[0].shape[2]
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        mask = None if past == 0 or T == 1 else torch.ones(T, past + T, dtype=torch.bool, device=h.device).tril(past)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=past == 0 and T > 1,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C))), (k, v)


class Block(nn.Module):
    """Pre-LN Transformer block: attention then a 4×-wide GELU MLP, each in a residual branch."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd),
                                 nn.Dropout(dropout))

    def forward(self, h: Tensor, cache: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        a, cache = self.attn(self.ln_1(h), cache)
        h = h + a
        return h + self.mlp(self.ln_2(h)), cache


class GPT(SequenceModel):
    """A causal Transformer over ``vocab_size`` tokens with ``block_size`` positions (the start token's included)."""

    def __init__(self, vocab_size: int, block_size: int, n_layers: int, n_head: int, n_embd: int,
                 dropout: float = 0.0) -> None:
        super().__init__(vocab_size, block_size, vocab_size=vocab_size, block_size=block_size, n_layers=n_layers,
                         n_head=n_head, n_embd=n_embd, dropout=dropout)
        self.wte = nn.Embedding(self.vocab_size + 1, n_embd)
        self.wpe = nn.Embedding(self.block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(n_embd)
        for name, p in self.named_parameters():  # GPT-2 initialisation, as in nanoGPT
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                residual = name.endswith("attn.c_proj.weight") or name.endswith("mlp.2.weight")
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layers) if residual else 0.02)

    def _forward(self, tokens: Tensor, offset: int = 0, cache: Cache | None = None) -> tuple[Tensor, Cache]:
        """Logits (B, T', V) for input tokens (B, T') at positions offset, ..., offset + T' − 1, and the new cache."""
        positions = torch.arange(offset, offset + tokens.shape[1], device=tokens.device)
        h = self.drop(self.wte(tokens) + self.wpe(positions))
        new_cache = []
        for i, block in enumerate(self.blocks):
            h, kv = block(h, None if cache is None else cache[i])
            new_cache.append(kv)
        return F.linear(self.ln_f(h), self.wte.weight[: self.vocab_size]), new_cache

    def _logits(self, x: Tensor) -> Tensor:
        return self._forward(self.shift_right(x))[0]

    @torch.no_grad()
    def sample(self, n: int, *, length: int | None = None, generator: torch.Generator | None = None,
               temperature: float = 1.0, top_k: int | None = None, use_cache: bool = True,
               return_logits: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """n sequences (n, length), length block_size by default; ``use_cache=False`` recomputes every step.

        Both settings draw the same uniforms and compute the same logits (up to float rounding), so
        they return the same samples from the same generator.
        """
        return super().sample(n, length=self.block_size if length is None else length, generator=generator,
                              temperature=temperature, top_k=top_k, return_logits=return_logits, use_cache=use_cache)

    def _sampler(self, n: int, use_cache: bool = True) -> Callable[[Tensor, int], Tensor]:
        cache = None

        def step(seq: Tensor, t: int) -> Tensor:
            nonlocal cache
            if t < self.block_size and use_cache:
                out, cache = self._forward(seq[:, t:t + 1], t, cache)  # only the newest position
            elif t < self.block_size:
                out, _ = self._forward(seq[:, :t + 1])
            else:  # sliding window: the start token and the last block_size - 1 tokens
                window = torch.cat([seq[:, :1], seq[:, t + 2 - self.block_size:t + 1]], dim=1)
                out, cache = self._forward(window)[0], None
            return out[:, -1]

        return step
