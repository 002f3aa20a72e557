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
QUICK = not torch.cuda.is_available()  # CPU: shipped weights, small demos. GPU: train from scratch, longer demos.
HIDDEN = 500                           # hidden units d of the binarized-MNIST NADE
EPOCHS = 40                            # full run (GPU only): maximum epochs, early stopping on validation NLL
PATIENCE = 5                           # full run: epochs without a better validation NLL before stopping
TRAIN_IMAGES = 50_000                  # full run: training images (all of binarized MNIST's training split)
N_TIMING = 50                          # images in the timing of the running sum against the naive loop
N_SHOW = 20                            # samples in the static figure
N_ANIMATE = 4                          # digits drawn in the animation (28 frames, one per image row)
SMALL_TRAIN = 10_000                   # 14 x 14 demos (categorical, DeepNADE): training images
SMALL_EPOCHS = 3 if QUICK else 30      # epochs of the categorical NADE
DEEP_EPOCHS = 10 if QUICK else 100     # epochs of the DeepNADE
SMALL_HIDDEN = 128                     # hidden units of the 14 x 14 models
N_LEVELS = 4                           # grey levels K of the categorical demo
N_ORDER_TEST = 500                     # test images scored under several orderings (each costs 196 passes)
CHECKPOINTS = "checkpoints"             # GPU path: training checkpoints, resumed when the cell is re-run

# %% [markdown]
# # 4. NADE: a hidden layer per conditional, with shared weights
#
# The FVSBN of chapter 3 predicts each pixel with a logistic regression on the pixels before it. Logistic
# regression adds up evidence one pixel at a time, so it cannot express interactions such as "ink here if the
# strokes so far look like the top of a 7". The obvious fix is a small neural network with a hidden layer in
# every conditional. Done naively, that multiplies the parameter count by the number of hidden units; the
# **neural autoregressive distribution estimator** (NADE; Larochelle & Murray, 2011) avoids this with one
# idea, **weight tying**, which also makes the likelihood as cheap to compute as the FVSBN's.
#
# This chapter covers, in order: the untied and the tied model and their parameter counts; the running sum that
# evaluates all conditionals in $O(nd)$; training and the test likelihood against the FVSBN and published
# figures; sampling, where each step produces a soft probability and a hard sample; pixels with $K$ values
# (softmax conditionals); and DeepNADE, which learns all orderings at once from masked inputs.
#
# ## A hidden layer per pixel: the untied model
#
# Replace each logistic regression by a network with one hidden layer of $d$ sigmoid units:
#
# $$
# h_i = \sigma(A_i\, x_{<i} + c_i), \qquad \hat{x}_i = p(x_i = 1 \mid x_{<i}) = \sigma(\alpha_i \cdot h_i + b_i),
# $$
#
# with $A_i \in \mathbb{R}^{d \times (i-1)}$, $c_i \in \mathbb{R}^d$, $\alpha_i \in \mathbb{R}^d$ and
# $b_i \in \mathbb{R}$, all private to pixel $i$. Conditional $i$ has $d(i-1) + 2d + 1$ parameters, so the
# whole model has
#
# $$
# d\,\frac{n(n-1)}{2} + n(2d + 1) = O(n^2 d)
# $$
#
# parameters, about $d$ times the FVSBN's already quadratic count. Evaluating $p(x)$ also costs $O(n^2 d)$: every
# conditional multiplies its own matrix by its own prefix.
#
# ## Tying the weights
#
# NADE makes all the input matrices slices of **one** matrix $W \in \mathbb{R}^{d \times n}$ and shares the hidden
# bias: $A_i = W_{\cdot, <i}$ (the first $i-1$ columns of $W$) and $c_i = c$, so
#
# $$
# h_i = \sigma(W_{\cdot, <i}\, x_{<i} + c), \qquad \hat{x}_i = \sigma(\alpha_i \cdot h_i + b_i).
# $$
#
# Column $j$ of $W$ is what pixel $j$ contributes to the hidden layer, and it contributes the same vector to
# every later conditional. The output weights $\alpha_i$ and $b_i$ stay private. The parameters are now $W$
# ($nd$), $c$ ($d$), $\alpha_1, \dots, \alpha_n$ ($nd$) and $b$ ($n$): $2nd + n + d = O(nd)$, linear in $n$.
# (Strictly, the last column of $W$ is never used, since no pixel comes after pixel $n$; implementations keep it
# for simplicity, and so does our count.)
# (The tying was inspired by the restricted Boltzmann machine: Larochelle and Murray derived NADE from a
# mean-field approximation of an RBM's conditionals, in which the same weight matrix serves every pixel.)
#
# We count both for binarized MNIST with $d = 500$ hidden units, the size of the published model, and check the
# tied count against `arlib.models.NADE`.
# (API: {py:class}`arlib.models.NADE`.)

# %%
import copy
import math
import time

import matplotlib.pyplot as plt
import torch.nn.functional as F
from IPython.display import HTML

import arlib
from arlib import data, plot, pretrained, train
from arlib.book import glue
from arlib.models import NADE, CategoricalNADE, DeepNADE
from arlib.train import History

generator = arlib.seed(SEED)
if QUICK:  # CPU demo: small models, where one thread is fastest and reproducible
    torch.set_num_threads(1)
device = arlib.device()
x_train = data.load("binarized_mnist", "train")
x_valid = data.load("binarized_mnist", "valid")
x_test = data.load("binarized_mnist", "test")
n, d = x_train.shape[1], HIDDEN


def untied_parameters(n: int, d: int) -> int:
    return d * n * (n - 1) // 2 + n * (2 * d + 1)  # A_i, and c_i, α_i, b_i for every pixel


def tied_parameters(n: int, d: int) -> int:
    return 2 * n * d + n + d  # W, α (n vectors of d), b, c


glue("untied_params", untied_parameters(n, d))
glue("tied_params", tied_parameters(n, d))
glue("fvsbn_params", n * (n + 1) // 2)
glue("untied_over_tied", round(untied_parameters(n, d) / tied_parameters(n, d)))
glue("tied_over_fvsbn", round(tied_parameters(n, d) / (n * (n + 1) / 2), 1))
print(f"n = {n}, d = {d}")
print(f"untied NADE: {untied_parameters(n, d):13,d} parameters")
print(f"tied NADE:   {tied_parameters(n, d):13,d} parameters   (arlib's NADE({n}, {d}): {NADE(n, d).n_parameters():,d})")
print(f"FVSBN:       {n * (n + 1) // 2:13,d} parameters")

sizes = torch.logspace(1, 5, 40).long().unique().tolist()
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.loglog(sizes, [untied_parameters(s, d) for s in sizes], label=f"untied NADE, d = {d}: O(n²d)")
ax.loglog(sizes, [s * (s + 1) / 2 for s in sizes], label="FVSBN: O(n²)")
ax.loglog(sizes, [tied_parameters(s, d) for s in sizes], label=f"tied NADE, d = {d}: O(nd)")
ax.axvline(n, color="k", lw=0.8, ls=":")
ax.text(n * 1.1, 1e3, "MNIST, n = 784")
ax.set_xlabel("number of pixels n")
ax.set_ylabel("parameters")
ax.legend()
plt.show()

# %% [markdown]
# Untied, a one-hidden-layer autoregressive model of MNIST digits would need {glue:text}`untied_params:,d`
# parameters; tied, it needs {glue:text}`tied_params:,d`, about {glue:text}`untied_over_tied` times fewer and only
# {glue:text}`tied_over_fvsbn` times the FVSBN's {glue:text}`fvsbn_params:,d`. For large $n$ the tied NADE is even smaller
# than the FVSBN, whose count grows quadratically.
#
# ## The running sum: all conditionals in $O(nd)$
#
# Tying pays off a second time, in computation. Call the pre-activation of conditional $i$
# $a_i = W_{\cdot, <i}\, x_{<i} + c$, so that $h_i = \sigma(a_i)$. Going from $i$ to $i + 1$ adds exactly one
# column:
#
# $$
# a_1 = c, \qquad a_{i+1} = a_i + W_{\cdot, i}\, x_i .
# $$
#
# Each step costs $O(d)$ (one column times one pixel value), each output $\alpha_i \cdot \sigma(a_i)$ another
# $O(d)$, so all $n$ conditionals together cost $O(nd)$, the same order as a single ordinary hidden layer.
# Recomputing every $a_i$ from scratch, which the untied model cannot avoid, costs $\sum_i O(id) = O(n^2 d)$.
# Here is the running sum written out as a loop over pixels:


# %%
def running_sum_logits(x: torch.Tensor, W, c, V, b) -> torch.Tensor:
    """Logits of x̂_i for all i via a_1 = c, a_{i+1} = a_i + W[:, i] x_i. W: (d, n), c: (d,), V: (n, d), b: (n,)."""
    x = x.float()
    a = c.expand(len(x), -1).clone()  # a_1 = c, one row per image
    logits = []
    for i in range(x.shape[1]):
        logits.append(torch.sigmoid(a) @ V[i] + b[i])  # α_i · h_i + b_i
        a = a + torch.outer(x[:, i], W[:, i])  # a_{i+1} = a_i + W[:, i] x_i
    return torch.stack(logits, dim=1)


def naive_logits(x: torch.Tensor, W, c, V, b) -> torch.Tensor:
    """The same logits, recomputing a_i = W[:, <i] x_<i + c from scratch for every i (the untied cost)."""
    x = x.float()
    return torch.stack([torch.sigmoid(x[:, :i] @ W[:, :i].T + c) @ V[i] + b[i] for i in range(x.shape[1])], dim=1)


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    x = x.float()
    return (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(1)


# %% [markdown]
# ## Training, and a check against the library
#
# NADE is trained like every model in this book: Adam on the mean NLL, each conditional fed the true prefix
# (teacher forcing), early stopping on the validation set. `arlib.models.NADE` computes the running sum for a
# whole batch at once (with `fused=True`, as in the full run below, block by block with a hand-written backward
# pass). Even so, the shipped run needed
# {glue:text}`nade_train_minutes` minutes of training on a CPU (its sidecar records the time and the machine), so by
# default we load its weights; with a GPU the chapter repeats the run.

# %%
sidecar = pretrained.info("nade-binarized-mnist")
glue("nade_train_minutes", round(sidecar["train_seconds"] / 60))
if QUICK:
    model = pretrained.load("nade-binarized-mnist", device)
    history = History(**sidecar["history"])
    print("loaded the shipped weights; trained with", repr(sidecar["command"]), "on", sidecar["machine"])
else:
    model = NADE(n, HIDDEN, fused=True).to(device)
    history = train.fit(model, x_train[:TRAIN_IMAGES], x_valid, epochs=EPOCHS, batch_size=100, lr=1e-3,
                        patience=PATIENCE, seed=SEED, device=device, checkpoint=f"{CHECKPOINTS}/04_nade.pt")
print(f"{history.epochs} epochs, best validation NLL {history.best_valid_nll:.2f} nats at epoch {history.best_epoch}")
nade = copy.deepcopy(model).cpu()  # a CPU copy for the small experiments below
W, c, V, b = (p.detach() for p in (nade.W, nade.c, nade.V, nade.b))
print("shapes: W", tuple(W.shape), " c", tuple(c.shape), " V (the α_i as rows)", tuple(V.shape), " b", tuple(b.shape))

# %% [markdown]
# Our two loops, given the trained weights, must reproduce the library's log-likelihoods (its fast `log_prob`
# and its deliberately slow `log_prob_naive`). We also time the loops on {glue:text}`n_timing` images while
# computing only the first $k$ conditionals, for growing $k$: the running sum should grow linearly in $k$, the
# naive loop quadratically.

# %%
glue("n_timing", N_TIMING)
x_small = x_test[:N_TIMING]
with torch.no_grad():
    mine = bernoulli_log_prob(running_sum_logits(x_small, W, c, V, b), x_small)
    mine_naive = bernoulli_log_prob(naive_logits(x_small, W, c, V, b), x_small)
    library = nade.log_prob(x_small)
    library_naive = nade.log_prob_naive(x_small)
print("running-sum loop == arlib NADE.log_prob:      ", torch.allclose(mine, library, atol=1e-3))
print("naive loop       == arlib NADE.log_prob_naive:", torch.allclose(mine_naive, library_naive, atol=1e-3))
print("running sum      == naive:                    ", torch.allclose(mine, mine_naive, atol=1e-3))


def seconds(function, repeats: int = 3) -> float:
    """Best wall time of a few calls (timings only go into the figure: they differ from run to run)."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            function()
        best = min(best, time.perf_counter() - start)
    return best


prefixes = [98, 196, 392, 784]
times = {"running sum (loop)": [], "naive (loop)": []}
for k in prefixes:
    times["running sum (loop)"].append(seconds(lambda k=k: running_sum_logits(x_small[:, :k], W, c, V, b)))
    times["naive (loop)"].append(seconds(lambda k=k: naive_logits(x_small[:, :k], W, c, V, b)))
library_time = seconds(lambda: nade.log_prob(x_small))

fig, ax = plt.subplots(figsize=(6, 3.6))
for label, values in times.items():
    ax.loglog(prefixes, values, "o-", label=label)
ax.loglog([n], [library_time], "k*", ms=12, label="arlib NADE.log_prob")
for slope, style in [(1, ":"), (2, "--")]:
    ref = times["running sum (loop)"][0] if slope == 1 else times["naive (loop)"][0]
    ax.loglog(prefixes, [ref * (k / prefixes[0]) ** slope for k in prefixes], "k" + style, lw=0.8,
              label=f"slope {slope}")
ax.set_xticks(prefixes, [str(k) for k in prefixes])
ax.minorticks_off()
ax.set_xlabel("conditionals computed, k")
ax.set_ylabel(f"seconds for {N_TIMING} images")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# All four computations agree. On a log-log plot the naive loop follows the slope-2 line ($O(k^2 d)$) and the
# running sum the slope-1 line ($O(kd)$); the library's blockwise version, which replaces the Python loop by a
# few large tensor operations, is faster still. The ratio of the work done, about $n/2$, grows with the image:
# for $256 \times 256$ pixels the naive loop would do tens of thousands of times more arithmetic.
#
# ## Test likelihood
#
# We measure the test NLL of NADE on all 10,000 test images, next to the FVSBN and the independent-pixel model
# (their shipped weights, measured again here), and show NADE's learning curve with the FVSBN's, both read from
# the training runs' records.

# %%
nade_result = train.evaluate(model, x_test)
fvsbn = pretrained.load("fvsbn-binarized-mnist", device)
fvsbn_result = train.evaluate(fvsbn, x_test)
bernoulli_result = train.evaluate(pretrained.load("bernoulli-binarized-mnist", device), x_test)
glue("nade_test_nll", round(nade_result.nll, 2))
glue("nade_test_bpd", round(nade_result.bits_per_dim, 4))
glue("fvsbn_test_nll", round(fvsbn_result.nll, 2))
glue("bernoulli_test_nll", round(bernoulli_result.nll, 2))
glue("nade_gain_over_fvsbn", round(fvsbn_result.nll - nade_result.nll, 1))
for name, result in [("independent pixels", bernoulli_result), ("FVSBN", fvsbn_result), ("NADE", nade_result)]:
    print(f"{name:20s} test NLL {result.nll:7.2f} nats = {result.bits_per_dim:.4f} bits/dim")

fvsbn_history = History(**pretrained.info("fvsbn-binarized-mnist")["history"])
ax = plot.loss_curves({"FVSBN": fvsbn_history, f"NADE, d = {HIDDEN}": history})
ax.set_ylim(top=min(200, ax.get_ylim()[1]))
ax.set_title("binarized MNIST, 50,000 training images")
plt.show()

# %% [markdown]
# | model | test NLL (nats per image) | source |
# | --- | --- | --- |
# | independent pixels (chapter 1) | {glue:text}`bernoulli_test_nll` | measured above |
# | FVSBN (chapter 3) | {glue:text}`fvsbn_test_nll` | measured above |
# | NADE, $d = 500$, this chapter | {glue:text}`nade_test_nll` | measured above |
# | FVSBN | 97.45 | *published*: Larochelle & Murray (2011) |
# | NADE, $d = 500$ | 88.86 | *published*: Larochelle & Murray (2011) |
# | NADE, 1 hidden layer | 88.33 | *published*: Uria, Murray & Larochelle (2014) |
# | EoNADE, 2 hidden layers, ensemble of 128 orderings | 85.10 | *published*: Uria, Murray & Larochelle (2014) |
# | ConvNADE + DeepNADE | 80.82 | *published*: Uria et al. (2016) |
#
# The rows marked *published* are **literature values** copied from the papers, not measured here; all use the
# same fixed binarization and test images, so they are comparable with our measurements, up to differences in
# training procedure. The hidden layer gains {glue:text}`nade_gain_over_fvsbn` nats per image over the FVSBN
# here, in a model with {glue:text}`tied_over_fvsbn` times as many parameters. The last two rows preview where the NADE family went:
# deeper networks trained on many orderings (DeepNADE, below) and convolutional conditionals.
#
# ## Sampling: soft probabilities and hard samples
#
# Sampling runs the running sum forwards with the model's own draws in place of data. At step $i$:
#
# 1. compute the **soft** value $\hat{x}_i = \sigma(\alpha_i \cdot \sigma(a_i) + b_i)$, the probability that pixel
#    $i$ is ink given the pixels drawn so far;
# 2. draw the **hard** value $x_i \sim \text{Bernoulli}(\hat{x}_i)$: with a uniform $u_i$, $x_i = 1$ if $u_i < \hat{x}_i$;
# 3. feed the hard value back: $a_{i+1} = a_i + W_{\cdot, i}\, x_i$.
#
# Only the hard values enter the running sum; the soft ones are what the model "thinks" at each step. The
# published NADE figure shows the two side by side, and so do we. Our loop draws its uniforms exactly like
# `model.sample`, so with the same seed it must produce the same digits.


# %%
@torch.no_grad()
def sample_with_probabilities(W, c, V, b, n_images: int, gen: torch.Generator):
    """NADE sampling as a loop: returns the hard samples x and the soft probabilities x̂, both (n_images, n)."""
    n_pixels = W.shape[1]
    u = torch.rand(n_images, n_pixels, generator=gen)  # one uniform per pixel, drawn up front
    x, x_hat = torch.zeros(n_images, n_pixels), torch.zeros(n_images, n_pixels)
    a = c.expand(n_images, -1).clone()  # a_1 = c
    for i in range(n_pixels):
        x_hat[:, i] = torch.sigmoid(torch.sigmoid(a) @ V[i : i + 1].T + b[i])[:, 0]  # soft: x̂_i
        x[:, i] = (u[:, i] < x_hat[:, i]).float()  # hard: x_i ~ Bernoulli(x̂_i)
        a += torch.outer(x[:, i], W[:, i])  # feed the hard value back
    return x, x_hat


glue("n_animate", N_ANIMATE)
x_mine, probs_mine = sample_with_probabilities(W, c, V, b, N_SHOW, torch.Generator().manual_seed(SEED))
x_lib, probs_lib = nade.sample(N_SHOW, generator=torch.Generator().manual_seed(SEED), return_probs=True)
print("same hard samples as arlib's NADE.sample:", torch.equal(x_mine, x_lib),
      "| same probabilities:", torch.allclose(probs_mine, probs_lib, atol=1e-5))

fig, axes = plt.subplots(1, 2, figsize=(12, 2.6))
plot.show_images(x_mine, n_cols=10, ax=axes[0], title="hard samples $x_i$")
plot.show_images(probs_mine, n_cols=10, ax=axes[1], title="soft probabilities $\\hat{x}_i$")
plt.show()

# %% [markdown]
# The soft images are smoother: where the model is unsure, $\hat{x}_i$ is grey, and the hard image shows which
# way the coin fell. Because each hard value is fed back, every coin flip changes the probabilities of the
# pixels after it. The animation replays the sampling of {glue:text}`n_animate` digits one image row (28
# pixels) per frame, soft probabilities on the left, hard samples on the right; the rows not yet drawn are
# blank. Press play. ({py:func}`arlib.plot.animate_frames` makes the
# animation from frames tiled by {py:func}`arlib.plot.image_grid`.)

# %% tags=["nbval-ignore-output"]
anim_x, anim_probs = sample_with_probabilities(W, c, V, b, N_ANIMATE, generator)
frames = []
for row in range(28):
    drawn = (torch.arange(n) < (row + 1) * 28).float()  # pixels of rows 0..row
    frames.append([plot.image_grid(anim_probs * drawn, n_cols=2), plot.image_grid(anim_x * drawn, n_cols=2)])
shape = tuple(frames[0][0].shape)
anim = plot.animate_frames(frames, ["soft probabilities $\\hat{x}_i$", "hard samples $x_i$"], interval=150, shape=shape)
HTML(plot.animation_html(anim))

# %% [markdown]
# ## Pixels with $K$ values: softmax conditionals
#
# Nothing in NADE is specific to binary pixels. For $x_i \in \{0, \dots, K-1\}$ (grey levels, colour
# intensities, characters) two things change:
#
# - **Input.** Each earlier pixel enters as a one-hot vector $e_{x_j} \in \{0, 1\}^K$, so $W$ gets one column
#   per pixel *and value*, $W \in \mathbb{R}^{d \times n \times K}$, and the running sum adds the column of the
#   observed value: $a_{i+1} = a_i + W_{\cdot, i, x_i}$.
# - **Output.** Conditional $i$ produces $K$ logits and a **softmax** turns them into a categorical distribution:
#
# $$
# \hat{x}_i = (p_i^0, \dots, p_i^{K-1}) = \operatorname{softmax}(V_i h_i + b_i), \qquad
# \operatorname{softmax}(z)_k = \frac{e^{z_k}}{\sum_{l} e^{z_l}},
# $$
#
# with $V_i \in \mathbb{R}^{K \times d}$ and $b_i \in \mathbb{R}^K$. The probabilities are positive and sum to 1,
# and the training loss for pixel $i$ is a $K$-way cross-entropy, $-\log p_i^{x_i}$. The softmax generalises the
# sigmoid: with $K = 2$ and logits $(0, z)$, $\operatorname{softmax}(0, z)_1 = e^z / (1 + e^z) = \sigma(z)$.
#
# A small demonstration: real MNIST digits (grey levels, not the binarized set), averaged down to
# $14 \times 14$ pixels and quantised to $K =$ {glue:text}`n_levels` levels. We train a categorical NADE briefly
# (`CategoricalNADE(196, d, n_categories=K)`) and compare it with independent categorical pixels
# (smoothed counts, the categorical version of chapter 1's model).

# %%
glue("n_levels", N_LEVELS)
z = torch.tensor(1.3)
print(f"softmax(0, z)[1] = {torch.softmax(torch.stack([torch.tensor(0.0), z]), 0)[1]:.6f}, "
      f"sigmoid(z) = {torch.sigmoid(z):.6f}")

mnist_train, _ = data.load("mnist", "train")
mnist_test, _ = data.load("mnist", "test")


def small_digits(images: torch.Tensor, levels: int) -> torch.Tensor:
    """28 x 28 grey digits -> 14 x 14 (2 x 2 averages) -> integers 0..levels-1, shape (N, 196)."""
    grey = F.avg_pool2d(images.float().div(255).unsqueeze(1), 2).flatten(1)
    return (grey * levels).floor().clamp(max=levels - 1).long()


q_train = small_digits(mnist_train[:SMALL_TRAIN], N_LEVELS)
q_test = small_digits(mnist_test, N_LEVELS)
m = q_train.shape[1]
categorical = CategoricalNADE(m, SMALL_HIDDEN, n_categories=N_LEVELS)
cat_history = train.fit(categorical, q_train, None, epochs=SMALL_EPOCHS, batch_size=100, lr=1e-2, seed=SEED,
                        checkpoint=None if QUICK else f"{CHECKPOINTS}/04_categorical_nade.pt")
cat_result = train.evaluate(categorical, q_test)
categorical = categorical.cpu()  # the hand computation below runs on the CPU

counts = F.one_hot(q_train, N_LEVELS).sum(0).float() + 1  # (196, K) smoothed counts per pixel
log_freq = (counts / counts.sum(1, keepdim=True)).log()
independent_nll = -log_freq.gather(1, q_test.T).sum(0).mean().item()
glue("cat_bpd", round(cat_result.bits_per_dim, 3))
glue("cat_indep_bpd", round(independent_nll / (m * math.log(2)), 3))
print(f"{N_LEVELS}-level 14 x 14 digits, {len(q_test):,} test images:")
print(f"  categorical NADE:        {cat_result.nll:6.2f} nats/image = {cat_result.bits_per_dim:.3f} bits/dim")
print(f"  independent categorical: {independent_nll:6.2f} nats/image = {independent_nll / (m * math.log(2)):.3f} bits/dim"
      f"   (uniform: log2({N_LEVELS}) = {math.log2(N_LEVELS):.0f} bits/dim)")

# %% [markdown]
# After a short training run the categorical NADE needs {glue:text}`cat_bpd` bits per pixel against
# {glue:text}`cat_indep_bpd` for independent pixels. To see a softmax conditional at work we compute one by hand
# for a test digit, at the four pixels where the model is least certain (highest entropy): the running sum over
# one-hot inputs picks one column of $W$ per earlier pixel, and the softmax of $V_i h_i + b_i$ gives the $K$
# probabilities, which we compare with `categorical.conditionals`.

# %%
digit = q_test[:1]
with torch.no_grad():
    library_probs = categorical.conditionals(digit)[0]  # (196, K)
    Wk, ck, Vk, bk = categorical.W, categorical.c, categorical.V, categorical.b  # (d, n, K), (d,), (n, K, d), (n, K)
    entropy = -(library_probs * library_probs.log()).sum(1)
    pixels = entropy.topk(4).indices.sort().values.tolist()  # the four pixels the model is least sure about
    by_hand = []
    for i in pixels:
        a = ck + sum(Wk[:, j, digit[0, j]] for j in range(i))  # a_i = c + Σ_{j<i} W[:, j, x_j]
        by_hand.append(torch.softmax(Vk[i] @ torch.sigmoid(a) + bk[i], dim=0))
    by_hand = torch.stack(by_hand)
print("hand-computed softmax == categorical.conditionals:", torch.allclose(by_hand, library_probs[pixels], atol=1e-5))

fig, axes = plt.subplots(1, len(pixels) + 1, figsize=(13, 2.6), gridspec_kw={"width_ratios": [1.2] + [1] * len(pixels)})
axes[0].imshow(digit.reshape(14, 14), cmap="gray_r", vmin=0, vmax=N_LEVELS - 1)
for k, i in enumerate(pixels):
    axes[0].text(i % 14, i // 14, str(k + 1), color="red", ha="center", va="center", fontsize=9, weight="bold")
axes[0].set_title(f"test digit, {N_LEVELS} levels")
axes[0].set_axis_off()
for k, (ax, i) in enumerate(zip(axes[1:], pixels, strict=True)):
    colours = ["C3" if v == digit[0, i] else "C0" for v in range(N_LEVELS)]
    ax.bar(range(N_LEVELS), by_hand[k], color=colours)
    ax.set_ylim(0, 1)
    ax.set_xticks(range(N_LEVELS))
    ax.set_title(f"pixel {k + 1}: $p(x_i = v \\mid x_{{<i}})$", fontsize=9)
    ax.set_xlabel("value v (red: the true one)")
plt.tight_layout()
plt.show()

fig, axes = plt.subplots(1, 2, figsize=(12, 2.6))
plot.show_images(q_test[:20].float() / (N_LEVELS - 1), n_cols=10, ax=axes[0], shape=(14, 14),
                 title=f"real digits, {N_LEVELS} levels")
plot.show_images(categorical.sample(20, generator=generator).float() / (N_LEVELS - 1), n_cols=10, ax=axes[1],
                 shape=(14, 14), title=f"categorical NADE samples (after {SMALL_EPOCHS} epochs)")
plt.show()

# %% [markdown]
# ## DeepNADE: one network for every ordering
#
# A NADE is tied to its ordering: it can give $p(x_i \mid x_{<i})$ in raster order, but not, say, the top half of a
# digit given its bottom half. Uria, Murray and Larochelle (2014) trained a **single** feed-forward network to
# give the conditionals of *any* ordering. Its input is the set of pixels already known, in the form of
#
# $$
# \text{input} = [\, x \odot m,\ m \,] \in \mathbb{R}^{2n},
# $$
#
# the data with the unknown pixels zeroed ($m_j = 1$ if pixel $j$ is known) **concatenated with the mask $m$
# itself**. Without the mask a 0 in the input would be ambiguous: a known background pixel and an unknown pixel
# would look the same. The network (here two ReLU layers) outputs a logit for every pixel, and only the logits
# of the unknown pixels are used.
#
# **Training.** For each image draw a random ordering $o$ and a random number $k \in \{0, \dots, n-1\}$ of known
# pixels, the first $k$ in the ordering. One forward pass scores all $n - k$ unknown pixels, and the loss is
#
# $$
# \frac{n}{n - k} \sum_{j \notin o_{\le k}} -\log p(x_j \mid x_{o_{\le k}}),
# $$
#
# whose expectation over $o$ and $k$ is the NLL averaged over all orderings (each of the $n - k$ unknown pixels
# is equally likely to be the next one in the ordering, hence the factor). **Using it** for one ordering takes
# $n$ passes, one per prefix: the price of not having a running sum.
#
# We train one on $14 \times 14$ binary digits (the same images with $K = 2$), `arlib.models.DeepNADE`,
# and check that its conditionals are the network applied to $[x \odot m, m]$.

# %% tags=["nbval-tolerance"]
x2_train = small_digits(mnist_train[:SMALL_TRAIN], 2)
x2_test = small_digits(mnist_test, 2)
deep = DeepNADE(m, SMALL_HIDDEN, n_layers=2)
print(deep.net)
deep_history = train.fit(deep, x2_train, None, epochs=DEEP_EPOCHS, batch_size=100, lr=3e-3, seed=SEED,
                         checkpoint=None if QUICK else f"{CHECKPOINTS}/04_deep_nade.pt")
deep = deep.cpu()  # trained on arlib.device(); the hand-written checks below run on the CPU
print("training loss (order-agnostic estimate) per epoch:", [round(v, 2) for v in deep_history.train_nll])

order = torch.randperm(m, generator=generator)
x_few = x2_test[:5]
with torch.no_grad():
    library_cond = deep.conditionals(x_few, order=order)  # p(x_j = 1 | pixels before j in this ordering)
    agree = []
    for position in (0, 50, 150):
        known = torch.zeros(len(x_few), m)
        known[:, order[:position]] = 1  # the first `position` pixels of the ordering are known
        inputs = torch.cat([x_few.float() * known, known], dim=1)  # [x ⊙ m, m]
        p_hand = torch.sigmoid(deep.net(inputs))[:, order[position]]
        agree.append(torch.allclose(p_hand, library_cond[:, order[position]], atol=1e-5))
print("net([x ⊙ m, m]) == deep.conditionals at positions 0, 50, 150:", agree)

# %% [markdown]
# Because every ordering is a valid autoregressive factorisation, each gives an exact log-likelihood, and they
# need not agree: the network fits some orderings better than others. Averaging the *probabilities* of several
# orderings, $p(x) = \frac{1}{|O|}\sum_{o \in O} p_o(x)$, is again a valid distribution (a mixture), and usually a
# better one; that is the "ensemble of orderings" (EoNADE) of the table above. We score
# {glue:text}`n_order_test` test digits under five orderings.

# %% tags=["nbval-tolerance"]
glue("n_order_test", N_ORDER_TEST)
x_scored = x2_test[:N_ORDER_TEST]
raster = torch.arange(m)
orderings = {"raster (row by row)": raster, "reverse raster": raster.flip(0),
             "column by column": raster.reshape(14, 14).T.flatten()}
for r in range(2):
    orderings[f"random {r + 1}"] = torch.randperm(m, generator=generator)
with torch.no_grad():
    log_ps = {name: deep.log_prob(x_scored, order=o) for name, o in orderings.items()}
for name, log_p in log_ps.items():
    print(f"{name:20s} NLL {-log_p.mean():6.2f} nats")
ensemble = torch.logsumexp(torch.stack(list(log_ps.values())), 0) - math.log(len(log_ps))
glue("ensemble_nll", round(-ensemble.mean().item(), 2))
glue("best_single_nll", round(min(-log_p.mean().item() for log_p in log_ps.values()), 2))
print(f"{'ensemble of the five':20s} NLL {-ensemble.mean():6.2f} nats")

# %% [markdown]
# The ensemble of the five orderings scores {glue:text}`ensemble_nll` nats. It can never be worse than the
# orderings' average NLL (the log of an average is at least the average of the logs, by Jensen's inequality), and
# here it also beats the best single ordering ({glue:text}`best_single_nll` nats).
#
# The practical gain is conditioning on *any* set of known pixels. Given the bottom half of a test digit we sample
# the top half, or given the right half the left half, each unknown pixel from the network's conditional on
# everything known or drawn so far: completions that a raster-order NADE or FVSBN cannot produce, because in raster
# order the missing pixels come *before* the known ones.


# %%
@torch.no_grad()
def inpaint(net_model: DeepNADE, x: torch.Tensor, known: torch.Tensor,
            gen: torch.Generator) -> torch.Tensor:
    """Sample the pixels where known == 0, one at a time (in index order), given everything known so far."""
    x, known = x.float() * known, known.float().clone()
    for j in (known[0] == 0).nonzero()[:, 0].tolist():  # the same hidden region for every image
        logits = net_model.net(torch.cat([x * known, known], dim=1))
        x[:, j] = torch.bernoulli(torch.sigmoid(logits[:, j]), generator=gen)
        known[:, j] = 1
    return x


originals = x2_test[torch.randperm(len(x2_test), generator=generator)[:8]]
row, column = raster // 14, raster % 14
regions = {"bottom half known": row >= 7, "right half known": column >= 7}
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
for ax, (title, region) in zip(axes, regions.items(), strict=True):
    known = region.float().expand(len(originals), -1)
    shown = originals.float() * known + 0.25 * (1 - known)  # grey: unknown
    completions = [inpaint(deep, originals, known, generator) for _ in range(2)]
    plot.show_images(torch.cat([originals.float(), shown, *completions]), n_cols=8, ax=ax, shape=(14, 14),
                     title=title)
plt.show()

# %% [markdown]
# In each panel the rows are: the test digit, what the model is given (grey: unknown), and two completions. After a
# brief training run the completions are rough, but they continue the strokes that cross into the unknown half;
# longer training (the GPU setting) makes them more digit-like.
#
# ### Explore: what the network believes, ordering by ordering
#
# Choose an ordering and how many of its first pixels are known. The top row shows what the network is given
# (grey: unknown); the bottom row fills every unknown pixel with the network's probability of ink given the
# known ones, $p(x_j = 1 \mid x_{\text{known}})$, all from one pass of `deep.net`. **Try** 25 known pixels in
# raster order against 25 in a random order. **Notice** that a raster prefix only shows the empty top rows, so
# the belief is a blurry average digit, while 25 scattered pixels already sketch the outline; the title
# gives each ordering's test NLL from the table above.

# %%
from arlib.widgets import explore

believed = originals[:4].float()


@torch.no_grad()
def belief_view(ordering: str, known_pixels: int):
    """Known pixels as given; unknown ones as the network's p(ink | known)."""
    mask = torch.zeros(m)
    mask[orderings[ordering][:known_pixels]] = 1
    masks = mask.expand(len(believed), -1)
    p_ink = torch.sigmoid(deep.net(torch.cat([believed * masks, masks], dim=1)))
    given = believed * masks + 0.25 * (1 - masks)
    filled = believed * masks + p_ink * (1 - masks)
    fig, ax = plt.subplots(figsize=(5, 2.8))
    plot.show_images(torch.cat([given, filled]), n_cols=4, ax=ax, shape=(14, 14),
                     title=f"{ordering}: {known_pixels} of {m} known\n"
                           f"test NLL in this ordering "
                           f"{-log_ps[ordering].mean():.1f} nats")
    return fig


explore(belief_view, ordering=list(orderings), known_pixels=[0, 10, 25, 50, 100, 150, 190],
        description="ordering and known pixels -> DeepNADE's belief about the rest")

# %% [markdown]
#
# ## Summary
#
# - **Untied**, a hidden layer per conditional, $h_i = \sigma(A_i x_{<i} + c_i)$, $\hat{x}_i = \sigma(\alpha_i \cdot h_i + b_i)$,
#   needs $O(n^2 d)$ parameters: {glue:text}`untied_params:,d` for MNIST with $d = 500$.
# - **Tied**, $h_i = \sigma(W_{\cdot,<i} x_{<i} + c)$, NADE needs $O(nd)$: {glue:text}`tied_params:,d`. Tying also
#   gives the running sum $a_1 = c$, $a_{i+1} = a_i + W_{\cdot,i} x_i$, which computes all conditionals in $O(nd)$;
#   we checked it against the naive $O(n^2 d)$ loop and against `arlib.models.NADE`.
# - Test NLL {glue:text}`nade_test_nll` nats ({glue:text}`nade_test_bpd` bits/dim) against
#   {glue:text}`fvsbn_test_nll` for the FVSBN; published: 88.86 for NADE and 97.45 for the FVSBN
#   (Larochelle & Murray, 2011).
# - Sampling alternates a soft probability $\hat{x}_i$ and a hard draw $x_i$, and only the hard draw is fed back.
# - $K$-valued pixels: one-hot inputs and a softmax over $K$ logits per conditional.
# - DeepNADE feeds $[x \odot m, m]$ to one network and trains it on random orderings and prefixes; any ordering
#   then gives an exact likelihood (at $n$ passes), orderings can be ensembled, and any set of known pixels can be
#   conditioned on.
#
# **Assignment.** The second half of [`fvsbn_nade`](https://colab.research.google.com/github/arlib-book/autoregressive-models/blob/main/assignments/released/fvsbn_nade.ipynb) asks for NADE's log-likelihood with
# the running sum and its sampler, checked against `arlib.models.NADE`.
