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
QUICK = not torch.cuda.is_available()  # CPU: shipped weights and a short live run. GPU: train from scratch.
EPOCHS = 60                            # full run (GPU only): maximum epochs, early stopping on validation NLL
PATIENCE = 5                           # full run: epochs without a better validation NLL before stopping
DEMO_TRAIN = 2000                      # live demonstration: training images ...
DEMO_EPOCHS = 15                       # ... and epochs (20 Adam steps each)
N_CHECK = 100                          # test images used to check the implementations against each other
N_SHOW = 40                            # samples per figure
CHECKPOINTS = "checkpoints"             # GPU path: training checkpoints, resumed when the cell is re-run

# %% [markdown]
# # 3. FVSBN: one logistic regression per pixel
#
# Chapter 1 turned density estimation into prediction: by the chain rule,
# $p(x) = \prod_{i=1}^{n} p(x_i \mid x_{<i})$ exactly, and each factor is a binary classification problem
# "is pixel $i$ ink, given the pixels before it?". Chapter 2 showed how to fit any such model: maximise the
# log-likelihood, a sum of $n$ binary cross-entropies, all evaluated in parallel on the true prefixes.
#
# This chapter makes the simplest non-trivial choice for the classifiers: **logistic regression**. The
# resulting model is old (Neal, 1992; Frey, 1998) and has a long name, the
# **fully visible sigmoid belief network** (FVSBN): "sigmoid" because every conditional is a sigmoid of a
# linear function, "belief network" because it is a directed graphical model, and "fully visible" because,
# unlike later sigmoid belief networks, it has no hidden variables. It is worth studying because every
# model in the rest of the book keeps its skeleton and replaces only the classifier.
#
# ## The model
#
# Pixel $i$ is a Bernoulli variable whose parameter is a logistic regression on the pixels before it:
#
# $$
# \hat{x}_i = p(x_i = 1 \mid x_{<i}; \alpha^i) = \sigma\Big(\alpha^i_0 + \sum_{j=1}^{i-1} \alpha^i_j x_j\Big),
# \qquad \sigma(z) = \frac{1}{1 + e^{-z}}.
# $$
#
# The vector $\alpha^i = (\alpha^i_0, \alpha^i_1, \dots, \alpha^i_{i-1})$ belongs to pixel $i$ alone: the
# model is $n$ separate classifiers that share nothing. The first pixel has no history, so its
# "regression" is a bias only, $\hat{x}_1 = \sigma(\alpha^1_0)$: a single probability, the same thing as a
# one-row conditional probability table. Pixel 2 gets a bias and one weight, pixel 3 a bias and two
# weights, and so on.
#
# **Evaluating $p(x)$** multiplies the $n$ Bernoulli factors, $\hat{x}_i$ where $x_i = 1$ and $1 - \hat{x}_i$
# where $x_i = 0$,
#
# $$
# p(x) = \prod_{i=1}^{n} \hat{x}_i^{\,x_i} (1 - \hat{x}_i)^{1 - x_i},
# \qquad
# \log p(x) = \sum_{i=1}^{n} \big[x_i \log \hat{x}_i + (1 - x_i) \log(1 - \hat{x}_i)\big],
# $$
#
# where every $\hat{x}_i$ is computed from the *observed* prefix $x_{<i}$ of the image being scored. For four
# pixels and $x = (0, 1, 1, 0)$ this is chapter 1's
# $(1 - \hat{x}_1)\,\hat{x}_2(x_1)\,\hat{x}_3(x_1, x_2)\,(1 - \hat{x}_4(x_1, x_2, x_3))$.
#
# **Sampling** goes pixel by pixel: draw $\bar{x}_1 \sim \text{Bernoulli}(\hat{x}_1)$, then compute
# $\hat{x}_2$ from $\bar{x}_1$ and draw $\bar{x}_2$, then $\hat{x}_3$ from $(\bar{x}_1, \bar{x}_2)$, and so on
# until pixel $n$. Each draw feeds the next classifier.
#
# **Counting parameters.** Pixel $i$ has $i$ of them (a bias and $i - 1$ weights), so the model has
#
# $$
# 1 + 2 + \dots + n = \frac{n(n+1)}{2} = O(n^2)
# $$
#
# parameters. Quadratic growth is the FVSBN's weakness: fine for $28 \times 28$ digits, hopeless for
# megapixel photographs.
#
# The library's version is {py:class}`arlib.models.FVSBN`; a training run
# returns its per-epoch record as an {py:class}`arlib.train.History`.

# %%
import math

import matplotlib.pyplot as plt
import torch.nn.functional as F
from torch import nn

import arlib
from arlib import data, plot, pretrained, train
from arlib.book import glue
from arlib.models import FVSBN
from arlib.train import History

generator = arlib.seed(SEED)
if QUICK:  # CPU demo: small models, where one thread is fastest and reproducible
    torch.set_num_threads(1)
device = arlib.device()
x_train = data.load("binarized_mnist", "train")
x_valid = data.load("binarized_mnist", "valid")
x_test = data.load("binarized_mnist", "test")
n = x_train.shape[1]
print(f"n = {n} pixels; train {len(x_train):,}, valid {len(x_valid):,}, test {len(x_test):,} images")

# %% [markdown]
# ## A teaching implementation: 784 logistic regressions
#
# We first write the model exactly as the formula reads: a list of $n$ weight vectors of lengths
# $0, 1, \dots, n-1$ and $n$ biases, and a loop that runs the $n$ regressions one after another. The
# log-likelihood uses $\log \sigma(z)$ and $\log(1 - \sigma(z)) = \log \sigma(-z)$ on the logit $z$ directly,
# which stays finite even when $\hat{x}_i$ rounds to 0 or 1.


# %%
class PixelwiseFVSBN(nn.Module):
    """n separate logistic regressions; regression i reads the i pixels before pixel i (0-based)."""

    def __init__(self, n_pixels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n_pixels))  # α_0^i for every pixel
        self.alpha = nn.ParameterList([nn.Parameter(torch.zeros(i)) for i in range(n_pixels)])  # α_1^i..α_{i-1}^i

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """z_i = α_0^i + Σ_{j<i} α_j^i x_j, one regression at a time: shape (B, n)."""
        x = x.float()
        return torch.stack([self.bias[i] + x[:, :i] @ self.alpha[i] for i in range(len(self.alpha))], dim=1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = Σ_i [x_i log x̂_i + (1 - x_i) log(1 - x̂_i)], in nats, one value per image."""
        x, z = x.float(), self.logits(x)
        return (x * F.logsigmoid(z) + (1 - x) * F.logsigmoid(-z)).sum(1)


pixelwise = PixelwiseFVSBN(n)
n_params_formula = n * (n + 1) // 2
n_params_counted = sum(p.numel() for p in pixelwise.parameters())
glue("fvsbn_n_params", n_params_formula)
print(f"parameters counted in the model: {n_params_counted:,};  n(n+1)/2 = {n_params_formula:,}")

# %% [markdown]
# The $n(n+1)/2$ = {glue:text}`fvsbn_n_params:,d` parameters are only the start of the quadratic growth. The same
# model on bigger images:

# %%
for name, size in [("binarized MNIST, 28 x 28", 28 * 28), ("64 x 64 binary", 64 * 64),
                   ("CIFAR-10, 32 x 32 x 3 sub-pixels", 32 * 32 * 3), ("256 x 256 x 3 sub-pixels", 256 * 256 * 3)]:
    print(f"{name:34s} n = {size:7,d}   n(n+1)/2 = {size * (size + 1) // 2:16,d}")

# %% [markdown]
# (A colour image with 256 intensity levels would also need categorical instead of Bernoulli conditionals;
# chapter 4 shows how. The count above is for one binary decision per sub-pixel.)
#
# ## One pass: a masked linear layer
#
# The loop runs $n$ small products one after another. Stack the weight vectors as the rows of an $n \times n$
# matrix $A$, with row $i$ holding $\alpha^i_1, \dots, \alpha^i_{i-1}$ in columns $1, \dots, i-1$ and zeros
# elsewhere, and put the biases in a vector $\alpha_0$. Then all $n$ logits are one matrix-vector product,
#
# $$
# z = (A \odot M)\, x + \alpha_0, \qquad M_{ij} = \begin{cases} 1 & j < i \\ 0 & j \ge i, \end{cases}
# $$
#
# where the **mask** $M$ is strictly lower-triangular: it keeps only the weights from earlier pixels, and its
# zero diagonal makes sure no pixel sees itself. Multiplying by $M$ (rather than trusting $A$ to hold zeros)
# keeps the model autoregressive whatever values the optimiser writes into the masked entries. This is
# teacher forcing from chapter 2 made concrete: one matrix product scores all 784 conditionals of a batch
# of images in parallel, each on its true prefix.
#
# We give the loop model random weights, copy them into a masked matrix, and check that both give the same
# log-likelihoods on real test images. Then we copy the same numbers into `arlib.models.FVSBN`, the library's
# version (its `logits` is exactly `F.linear(x, weight * mask, bias)`), and check it too.

# %%
with torch.no_grad():
    pixelwise.bias.normal_(0, 1, generator=generator)
    for alpha in pixelwise.alpha:
        alpha.normal_(0, 0.1, generator=generator)

    A = torch.zeros(n, n)
    for i, alpha in enumerate(pixelwise.alpha):
        A[i, :i] = alpha  # row i: the weights of regression i
    M = torch.ones(n, n).tril(diagonal=-1)  # M[i, j] = 1 iff j < i

    x_check = x_test[:N_CHECK].float()
    z_masked = x_check @ (A * M).T + pixelwise.bias  # all n regressions for all images: one product
    log_p_masked = (x_check * F.logsigmoid(z_masked) + (1 - x_check) * F.logsigmoid(-z_masked)).sum(1)
    log_p_loop = pixelwise.log_prob(x_check)

    library = FVSBN(n)
    library.weight.copy_(A)
    library.bias.copy_(pixelwise.bias)
    log_p_library = library.log_prob(x_check)
print("loop == masked layer:", torch.allclose(log_p_loop, log_p_masked, atol=1e-3))
print("loop == arlib FVSBN: ", torch.allclose(log_p_loop, log_p_library, atol=1e-3))
print(f"arlib counts {library.n_parameters():,} parameters: n(n+1)/2, not the n² = {n * n:,} entries of its weight tensor")

# %% [markdown]
# The three computations agree. The dense $n \times n$ weight tensor stores $n^2$ numbers, but the
# $n(n+1)/2$ entries on and above the diagonal are multiplied by zero forever; they receive zero gradient and
# are not counted as parameters. Here is the mask (for a small $n$, so the cells are visible) next to the
# full $784 \times 784$ one:

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
axes[0].imshow(torch.ones(8, 8).tril(-1), cmap="Blues", vmin=0, vmax=1.4)
axes[0].set_title("mask M for n = 8")
axes[0].set_xlabel("input pixel j")
axes[0].set_ylabel("output (conditional) i")
axes[0].set_xticks(range(8), range(1, 9))
axes[0].set_yticks(range(8), range(1, 9))
axes[1].imshow(M, cmap="Blues", vmin=0, vmax=1.4)
axes[1].set_title(f"mask M for n = {n}")
axes[1].set_xlabel("input pixel j")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Training
#
# Training is chapter 2's recipe, unchanged: minimise the mean NLL, here a sum of 784 binary cross-entropies
# per image, with Adam. `arlib.train.fit` does it; in a live Jupyter or Colab session it shows a `tqdm`
# progress bar per epoch (this static page was executed with `TQDM_DISABLE=1`, so no bar appears here). A
# short run on a subset of {glue:text}`demo_train:,d` training images shows the NLL falling from its starting
# point: all weights zero, every $\hat{x}_i = 1/2$, which costs exactly $784 \ln 2 \approx 543$ nats per image.

# %%
glue("demo_train", DEMO_TRAIN)
demo = FVSBN(n)
print(f"NLL at initialisation: {train.evaluate(demo, x_valid[:1000]).nll:.2f} nats (784 ln 2 = {n * math.log(2):.2f})")
demo_history = train.fit(demo, x_train[:DEMO_TRAIN], x_valid[:1000], epochs=DEMO_EPOCHS, batch_size=100,
                         lr=1e-2, seed=SEED)
print("validation NLL per epoch:", [round(v, 1) for v in demo_history.valid_nll])

# %% [markdown]
# A few thousand images are far too few for {glue:text}`fvsbn_n_params:,d` parameters: after a few epochs the
# training NLL drops below the validation NLL and the gap keeps widening, the memorising of chapter 2. The real model is
# trained on all 50,000 training images with early stopping on the validation set (the weights of the best
# validation epoch are kept). On a CPU we load the shipped result of exactly that run; with a GPU the
# chapter repeats it from scratch.

# %%
FULL_LR = 5e-3  # the learning rate of the full run (scripts/train_classical.py fvsbn)
if QUICK:
    model = pretrained.load("fvsbn-binarized-mnist", device)
    sidecar = pretrained.info("fvsbn-binarized-mnist")
    history = History(**sidecar["history"])
    print("loaded the shipped weights; trained with", repr(sidecar["command"]))
else:
    model = FVSBN(n).to(device)
    history = train.fit(model, x_train, x_valid, epochs=EPOCHS, batch_size=100, lr=FULL_LR, patience=PATIENCE,
                        weight_decay=1e-4, seed=SEED, device=device,  # as scripts/train_classical.py
                        checkpoint=f"{CHECKPOINTS}/03_fvsbn.pt")
print(f"{history.epochs} epochs, best validation NLL {history.best_valid_nll:.2f} nats at epoch {history.best_epoch}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
plot.loss_curves({f"{DEMO_TRAIN:,} images, lr 1e-2": demo_history}, ax=axes[0])
axes[0].set_title("live demonstration")
plot.loss_curves({f"{len(x_train):,} images, lr {FULL_LR:g}": history}, ax=axes[1])
axes[1].set_title("full run" + (" (from the shipped sidecar)" if QUICK else ""))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Test likelihood
#
# We measure the test NLL of the trained model on all 10,000 test images (one masked product per batch) and put
# it next to chapter 1's independent-pixel model.

# %%
result = train.evaluate(model, x_test)
bernoulli = train.evaluate(pretrained.load("bernoulli-binarized-mnist", device), x_test)
glue("fvsbn_test_nll", round(result.nll, 2))
glue("fvsbn_test_bpd", round(result.bits_per_dim, 4))
glue("bernoulli_test_nll", round(bernoulli.nll, 2))
glue("fvsbn_gain", round(bernoulli.nll - result.nll, 1))
model = model.cpu()  # the rest of the chapter (conditionals, weights, sampling) is small work for a CPU
print(f"FVSBN:                test NLL {result.nll:7.2f} nats = {result.bits_per_dim:.4f} bits/dim")
print(f"independent pixels:   test NLL {bernoulli.nll:7.2f} nats = {bernoulli.bits_per_dim:.4f} bits/dim")
if QUICK:
    print(f"(the sidecar's test NLL, measured when the weights were saved: {sidecar['metrics']['test_nll']:.2f})")

# %% [markdown]
# | model | test NLL (nats per image) | source |
# | --- | --- | --- |
# | independent pixels (chapter 1) | {glue:text}`bernoulli_test_nll` | measured above |
# | FVSBN, this chapter | {glue:text}`fvsbn_test_nll` | measured above |
# | FVSBN | 97.45 | *published*: Larochelle & Murray (2011), table of binarized MNIST results |
# | NADE (chapter 4) | 88.86 | *published*: Larochelle & Murray (2011) |
#
# The last two rows are **literature values**, copied from the paper, not measured here. They were measured on
# the same fixed binarization and the same 10,000 test images, so they are comparable with ours, but training
# details (optimiser, learning-rate schedule, regularisation, how long to train) differ and move the result by
# a few nats either way. The point of the table is the ordering: letting each pixel depend on its prefix buys
# {glue:text}`fvsbn_gain` nats per image over independent pixels, and a hidden layer (chapter 4) buys several
# more.
#
# To see the likelihood of one image as the product of its 784 Bernoulli factors, we take the first test
# digit and multiply the factors in double precision:

# %%
with torch.no_grad():
    x0 = x_test[:1].float()
    x_hat = model.conditionals(x0)[0].double()
    factors = torch.where(x0[0] == 1, x_hat, 1 - x_hat)
print(f"product of the 784 factors: p(x) = {factors.prod().item():.3e}")
print(f"exp(model.log_prob(x))    = {model.log_prob(x0).double().exp().item():.3e}")
glue("digit_log10_p", round(factors.log10().sum().item(), 1))
print(f"smallest factor {factors.min().item():.2e}, largest {factors.max().item():.6f}")

# %% [markdown]
# For this digit $\log_{10} p(x) =$ {glue:text}`digit_log10_p`: a tiny probability, because it is one of $2^{784}$
# possible images, but astronomically larger than the $2^{-784} \approx 10^{-236}$ a uniform model would give it. Products like
# this underflow quickly, which is why every library (and this book) works with sums of logarithms.
#
# ## What the regressions learned
#
# Row $i$ of the masked weight matrix is the logistic regression for pixel $i$; laid out on the $28 \times 28$
# grid it shows which earlier pixels push pixel $i$ towards ink (red) or towards background (blue). The grey
# area is the future, which the mask hides.

# %%
weights = (model.weight * model.mask).detach().cpu()
chosen = [(7, 14), (14, 10), (14, 14), (20, 16)]  # (row, column) of the predicted pixel
fig, axes = plt.subplots(1, len(chosen), figsize=(3 * len(chosen), 3.2))
limit = max(weights[r * 28 + c].abs().max().item() for r, c in chosen)
cmap = plt.get_cmap("RdBu_r").copy()
cmap.set_bad("0.8")
for ax, (r, c) in zip(axes, chosen, strict=True):
    i = r * 28 + c
    field = weights[i].clone()
    field[i:] = float("nan")  # pixels j >= i: masked out
    ax.imshow(field.reshape(28, 28), cmap=cmap, vmin=-limit, vmax=limit)
    ax.plot(c, r, "k+", ms=10)
    ax.set_title(f"weights of pixel ({r}, {c})")
    ax.set_axis_off()
plt.tight_layout()
plt.show()

# %% [markdown]
# Each regression relies mostly on a handful of close neighbours: the pixel just to its left and the pixels
# just above it, in the row that was generated 28 steps earlier. Strokes are locally continuous, and the
# FVSBN learns exactly that. It learns little beyond it: a linear function of the prefix cannot express
# "ink here if the digit so far looks like the top of a 7", because that needs an interaction between many
# pixels, and a logistic regression adds up evidence one pixel at a time.
#
# ### Explore: any pixel's regression
#
# Pick the row and column of a pixel to see its weight map (the colour scale of the figure above; the cross
# marks the pixel). **Try** pixels near the border, in the middle of the digit area, and low in the image. **Notice**
# that border pixels, which are almost never ink, have faint weights: their bias alone predicts them. Pixels in
# the middle lean on their left neighbour and the pixels just above, and no pixel's map reaches far: the
# regression is local everywhere.

# %%
from arlib.widgets import explore


def weight_map(row: int, column: int):
    """The masked weights of the regression predicting pixel (row, column)."""
    i = row * 28 + column
    field = weights[i].clone()
    field[i:] = float("nan")  # pixels j >= i: masked out
    fig, ax = plt.subplots(figsize=(3.2, 3.2))
    ax.imshow(field.reshape(28, 28), cmap=cmap, vmin=-limit, vmax=limit)
    ax.plot(column, row, "k+", ms=10)
    ax.set_title(f"pixel ({row}, {column}): bias {model.bias[i].item():+.1f}")
    ax.set_axis_off()
    return fig


explore(weight_map, row=[3, 7, 10, 14, 18, 21, 25], column=[3, 8, 12, 16, 20, 25],
        description="a pixel -> the weights of its logistic regression")

# %% [markdown]
#
# ## Samples
#
# Sampling runs the 784 regressions in sequence, each on the pixels already drawn (`model.sample`, a loop
# over the rows of the masked matrix).

# %%
samples = model.sample(N_SHOW, generator=generator)
shown = torch.randperm(len(x_test), generator=generator)[:N_SHOW]  # the test set starts with a run of zeros
fig, axes = plt.subplots(1, 2, figsize=(12, 2.8))
plot.show_images(x_test[shown], n_cols=10, ax=axes[0], title="real test digits")
plot.show_images(samples, n_cols=10, ax=axes[1], title="FVSBN samples")
plt.show()

# %% [markdown]
# The samples have strokes, which independent pixels never produced, but mostly not digits: the local
# continuation rules are right while the global shape wanders. Conditioning makes the same point. The chain rule
# lets us keep the top half of a real test digit fixed and sample only the bottom half, pixel by pixel, from
# $p(x_{\text{bottom}} \mid x_{\text{top}})$; we write this loop in view, three completions per digit.


# %%
@torch.no_grad()
def complete(fvsbn: FVSBN, x: torch.Tensor, start: int, gen: torch.Generator) -> torch.Tensor:
    """Keep pixels < start of each image, sample pixels start..n-1 one at a time from the FVSBN."""
    x = x.float().clone()
    x[:, start:] = 0
    masked = fvsbn.weight * fvsbn.mask
    for i in range(start, x.shape[1]):
        p = torch.sigmoid(x @ masked[i] + fvsbn.bias[i])  # regression i on the pixels fixed or drawn so far
        x[:, i] = torch.bernoulli(p, generator=gen)
    return x


tops = x_test[shown[:10]]
completions = [complete(model, tops, start=14 * 28, gen=generator) for _ in range(3)]
hidden = tops.float().clone()
hidden[:, 14 * 28:] = 0.25  # grey: the half the model must fill in
plot.show_images(torch.cat([tops.float(), hidden, *completions]), n_cols=10,
                 title="rows: test digit, its top half, three FVSBN completions of the bottom half")
plt.show()

# %% [markdown]
# The completions continue the strokes that cross the middle line and then drift. Per-pixel logistic
# regression is the weakest classifier we could have chosen; the next chapter keeps everything else and puts a
# hidden layer inside each conditional.
#
# ## Summary
#
# - The FVSBN models pixel $i$ as $\text{Bernoulli}(\hat{x}_i)$ with
#   $\hat{x}_i = \sigma(\alpha^i_0 + \sum_{j<i} \alpha^i_j x_j)$: one logistic regression per pixel on its prefix.
# - $\log p(x)$ is the sum of the $n$ Bernoulli log-factors; sampling draws the pixels in order, each from its
#   regression on the pixels drawn before it.
# - The $n$ regressions share nothing: $1 + 2 + \dots + n = n(n+1)/2$ parameters, {glue:text}`fvsbn_n_params:,d` for
#   binarized MNIST, $O(n^2)$.
# - All conditionals come out of one masked linear layer $z = (A \odot M)x + \alpha_0$ with a strictly
#   lower-triangular mask; we checked it against the loop over regressions and against `arlib.models.FVSBN`.
# - Test NLL {glue:text}`fvsbn_test_nll` nats ({glue:text}`fvsbn_test_bpd` bits/dim), against
#   {glue:text}`bernoulli_test_nll` for independent pixels and the published 97.45 (Larochelle & Murray, 2011).
#   The weights are local stroke detectors; samples have strokes but rarely digits.
#
# **Assignment.** Write the FVSBN's log-likelihood and its ancestral sampler yourself in
# [`fvsbn_nade`](https://colab.research.google.com/github/arlib-book/autoregressive-models/blob/main/assignments/released/fvsbn_nade.ipynb) (its NADE half follows chapter 4). Instructors grade it as described in
# [For instructors](instructors.md).
