# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% tags=["parameters"]
import torch

SEED = 0
QUICK = not torch.cuda.is_available()  # CPU: shipped weights, short demos. GPU: train the GPTs from scratch.
VALID_BLOCKS = 300 if QUICK else 4000  # random 64-character validation blocks re-scored here
SAMPLE_CHARS = 300                     # characters per Shakespeare sample
TEMPERATURES = [0.5, 0.8, 1.0, 1.5]    # sampling temperatures shown
TIMING_LENGTHS = [32, 64, 128, 256]    # generated lengths in the key/value-cache timing
PIXEL_STEPS = 150 if QUICK else 6000   # only if no pixel GPT is shipped: training steps of the one made here
PIXEL_TEST = 1000 if QUICK else 10_000  # binarized-MNIST test images scored by the pixel GPT (784 tokens each)
N_PIXEL_SAMPLES = 20                   # digits sampled from the pixel GPT
STEPS = None                           # GPU path: steps of each GPT retrained from its sidecar (None: the recipe's)
CHECKPOINTS = "checkpoints"             # GPU path: training checkpoints, resumed when the cell is re-run

# %% [markdown]
# # 10. Transformers
#
# The RNN of chapter 7 squeezes the whole history $x_{<t}$ into one fixed-size vector $h_t$, and it has to build
# that vector one step after another, even during training, when the whole sequence is known in advance. The
# **Transformer** (Vaswani et al., 2017) drops the recursion. Every position reads every earlier position
# *directly*, with weights it computes on the fly (**attention**), and all positions are computed at once. With one
# change, a **causal mask**, the result is again an autoregressive model, and it is the model behind GPT.
#
# This chapter
#
# 1. defines (masked) self-attention in a few lines, draws the causal mask, and checks both against the attention
#    layer of `arlib.models.GPT`;
# 2. shows that the mask makes the model autoregressive and lets one pass train all conditionals in parallel;
# 3. places decoder-only (GPT) and encoder-decoder Transformers, and the choice of tokens: characters, bytes, pixels,
#    patches;
# 4. studies a small GPT trained on Tiny Shakespeare: validation loss, its attention weights on a sentence, samples
#    at several temperatures;
# 5. times generation with and without the **key/value cache**;
# 6. treats binarized MNIST as a sequence of 784 pixel tokens and scores a GPT in nats per image, in the same
#    table as the image models;
# 7. closes the book's part on autoregressive models with a summary and one table of every model we trained.
#
# ## Self-attention
#
# Take a sequence of $T$ vectors $h_1, \dots, h_T \in \mathbb{R}^C$ (embedded tokens, or the output of the previous
# layer). Three linear maps turn each into a **query** $q_t = W_q h_t$, a **key** $k_s = W_k h_s$ and a **value**
# $v_s = W_v h_s$, of dimension $d$. Position $t$ scores every position $s$ by how well its query matches that key,
# turns the scores into weights with a softmax, and outputs the weighted average of the values:
#
# $$
# a_{ts} = \frac{q_t \cdot k_s}{\sqrt{d}}, \qquad \alpha_{ts} = \frac{\exp(a_{ts})}{\sum_{s'} \exp(a_{ts'})}, \qquad
# y_t = \sum_{s} \alpha_{ts}\, v_s .
# $$
#
# In matrix form, $Y = \operatorname{softmax}\!\big(QK^\top / \sqrt{d}\big)\, V$. The weights $\alpha_{ts}$ are
# computed from the data, so each position decides *where to look*: the lectures' "attention to adaptively focus only
# on relevant context". The $\sqrt{d}$ keeps the scores of order 1 when $d$ is large. **Multi-head** attention runs
# $n_\text{head}$ of these side by side on slices of size $d = C / n_\text{head}$, concatenates their outputs and mixes
# them with one more matrix $W_o$.
#
# ## The causal mask
#
# Plain self-attention lets position $t$ read the future, $s > t$. For a model of $p(x_t \mid x_{<t})$ that would be
# cheating. The fix is a **mask** added to the scores before the softmax,
#
# $$
# M_{ts} = \begin{cases} 0 & s \le t \\ -\infty & s > t \end{cases}, \qquad
# Y = \operatorname{softmax}\!\Big(\frac{QK^\top}{\sqrt{d}} + M\Big) V,
# $$
#
# so that $\exp(-\infty) = 0$ removes every future position and each row of weights still sums to 1. This is
# **masked (causal) self-attention**. We write it as a small function of our own.

# %%
import json
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap

import arlib
from arlib import data, evaluation, plot, pretrained, text, train
from arlib.book import glue
from arlib.models import GPT

generator = arlib.seed(SEED)
if QUICK:  # CPU demo: small models, where one thread is fastest and reproducible
    torch.set_num_threads(1)
device = arlib.device()


def causal_self_attention(h: torch.Tensor, W_qkv, b_qkv, W_o, b_o, n_head: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head causal self-attention of h (B, T, C): outputs (B, T, C) and weights α (B, n_head, T, T)."""
    B, T, C = h.shape
    d = C // n_head
    q, k, v = (h @ W_qkv.T + b_qkv).split(C, dim=-1)  # queries, keys, values: (B, T, C) each
    q, k, v = (z.reshape(B, T, n_head, d).transpose(1, 2) for z in (q, k, v))  # (B, n_head, T, d): one slice per head
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # a_ts = q_t · k_s / √d
    mask = torch.zeros(T, T).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))  # M
    weights = torch.softmax(scores + mask, dim=-1)  # α_ts: zero for s > t, rows sum to 1
    y = (weights @ v).transpose(1, 2).reshape(B, T, C)  # weighted values, heads concatenated
    return y @ W_o.T + b_o, weights


T_show = 8
mask = torch.zeros(T_show, T_show).masked_fill(torch.ones(T_show, T_show, dtype=torch.bool).triu(1), float("-inf"))
print("the causal mask M for T = 8 (0: may attend, -inf: may not):")
print(mask)

# %% [markdown]
# `arlib`'s GPT packs $W_q, W_k, W_v$ into one matrix `c_attn` and $W_o$ into `c_proj`, and calls PyTorch's fused
# `scaled_dot_product_attention` with `is_causal=True`. Fed the same input and weights, our function must give the
# same output. We also draw the mask and the weights $\alpha$ it produces for random queries and keys, next to the
# two other attention patterns of the original encoder-decoder Transformer (discussed below).
# (API: {py:class}`arlib.models.GPT`.)

# %%
torch.manual_seed(SEED)
small = GPT(vocab_size=10, block_size=16, n_layers=2, n_head=4, n_embd=32)
attn = small.blocks[0].attn
h = torch.randn(3, 12, 32)
with torch.no_grad():
    theirs, _ = attn(h)
    ours, alpha = causal_self_attention(h, attn.c_attn.weight, attn.c_attn.bias, attn.c_proj.weight,
                                        attn.c_proj.bias, attn.n_head)
print("our causal_self_attention == GPT's attention layer:", torch.allclose(ours, theirs, atol=1e-6))
print("weights above the diagonal:", alpha.triu(1).abs().max().item(), "| rows sum to 1:",
      torch.allclose(alpha.sum(-1), torch.ones(3, 4, 12)))

random_alpha = torch.softmax(2 * torch.randn(T_show, T_show, generator=generator) + mask, dim=-1)
two_colours = ListedColormap(["#2b2b2b", "#9ecae1"])  # dark: masked out, light: may attend
fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
allowed = torch.ones(T_show, T_show).tril()
panels = [(allowed, two_colours, "decoder: causal mask M\n(light: may attend)", "key position s", "query position t"),
          (random_alpha, "viridis", "α = softmax(random scores + M)", "key position s", "query position t"),
          (torch.ones(T_show, T_show), two_colours, "encoder self-attention\n(no mask)", "source position",
           "source position"),
          (torch.ones(T_show, 6), two_colours, "decoder → encoder\ncross-attention (no mask)", "source position",
           "target position")]
for ax, (matrix, cmap, title, xlabel, ylabel) in zip(axes, panels, strict=True):
    ax.imshow(matrix, cmap=cmap, vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks(range(matrix.shape[1]), range(1, matrix.shape[1] + 1))
    ax.set_yticks(range(matrix.shape[0]), range(1, matrix.shape[0] + 1))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Why the mask gives an autoregressive model, and parallel training
#
# A GPT reads a **start token** followed by $x_1, \dots, x_{T-1}$, adds a learned **position embedding** to each
# token embedding (attention itself ignores order: permuting the inputs permutes the outputs), and runs a stack of
# **blocks**, each a causal self-attention layer and a small MLP, both in residual branches with layer
# normalisation. The output at position $t$ gives the logits of $p(x_t \mid x_{<t})$. Since every layer is causal,
# output $t$ depends on inputs $\le t$ only, which are the start token and $x_1, \dots, x_{t-1}$.
#
# We verify this on the small random GPT. For each input token $j$ we change $x_j$ and record which output
# positions change: only the conditionals of *later* tokens may move.

# %%
T_dep = 16
x_dep = torch.randint(10, (1, T_dep), generator=generator)
with torch.no_grad():
    base = small.logits(x_dep)
    changed = torch.zeros(T_dep, T_dep)
    for j in range(T_dep):
        x_changed = x_dep.clone()
        x_changed[0, j] = (x_changed[0, j] + 1) % 10
        changed[:, j] = (small.logits(x_changed) - base).abs().amax(-1)[0] > 0
print("changing x_j moves only the conditionals of x_t with t > j:", torch.equal(changed, torch.ones(16, 16).tril(-1)))

fig, ax = plt.subplots(figsize=(3.6, 3.4))
ax.imshow(changed, cmap="Greys")
ax.set_xlabel("changed input token j")
ax.set_ylabel("conditional p(x_t | x_<t), t")
ax.set_xticks([0, 5, 10, 15], [1, 6, 11, 16])
ax.set_yticks([0, 5, 10, 15], [1, 6, 11, 16])
ax.set_title("which conditionals move (black)", fontsize=10)
plt.show()

# %% [markdown]
# The pattern is strictly lower-triangular: the GPT is an autoregressive model, and `log_prob` is the chain rule
# $\sum_t \log p(x_t \mid x_{<t})$. Training is **parallel**: with teacher forcing, one forward pass over the whole
# sequence yields all $T$ conditionals at once, as matrix products over all positions, with no loop over time. That
# is the Transformer's advantage over the RNN, whose $T$ steps depend on each other. (Attention has its own price:
# the score matrix has $T^2$ entries per head and layer.)
#
# Generation is still sequential, as for every autoregressive model: sample $x_1$, append it, run the model, sample
# $x_2$, and so on. The conditionals used while sampling must be exactly those of the likelihood; `GPT.sample` can
# return the logits it sampled from, and we compare them with one teacher-forced pass over the sample.

# %%
with torch.no_grad():
    drawn, sampled_logits = small.sample(4, length=16, generator=generator, return_logits=True)
    print("logits while sampling == logits(sample) in one pass:", torch.allclose(sampled_logits, small.logits(drawn),
                                                                                  atol=1e-5))

# %% [markdown]
# ## Decoder-only or encoder-decoder; what a token is
#
# The original Transformer was built for translation, a **conditional** model $p(y \mid x)$ of a target sentence
# given a source sentence. Its **encoder** reads the source with unmasked self-attention (every source word sees
# every other), and its **decoder** generates the target autoregressively with causal self-attention plus
# **cross-attention** to the encoder's outputs (the two right-hand panels above). A **decoder-only** model (GPT)
# keeps just the causal stack and models one sequence, $p(x)$; conditioning is done by putting the condition
# in front as a prefix (a prompt) and sampling the continuation. Both are autoregressive in what they generate.
#
# A Transformer works on any sequence of **tokens** from a finite vocabulary, and choosing the tokens is part of the
# model:
#
# - **Characters**, as in this chapter (65 for Tiny Shakespeare): tiny vocabulary, long sequences.
# - **Bytes** (the UTF-8 encoding, 256 values): any text in any language without an unknown symbol, at the price of
#   several tokens for non-ASCII characters. Subword vocabularies (byte-pair encoding, as in GPT-2) merge frequent
#   byte sequences into single tokens and shorten the sequences.
# - **Pixels**: binarized MNIST as 784 tokens from the vocabulary $\{0, 1\}$ in raster order, our last experiment.
# - **Patches**: cut an image into $7 \times 7$ squares and get 16 tokens instead of 784. A binary patch can take
#   $2^{49}$ values, far too many for a softmax, so patch models either predict continuous values or first learn a
#   discrete codebook of patches.
#
# Sequence length matters because attention compares all pairs of positions.

# %%
phrase = "Roméo, où es-tu?"
print(f"{phrase!r}: {len(phrase)} characters, {len(phrase.encode())} UTF-8 bytes {list(phrase.encode())[:12]}...")
x_test = data.load("binarized_mnist", "test")
digit = x_test[0].reshape(28, 28).float()
patches = digit.reshape(4, 7, 4, 7).permute(0, 2, 1, 3).reshape(16, 49)  # 16 tokens of 49 binary pixels
print(f"one digit: {digit.numel()} pixel tokens ({digit.numel() ** 2:,} attention scores per head and layer) "
      f"or {len(patches)} patch tokens of {patches.shape[1]} pixels ({len(patches) ** 2} scores)")

fig, axes = plt.subplots(1, 2, figsize=(8, 3), gridspec_kw={"width_ratios": [1, 2.2]})
axes[0].imshow(digit, cmap="gray_r")
for line in range(7, 28, 7):
    axes[0].axhline(line - 0.5, color="C1")
    axes[0].axvline(line - 0.5, color="C1")
axes[0].set_title("a test digit, 4 × 4 patches")
axes[0].set_axis_off()
plot.show_images(patches, n_cols=8, shape=(7, 7), ax=axes[1], title="the 16 patch tokens, in raster order")
plt.show()

# %% [markdown]
# ## A GPT on Tiny Shakespeare
#
# `gpt-tinyshakespeare` follows nanoGPT's small CPU configuration: 4 layers, 4 heads, 128-dimensional embeddings,
# a block of 64 positions, batches of 12 random 64-character blocks of the first 90 % of Tiny Shakespeare (the same
# data, batches and number of steps as chapter 7's LSTM). nanoGPT's README reports a validation loss of 1.88 nats per
# character after 2,000 steps (a literature value, estimated on 20 random batches; its loss counts characters 2 to
# 64 of each block, our "in context" figure). On all our validation blocks 2,000 steps left the model above that,
# so the shipped recipe runs {glue:text}`gpt_iters` steps, recorded in the sidecar with the rest of the recipe.
# We re-measure the shipped model on {glue:text}`valid_blocks` random validation blocks and
# score the chapter 7 LSTM on the same blocks.

# %%
train_tokens, valid_tokens, tokenizer = text.shakespeare_split()


def shakespeare_batch(gen: torch.Generator) -> torch.Tensor:
    return text.random_blocks(train_tokens, 64, 12, gen)


gpt = (pretrained.load("gpt-tinyshakespeare") if QUICK  # GPU: the sidecar's recipe, trained from scratch
       else evaluation.retrain("gpt-tinyshakespeare", shakespeare_batch, train.token_loss, seed=SEED, steps=STEPS,
                               checkpoint=f"{CHECKPOINTS}/10_gpt.pt", device=device)).cpu()
lstm = pretrained.load("charrnn-tinyshakespeare")
meta = pretrained.info("gpt-tinyshakespeare")
glue("valid_blocks", VALID_BLOCKS)
gpt_valid = text.shakespeare_loss(gpt, valid_tokens, 64, n_blocks=VALID_BLOCKS)
lstm_valid = text.shakespeare_loss(lstm, valid_tokens, 64, n_blocks=VALID_BLOCKS)
glue("gpt_valid_measured", round(gpt_valid["loss"], 3))
glue("gpt_valid_in_context", round(gpt_valid["loss_in_context"], 3))
glue("gpt_valid_sidecar", round(meta["metrics"]["valid_loss"], 3))
glue("lstm_valid_measured", round(lstm_valid["loss"], 3))
glue("gpt_params", gpt.n_parameters())
glue("gpt_iters", f"{meta['recipe']['iters']:,}")
print(f"GPT {meta['config']}: {gpt.n_parameters():,} parameters, trained with {meta['command']!r} "
      f"in {meta['train_seconds']:.0f} s")
print(f"sidecar (4,000 blocks): valid loss {meta['metrics']['valid_loss']:.3f}, "
      f"in context {meta['metrics']['valid_loss_in_context']:.3f} nats/char")
print(f"re-measured on {VALID_BLOCKS} blocks: GPT {gpt_valid['loss']:.3f} (in context {gpt_valid['loss_in_context']:.3f})"
      f", chapter 7's LSTM ({lstm.n_parameters():,} parameters) {lstm_valid['loss']:.3f} nats/char")

# %% [markdown]
# On these blocks the GPT needs {glue:text}`gpt_valid_measured` nats per character
# ({glue:text}`gpt_valid_in_context` counting only characters with context) and the LSTM
# {glue:text}`lstm_valid_measured`. The first character of each block is predicted from the start token alone, which
# is why the "in context" figure is lower.
#
# ### Where the model looks
#
# To see the attention weights we run the GPT's forward pass by hand, block by block, with our
# `causal_self_attention` in place of the library's fused kernel, and keep every $\alpha$. The hand-made pass must
# reproduce the model's logits.


# %%
def forward_with_attention(model: GPT, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The GPT's logits (B, T, V) computed by hand, and every head's weights (B, n_layers, n_head, T, T)."""
    start = torch.full((len(x), 1), model.start_token)
    tokens = torch.cat([start, x[:, :-1]], dim=1)  # start token, x_1, ..., x_{T-1}
    h = model.wte(tokens) + model.wpe(torch.arange(tokens.shape[1]))  # token + position embeddings
    maps = []
    for block in model.blocks:
        a = block.attn
        y, weights = causal_self_attention(block.ln_1(h), a.c_attn.weight, a.c_attn.bias, a.c_proj.weight,
                                           a.c_proj.bias, a.n_head)
        h = h + y  # attention branch
        h = h + block.mlp(block.ln_2(h))  # MLP branch
        maps.append(weights)
    logits = model.ln_f(h) @ model.wte.weight[: model.vocab_size].T  # output layer = token embeddings (tied)
    return logits, torch.stack(maps, dim=1)


sentence = "ROMEO:\nBut soft, what light through yonder window breaks?"
x_sentence = tokenizer.encode(sentence)[None]
with torch.no_grad():
    hand_logits, maps = forward_with_attention(gpt, x_sentence)
    print("hand-made forward pass == gpt.logits:", torch.allclose(hand_logits, gpt.logits(x_sentence), atol=1e-4))
maps = maps[0]  # (n_layers, n_head, T, T)
n_layers, n_head, T_s, _ = maps.shape
rows = slice(1, None)  # row 0 (the start token) can only attend to itself
previous = maps.diagonal(-1, dim1=-2, dim2=-1).mean(-1)  # (n_layers, n_head): mean weight on position t - 1
entropy = -(maps * maps.clamp_min(1e-12).log()).sum(-1)[..., rows].mean(-1)  # mean entropy of a row, nats
uniform_previous = (1 / torch.arange(2, T_s + 1)).mean()  # what a head attending uniformly would give
uniform_entropy = torch.arange(2, T_s + 1).log().mean()
prev_layer, prev_head = divmod(int(previous.argmax()), n_head)
best_layer, best_head = divmod(int(entropy.argmin()), n_head)
glue("prev_layer", prev_layer + 1)
glue("prev_head", prev_head + 1)
glue("prev_weight", round(previous.max().item(), 2))
glue("uniform_prev_weight", round(uniform_previous.item(), 2))
glue("focus_layer", best_layer + 1)
glue("focus_head", best_head + 1)
glue("focus_entropy", round(entropy.min().item(), 2))
glue("uniform_entropy", round(uniform_entropy.item(), 2))
print("mean weight on the previous position (rows: layers, columns: heads):\n", previous.numpy().round(3))
print(f"mean entropy of a row of weights, nats (uniform attention: {uniform_entropy:.2f}):\n",
      entropy.numpy().round(2))

labels = ["⟨s⟩"] + [c.replace("\n", "↵").replace(" ", "␣") for c in sentence[:-1]]
fig = plt.figure(figsize=(14, 6.5))
grid = fig.add_gridspec(n_layers, n_head + 4)
for layer in range(n_layers):
    for head in range(n_head):
        ax = fig.add_subplot(grid[layer, head])
        ax.imshow(maps[layer, head], cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if layer == 0:
            ax.set_title(f"head {head + 1}", fontsize=9)
        if head == 0:
            ax.set_ylabel(f"layer {layer + 1}", fontsize=9)
ax = fig.add_subplot(grid[:, n_head:])
ax.imshow(maps[best_layer, best_head], cmap="viridis", vmin=0, vmax=1)
ax.set_xticks(range(T_s), labels, fontsize=6)
ax.set_yticks(range(T_s), labels, fontsize=6)
ax.set_xlabel("attends to (input position s)")
ax.set_ylabel("query (input position t)")
ax.set_title(f"layer {best_layer + 1}, head {best_head + 1}")
plt.tight_layout()
plt.show()

# %% [markdown]
# Each panel is one head: row $t$ is the distribution $\alpha_{t, \cdot}$ over the positions it may read (dark:
# little weight; the upper triangle is empty because of the mask). The heads differ. Two measurements per head make
# that concrete: how much weight goes to the immediately preceding character, and how spread out each row is (its
# entropy; a head that attended uniformly to every allowed position would score {glue:text}`uniform_entropy` nats).
# Head {glue:text}`prev_head` of layer {glue:text}`prev_layer` puts on average {glue:text}`prev_weight` of its weight
# on the previous character (uniform attention would give {glue:text}`uniform_prev_weight`). The most focused head,
# enlarged on the right, is head {glue:text}`focus_head` of layer {glue:text}`focus_layer`, with a mean entropy of
# {glue:text}`focus_entropy` nats: read it row by row to see which earlier characters each position draws on. No one
# told the heads what to look at; these patterns are whatever helped predict the next character.
#
# ### Explore: every head, enlarged
#
# Choose a layer and a head to see its weights on the sentence at full size, with the characters on both axes.
# **Try** the head named above as the previous-character head, then the heads of the first layer against those
# of the last. **Notice** the heads whose rows form a band just below the diagonal (they read the last one or
# two characters), and heads that keep returning to the same early columns, such as the start token, the colon or
# the line break, which act as a default place to put weight.

# %%
from arlib.widgets import explore


def attention_view(layer: int, head: int):
    """One head's attention weights on the sentence."""
    fig, ax = plt.subplots(figsize=(5.6, 5.6))
    ax.imshow(maps[layer - 1, head - 1], cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(T_s), labels, fontsize=6)
    ax.set_yticks(range(T_s), labels, fontsize=6)
    ax.set_xlabel("attends to (input position s)")
    ax.set_ylabel("query (input position t)")
    ax.set_title(f"layer {layer}, head {head}: mean weight on the previous "
                 f"character {previous[layer - 1, head - 1]:.2f}, "
                 f"entropy {entropy[layer - 1, head - 1]:.2f} nats", fontsize=8)
    return fig


explore(attention_view, layer=range(1, n_layers + 1), head=range(1, n_head + 1),
        description="layer and head -> attention weights on a sentence")

# %% [markdown]
# ### Samples at several temperatures
#
# As in chapter 7, dividing the logits by a temperature $\tau$ before the softmax makes the samples safer ($\tau < 1$)
# or wilder ($\tau > 1$). The model has 64 positions; beyond them it keeps the start token and the most recent 63
# characters as context (a sliding window).

# %%
glue("sample_chars", SAMPLE_CHARS)
for tau in TEMPERATURES:
    sample = gpt.sample(1, length=SAMPLE_CHARS, generator=torch.Generator().manual_seed(SEED), temperature=tau)
    print(f"===== temperature {tau} =====\n{tokenizer.decode(sample[0])}\n")

# %% [markdown]
# Temperature is not the only knob. **Top-$k$** sampling keeps the $k$ most likely characters at each step,
# renormalised, and removes the long tail of unlikely ones that a high temperature would otherwise promote.
# **Try** $\tau = 1.5$ with all characters, then with $k = 10$; then $k = 1$ (greedy decoding) at any
# temperature. **Notice** that top-$k$ rescues the spelling at high temperature, and that greedy decoding falls
# into a loop, repeating the same phrase, because it always takes the single most likely next character.

# %%
def sample_view(tau: float, top_k: str):
    """One sample of the GPT at a temperature and a top-k."""
    k = None if top_k == "all" else int(top_k)
    tokens = gpt.sample(1, length=240, generator=torch.Generator().manual_seed(SEED),
                        temperature=tau, top_k=k)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    shown = tokenizer.decode(tokens[0]).replace("$", r"\$")  # "$" is not maths here
    ax.text(0, 1, shown, va="top", family="monospace", fontsize=8, wrap=True)
    ax.set_axis_off()
    ax.set_title(f"τ = {tau}, top-k: {top_k}", fontsize=10)
    return fig


explore(sample_view, tau=[0.5, 0.8, 1.0, 1.5, 2.0], top_k=["all", "1", "3", "10"],
        description="temperature and top-k -> a GPT sample")

# %% [markdown]
# ## Generation with a key/value cache
#
# Generating $T$ tokens naively runs the model on the whole prefix at every step: step $t$ recomputes all $t$
# positions, although only the newest one is needed, and the $t - 1$ others give exactly what they gave one step
# earlier (causality again: old positions never see new tokens). What the new position needs from the old ones is
# only their **keys and values**, in every layer. A **key/value cache** stores them: each step computes the query,
# key and value of the *new* token, appends the key and value to the cache, and attends over the cached ones.
#
# - Without the cache, step $t$ costs $O(t)$ for the linear layers and $O(t^2)$ for attention; $T$ tokens cost
#   $O(T^2)$ and $O(T^3)$.
# - With it, step $t$ costs $O(1)$ for the linear layers and $O(t)$ for attention; $T$ tokens cost $O(T)$ and
#   $O(T^2)$. The price is memory: two vectors per layer and position, $2 \times n_\text{layer} \times T \times C$
#   numbers per sequence.
#
# Caching is what makes autoregressive generation practical (WaveNet's queues in chapter 9 are the same idea). It
# changes no number: `GPT.sample(..., use_cache=False)` recomputes everything and must give identical samples. We
# time both for an (untrained; timing does not depend on the weights) GPT of the Shakespeare model's width with a
# block of 256 positions, generating up to 256 tokens.

# %%
timing_gpt = GPT(vocab_size=65, block_size=max(TIMING_LENGTHS), n_layers=4, n_head=4, n_embd=128).eval()
with_cache = timing_gpt.sample(2, length=max(TIMING_LENGTHS), generator=torch.Generator().manual_seed(SEED), use_cache=True)
without = timing_gpt.sample(2, length=max(TIMING_LENGTHS), generator=torch.Generator().manual_seed(SEED), use_cache=False)
print(f"same {max(TIMING_LENGTHS)}-token samples with and without the cache:", torch.equal(with_cache, without))

seconds = {True: [], False: []}
for length in TIMING_LENGTHS:
    for cached in (True, False):
        runs = []
        for _ in range(3):  # best of three: less noise from other programs
            start = time.perf_counter()
            timing_gpt.sample(1, length=length, generator=torch.Generator().manual_seed(SEED), use_cache=cached)
            runs.append(time.perf_counter() - start)
        seconds[cached].append(min(runs))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for cached, label in ((False, "without cache (recompute the prefix)"), (True, "with key/value cache")):
    axes[0].plot(TIMING_LENGTHS, seconds[cached], "o-", label=label)
    axes[1].plot(TIMING_LENGTHS, [1000 * s / n for s, n in zip(seconds[cached], TIMING_LENGTHS, strict=True)], "o-",
                 label=label)
axes[0].set_ylabel("seconds per sequence")
axes[1].set_ylabel("milliseconds per generated token")
for ax in axes:
    ax.set_xlabel("generated length T")
    ax.legend()
ratio = seconds[False][-1] / seconds[True][-1]
fig.suptitle(f"GPT, 4 layers × 128, one sequence on one CPU thread: at T = {TIMING_LENGTHS[-1]} the cache is "
             f"{ratio:.1f}× faster (measured when this page was built)", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# With the cache, the time per token grows only slowly with the prefix (each step attends over the cached keys, and at
# these lengths fixed costs per step dominate); without it, every step redoes the whole prefix, so the time per token
# grows with $T$ and the total roughly quadratically. The measured speed-up is in the figure's title (timings vary
# from run to run, so they appear only in the figure).
#
# ## A GPT over pixels: binarized MNIST as a sequence
#
# Nothing in the GPT is specific to text. A binarized MNIST digit in raster order is a sequence of 784 tokens from the
# vocabulary $\{0, 1\}$, so `GPT(vocab_size=2, block_size=784, ...)` is an image model, and its `log_prob` of a digit
# is the same quantity, in nats per image, as the FVSBN's, NADE's or MADE's. Compared with PixelCNN (chapter 8),
# which sees only a local neighbourhood through masked convolutions, every pixel's conditional can attend to *all*
# earlier pixels; the price is a $784 \times 784$ attention matrix per head and layer, which is why the model below
# is small.

# %%
x_train = data.load("binarized_mnist", "train")
PIXEL_NAME = "gpt-binarized-mnist"
shipped = PIXEL_NAME in pretrained.available()
BRIEF_CONFIG = dict(vocab_size=2, block_size=784, n_layers=2, n_head=2, n_embd=32)  # if nothing is shipped


def pixel_batch(gen: torch.Generator) -> torch.Tensor:
    return x_train[torch.randint(len(x_train), (16,), generator=gen)].long()


if shipped and QUICK:
    pixel_gpt = pretrained.load(PIXEL_NAME)
    pixel_meta = pretrained.info(PIXEL_NAME)
    print(f"loaded {PIXEL_NAME}: {pixel_meta['config']}, trained with {pixel_meta['command']!r} "
          f"in {pixel_meta['train_seconds']:.0f} s; full test split NLL {pixel_meta['metrics']['test_nll']:.2f} nats")
elif shipped:
    pixel_gpt = evaluation.retrain(PIXEL_NAME, pixel_batch, train.token_loss, seed=SEED, steps=STEPS,
                                   checkpoint=f"{CHECKPOINTS}/10_pixel_gpt.pt", device=device).cpu()
    print(f"trained the {PIXEL_NAME} recipe on this page: {pretrained.info(PIXEL_NAME)['config']}")
else:
    torch.manual_seed(SEED)
    pixel_gpt = GPT(**BRIEF_CONFIG)
    train.fit_steps(pixel_gpt, pixel_batch, train.token_loss, steps=PIXEL_STEPS, lr=3e-3, min_lr=3e-4,
                    warmup=PIXEL_STEPS // 10, weight_decay=0.01, seed=SEED, device=device)
    pixel_gpt = pixel_gpt.cpu()
    print(f"no shipped {PIXEL_NAME}: trained a small GPT {BRIEF_CONFIG} here for {PIXEL_STEPS} steps of 16 images")
glue("pixel_params", pixel_gpt.n_parameters())
glue("pixel_test_images", PIXEL_TEST)

subset = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(SEED))[:PIXEL_TEST]  # the file is
with torch.no_grad():  # sorted in long runs of similar digits, so its first images are not a fair sample
    pixel_nlls = -train.log_probs(pixel_gpt, x_test[subset], 100)
pixel_nll, pixel_se = pixel_nlls.mean().item(), (pixel_nlls.std() / math.sqrt(len(pixel_nlls))).item()
glue("pixel_test_nll", round(pixel_nll, 2))
glue("pixel_test_se", round(pixel_se, 1))
print(f"pixel GPT ({pixel_gpt.n_parameters():,} parameters): test NLL {pixel_nll:.2f} ± {pixel_se:.1f} nats per image "
      f"= {pixel_nll / (784 * math.log(2)):.4f} bits per pixel, on {len(subset):,} random test images")

for name in pretrained.available():  # chapter 8's convolutional models, if shipped, for a direct comparison
    other = pretrained.info(name)
    if "PixelCNN" in other["class"] and other["dataset"] == "binarized_mnist":
        print(f"{name} ({other['n_parameters']:,} parameters): test NLL {other['metrics']['test_nll']:.2f} nats per image")
print("published PixelCNN (van den Oord et al., 2016): 81.30 nats per image")

pixel_samples = pixel_gpt.sample(N_PIXEL_SAMPLES, length=784, generator=torch.Generator().manual_seed(SEED))
plot.show_images(pixel_samples, n_cols=10, title="samples from the pixel GPT (784 tokens each, with the cache)")
plt.show()

# %% [markdown]
# The first line of the output says where the model comes from: the shipped `gpt-binarized-mnist`, or, when none is
# shipped, a much smaller GPT trained on this page for a few seconds, whose number is then only an illustration. On
# {glue:text}`pixel_test_images` random test digits it scores
# {glue:text}`pixel_test_nll` nats per image (± {glue:text}`pixel_test_se`, one standard error; a random subset,
# because the test file is ordered in long runs of similar digits and its first images would be a biased sample).
# The recipe `python scripts/train_sequence.py gpt-binarized-mnist` trains the shipped model in about ten minutes on
# two CPU cores, far less than the published PixelCNN and PixelRNN models had, so it should not be expected to
# match them; the comparison with all image models is in the table at the end of the chapter.
#
# ## Autoregression is not tied to an architecture
#
# Every model in this book computes the same kind of object, the conditionals $p(x_t \mid x_{<t})$ of one ordering,
# and differs only in how a network is kept from seeing the future:
#
# | network | how $x_{<t}$ enters | one likelihood evaluation | generation | fast generation by |
# | --- | --- | --- | --- | --- |
# | MLP with masks (NADE, MADE) | weight sharing or masked weights | one pass | $n$ passes | (NADE: a running sum) |
# | RNN, LSTM (chapter 7) | a recursively updated summary $h_t$ | $n$ sequential steps | $n$ steps | carrying $h_t$ |
# | masked or causal convolutions (PixelCNN, WaveNet) | a local receptive field, grown by depth or dilation | one parallel pass | $n$ steps | caching activations (queues) |
# | causal self-attention (GPT) | direct access to every earlier position | one parallel pass, $O(n^2)$ scores | $n$ steps | the key/value cache |
#
# The chain rule makes all of them exact likelihood models; the architecture decides the cost of training and
# sampling and which dependencies are easy to learn.
#
# ## Closing summary: what autoregressive models give, and what they do not
#
# - **Easy sampling.** Draw $\bar{x}_1 \sim p(x_1)$, then $\bar{x}_2 \sim p(x_2 \mid x_1 = \bar{x}_1)$, and so on:
#   exact samples, but **sequential**, $n$ network evaluations (made cheaper, not shorter, by caches).
# - **Exact likelihood.** Compute each $p(x_t = \bar{x}_t \mid \bar{x}_{<t})$ and add the logarithms. With masks,
#   causal convolutions or causal attention, all terms come out of **one parallel pass**, which makes maximum
#   likelihood training fast; an RNN needs $n$ sequential steps.
# - **Easy continuous extensions.** Replace the softmax by a density: Gaussian conditionals
#   $p(x_t \mid x_{<t}) = \mathcal{N}(\mu_\theta(x_{<t}), \Sigma_\theta(x_{<t}))$, mixtures of Gaussians (RNADE,
#   chapter 5) or a mixture of logistics.
# - **No natural latent features.** There is no low-dimensional code $z$ to cluster, interpolate or use as a
#   representation; unsupervised feature learning needs other models (VAEs, for instance).
# - **The ordering matters.** The chain rule is exact for every ordering, but a model of limited capacity fits some
#   orderings better than others (chapters 4 and 6), and images have no natural one.
#
# The table below lists every model trained for this book. It is read from `benchmarks/results.json` (written by
# `benchmarks/evaluate_models.py`) where that file has a row, and otherwise from the model's sidecar in
# `data/pretrained/`: test NLL as measured when the model was shipped, parameters, training time and time per epoch
# (one pass over the training data) measured on the machine named in the sidecar. Image models are in nats per image,
# text models in nats per character (Tiny Shakespeare: the validation split). Published figures are from the papers
# cited.

# %%
COSTS = {  # (one likelihood evaluation, sampling) for n dimensions, hidden width d
    "IndependentBernoulli": ("O(n), parallel", "1 parallel step"),
    "FVSBN": ("O(n²), parallel", "n steps"),
    "NADE": ("O(nd), parallel (running sum)", "n steps"),
    "RNADE": ("O(nd), parallel (running sum)", "n steps"),
    "MADE": ("1 masked pass, parallel", "n passes"),
    "CharRNN": ("n sequential steps", "n steps, O(d²) each"),
    "GPT": ("1 causal pass, O(n²) attention", "n steps, KV cache"),
    "PixelCNN": ("1 masked-conv pass, parallel", "n passes"),
    "GatedPixelCNN": ("1 masked-conv pass, parallel", "n passes"),
    "PixelRNN": ("H sequential row steps", "n passes"),
    "WaveNet": ("1 causal-conv pass, parallel", "n steps, cached"),
}
UNITS = {"binarized_mnist": "nats/image", "thresholded_mnist": "nats/image (thresh.)",
         "tinyshakespeare": "nats/char (valid)", "names": "nats/char", "mnist8x8": "nats/image (density)",
         "fsdd": "bits/sample (μ-law)"}


def examples_per_epoch(meta: dict) -> int | None:
    dataset, recipe = meta.get("dataset"), meta.get("recipe", {})
    if dataset == "tinyshakespeare" and recipe.get("block_size"):
        return len(train_tokens) // recipe["block_size"]  # blocks of the training text
    if dataset == "names":
        return meta.get("train_examples", n_train_names)  # names trained on (a validation set may be held out)
    if dataset == "binarized_mnist":
        return len(x_train)
    return None


def seconds_per_epoch(meta: dict, row: dict) -> float | None:
    if row.get("seconds_per_epoch") is not None:
        return row["seconds_per_epoch"]
    epochs = (meta.get("history") or {}).get("seconds")
    if isinstance(epochs, list) and epochs:
        return sum(epochs) / len(epochs)
    recipe, per_epoch = meta.get("recipe", {}), examples_per_epoch(meta)
    if recipe.get("iters") and recipe.get("batch_size") and per_epoch and meta.get("train_seconds"):
        return meta["train_seconds"] / (recipe["iters"] * recipe["batch_size"]) * per_epoch
    return None


def test_metric(meta: dict, row: dict) -> float | None:
    """The test NLL; for a MADE trained with several masks, that of the ensemble of its masks."""
    metrics = {**meta.get("metrics", {}), **{k: v for k, v in row.items() if k.startswith("test_nll")}}
    return next((metrics[k] for k in ("test_nll_ensemble", "test_nll", "test_loss", "valid_loss",
                                                 "test_bits_per_sample") if k in metrics),
                None)


n_train_names = len(text.names_split()[0])
results_file = Path(arlib.__file__).resolve().parent.parent / "benchmarks" / "results.json"
result_rows = json.loads(results_file.read_text()).get("models", {}).get("rows", {}) if results_file.exists() else {}
trained_here = {} if QUICK else {  # GPU path: this page's models replace their sidecar rows
    "gpt-tinyshakespeare": (gpt, gpt_valid["loss"], f"this page, {VALID_BLOCKS} valid blocks"),
    PIXEL_NAME: (pixel_gpt, pixel_nll, f"this page, {len(subset):,} random test images")}
table = []
for name in pretrained.available():
    meta, row = pretrained.info(name), result_rows.get(name, {})
    if name in trained_here:
        model_here, value, source = trained_here[name]
        table.append((f"{name} (trained here)", meta["dataset"], model_here.n_parameters(), *COSTS["GPT"], value,
                      None, None, source))
        continue
    label = name + (" (mask ensemble)" if "test_nll_ensemble" in meta.get("metrics", {}) else "")
    table.append((label, meta["dataset"], meta["n_parameters"], *COSTS.get(meta["class"], ("?", "?")),
                  test_metric(meta, row), meta.get("train_seconds"), seconds_per_epoch(meta, row), "measured"))
if not shipped:
    table.append((f"{PIXEL_NAME} (this page, {PIXEL_STEPS} steps)", "binarized_mnist", pixel_gpt.n_parameters(),
                  *COSTS["GPT"], pixel_nll, None, None, f"{len(subset):,} random test images"))
published = [("FVSBN", 97.45, "Larochelle & Murray (2011)"), ("NADE, 500 hidden units", 88.86, "Larochelle & Murray (2011)"),
             ("MADE, 2 hidden layers, 32 masks", 86.64, "Germain et al. (2015)"),
             ("PixelCNN", 81.30, "van den Oord et al. (2016)"), ("Row LSTM", 80.54, "van den Oord et al. (2016)"),
             ("Diagonal BiLSTM", 79.20, "van den Oord et al. (2016)")]
table += [(f"{model} (published)", "binarized_mnist", None, "", "", nll, None, None, source)
          for model, nll, source in published]
order = list(UNITS)
table.sort(key=lambda r: (order.index(r[1]) if r[1] in order else len(order), r[8] != "measured",
                          -(r[5] if r[5] is not None else 0)))


def fmt(value, spec: str) -> str:
    width = int("".join(c for c in spec.split(".")[0] if c.isdigit()) or 0)
    return f"{'—':>{width}s}" if value is None else format(value, spec)


print(f"{'model':44s} {'unit':21s} {'test NLL':>9s} {'params':>10s} {'train s':>8s} {'s/epoch':>8s}  "
      f"{'likelihood':31s} {'sampling':20s} source")
for name, dataset, params, like, samp, nll, secs, per_epoch, source in table:
    print(f"{name:44s} {UNITS.get(dataset, dataset):21s} {fmt(nll, '9.2f')} {fmt(params, '10,d')} "
          f"{fmt(secs, '8.0f')} {fmt(per_epoch, '8.1f')}  {like:31s} {samp:20s} {source}")
machines = sorted({pretrained.info(n).get("machine", "?") for n in pretrained.available()})
print("\nmachines that measured the times:", "; ".join(machines))

# %% [markdown]
# Read down the binarized-MNIST rows and the book's story is there: independent pixels, then logistic-regression
# conditionals (FVSBN), shared hidden layers (NADE, MADE), and finally networks that read the whole prefix with
# convolutions or attention, the published state of the art being PixelRNN and PixelCNN around 80 nats. Every line
# is an exact likelihood from the same chain rule; what changed is how each conditional is computed, and what that
# costs to train and to sample.
#
# ## Summary
#
# - Self-attention mixes the values of all positions with data-dependent weights
#   $\operatorname{softmax}(QK^\top/\sqrt{d})$; the causal mask ($-\infty$ above the diagonal) restricts position $t$
#   to positions $\le t$. We wrote it in a few lines and matched `GPT`'s attention layer exactly.
# - With the mask, a Transformer is an autoregressive model (changing $x_j$ moves only later conditionals), and one
#   parallel pass trains all conditionals: no recursion, unlike the RNN.
# - Decoder-only models (GPT) model $p(x)$ and condition by prefixes; encoder-decoder models add an unmasked encoder
#   and cross-attention for $p(y \mid x)$. Tokens can be characters, bytes, subwords, pixels or patches.
# - The shipped 4-layer GPT reaches {glue:text}`gpt_valid_measured` nats per character on Tiny Shakespeare's
#   validation blocks (LSTM: {glue:text}`lstm_valid_measured`); its heads learn distinct attention patterns.
# - The key/value cache keeps past keys and values so that each generated token costs one position, not the whole
#   prefix: same samples, and the speed-up is in the figure.
# - As a pixel model the GPT scores {glue:text}`pixel_test_nll` nats per binarized-MNIST test image: autoregression
#   is a property of the factorisation, not of an architecture.
