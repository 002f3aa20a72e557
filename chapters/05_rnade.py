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
QUICK = not torch.cuda.is_available()  # CPU: shipped weights. GPU: train the three RNADEs from scratch
#                                        (with the recipe recorded in the shipped sidecars)
N_SAMPLES = 40          # samples drawn from each model
GRID = 200              # points on the x-axis of the density plots (half of it per axis in the 2-D plot)
N_PAIRS = 1000          # test digits averaged in the two-pixel density
N_PIXEL_TRAIN = 5_000   # training values of one pixel for the choice-of-K experiment
STEPS = 150             # Adam steps per K in that experiment
EPOCHS = None           # GPU path: epochs of each RNADE (None: the recipe in its sidecar)
CHECKPOINTS = "checkpoints"  # GPU path: training checkpoints, resumed when the cell is re-run

# %% [markdown]
# # 5. RNADE: autoregressive densities for real numbers
#
# Every model so far predicted **discrete** values: a Bernoulli for a binary pixel, a softmax over a few
# categories. Much of the world's data is real-valued instead: the amplitude of a speech waveform, the
# brightness of a pixel, the reading of a sensor. The chain rule does not care,
#
# $$
# p(x) = \prod_{i=1}^{n} p(x_i \mid x_{<i}),
# $$
#
# but each factor must now be a **probability density** on the real line: a non-negative function that
# integrates to one, evaluated at the observed $x_i$. The **real-valued NADE** (RNADE; Uria, Murray &
# Larochelle, 2013) keeps NADE's shared hidden layer and lets its outputs be the parameters of a
# **mixture of $K$ Gaussians** for each conditional. This chapter builds one conditional by hand, checks it
# against `arlib` and `torch.distributions`, then compares trained RNADEs with a single-Gaussian baseline and
# with plain Gaussians on real-valued digits.
# (API: {py:class}`arlib.models.RNADE`, and {py:mod}`arlib.realdata` for
# the data.)

# %%
import math

import matplotlib.pyplot as plt

import arlib
from arlib import data, plot, pretrained, realdata, train
from arlib.book import glue
from arlib.models import RNADE

arlib.seed(SEED)
if QUICK:  # CPU demo: small models, where one thread is fastest and reproducible
    torch.set_num_threads(1)
device = arlib.device()
x_train = data.load("mnist8x8", "train")
x_valid = data.load("mnist8x8", "valid")
x_test = data.load("mnist8x8", "test")
print(f"train {tuple(x_train.shape)}, valid {tuple(x_valid.shape)}, test {tuple(x_test.shape)}, dtype {x_train.dtype}")
print(f"values in [{x_train.min():.4f}, {x_train.max():.4f}]")

# %% [markdown]
# ## The data: MNIST digits as real-valued 8×8 images
#
# We need real-valued data that a one-thread CPU can model in minutes and whose samples we can look at.
# The choice here copies the classic UCI *optical recognition of handwritten digits* set: a digit is drawn
# as a 32×32 bitmap, cut into 4×4 blocks, and each block is replaced by its number of ink pixels. That gives
# an **8×8 image with 17 grey levels** (0 to 16 ink pixels per block). We apply the recipe to MNIST (28×28,
# padded by two blank pixels on each side, ink = grey level above 127), which gives 50,000 training,
# 10,000 validation and 10,000 test images from the standard splits, with $n = 64$ dimensions: small enough
# for a NADE-style model to train in a few minutes, big enough that the dependencies between pixels matter.
#
# **Dequantisation.** The counts are still integers, and a density on the reals could put an arbitrarily tall
# spike on each integer and reach an arbitrarily good likelihood. The standard fix is to add **uniform noise**
# inside each bin and then rescale:
#
# $$
# x_i = \frac{c_i + u_i}{17}, \qquad u_i \sim \mathrm{Uniform}[0, 1),
# $$
#
# so every $x \in [0, 1)^{64}$. The noise is drawn once per split from a fixed seed (`arlib.realdata`), so every
# run sees the same numbers. The densities in this chapter are **in this scaled space**, in nats per image.
# Two consequences to keep in mind:
#
# - A density on $[0, 1)$ can exceed 1, so a log-density can be positive and an **NLL can be negative**. A
#   dimension that is always in the lowest bin, $[0, 1/17)$, can at best be modelled by the uniform density 17,
#   which contributes $-\ln 17 \approx -2.83$ nats.
# - Undoing the scaling multiplies every density by $17^{-64}$, i.e. adds $64 \ln 17$ nats. In these **count
#   units** (bins of width one) the NLL is an upper bound on the NLL of the discrete counts: by Jensen's
#   inequality, $-\log P(c) = -\log \int_{[0,1)^{64}} p(c + u)\,du \le \mathbb{E}_u[-\log p(c + u)]$. Dividing by
#   $64 \ln 2$ gives **bits per count**; a uniform guess over the 17 levels costs $\log_2 17 \approx 4.09$.
#
# Below, {py:func}`arlib.realdata.ink_counts` turns digits into counts.

# %%
images, labels = data.load("mnist", "test")
counts = realdata.ink_counts(images[:10])
fig, axes = plt.subplots(1, 3, figsize=(13, 1.9))
plot.show_images(images[:10], n_cols=10, ax=axes[0], title="MNIST test digits (28×28)", vmax=255)
plot.show_images(counts, n_cols=10, ax=axes[1], shape=(8, 8), title="ink counts per 4×4 block (0..16)", vmax=16)
plot.show_images(x_test[:10], n_cols=10, ax=axes[2], shape=(8, 8), title="dequantised, scaled: x in [0, 1)")
plt.show()
print("counts of the first test digit, row by row:")
print(counts[0].reshape(8, 8))
count_shift = realdata.count_log_jacobian(64)
glue("count_shift", round(count_shift, 2))
print(f"64 ln 17 = {count_shift:.2f} nats (scaled space -> count units)")

# %% [markdown]
# What does one conditional have to capture? Here are the values of three dimensions over the training set:
# a corner pixel, which is blank in essentially every digit, and two pixels in the middle of the image. From here
# on, dimensions are numbered as in the code, 0 to 63 in raster order: row $r$, column $c$ is $x_{8r + c}$.

# %%
dims = {"corner (0, 0)": 0, "row 3, column 3": 27, "row 4, column 4": 36}
fig, axes = plt.subplots(1, 3, figsize=(12, 2.6))
for ax, (label, i) in zip(axes, dims.items(), strict=True):
    values = x_train[:, i]
    ax.hist(values.numpy(), bins=68, range=(0, 1), density=True, color="C7")
    ax.set_title(f"{label}: {(values < 1 / 17).float().mean():.1%} blank")
    ax.set_xlabel("$x_i$")
axes[0].set_ylabel("density")
plt.show()

# %% [markdown]
# The central pixels have a tall block on $[0, 1/17)$ (blank blocks) next to a broad, lumpy spread of partly
# inked ones. No single Gaussian fits such a shape, even before we condition on the rest of
# the image. Conditioning helps (given its neighbours, a pixel is more predictable), but the conditional
# can still be bimodal: at the edge of a stroke, the next block is either blank or inked. That is the case
# for a **mixture**.
#
# ## Mixture-of-Gaussians conditionals
#
# RNADE computes the same hidden layer as NADE, a running sum of the pixels seen so far,
#
# $$
# h_i = \sigma\!\left(W_{\cdot,<i}\, x_{<i} + c\right) \in (0, 1)^d,
# $$
#
# and reads the $3K$ parameters of a mixture of $K$ Gaussians off $h_i$ with per-dimension output weights,
#
# $$
# p(x_i \mid x_{<i}) = \sum_{k=1}^{K} \pi_{ik}\, \mathcal{N}\!\left(x_i;\, \mu_{ik}, \sigma_{ik}^2\right),
# \qquad
# \begin{aligned}
# \pi_i &= \mathrm{softmax}\!\left(V^{\pi}_i h_i + b^{\pi}_i\right), \\
# \mu_i &= V^{\mu}_i h_i + b^{\mu}_i, \\
# \sigma_i &= \exp\!\left(V^{\sigma}_i h_i + b^{\sigma}_i\right).
# \end{aligned}
# $$
#
# Each output function matches a constraint. The mixing weights must be positive and sum to one: a
# **softmax**. A mean can be any real number: a **linear** map. A standard deviation must be positive: the
# **exponential** of a linear map, so that the network predicts $\log \sigma$, which is unconstrained and
# appears as is in the log-density. The log-likelihood of one conditional is
#
# $$
# \log p(x_i \mid x_{<i}) = \log \sum_{k} \exp\!\Big(\log \pi_{ik} - \tfrac{1}{2} z_{ik}^2 - \log \sigma_{ik}
# - \tfrac{1}{2} \log 2\pi\Big), \qquad z_{ik} = \frac{x_i - \mu_{ik}}{\sigma_{ik}},
# $$
#
# computed with `logsumexp`: a component far from $x_i$ has a log-density of minus several hundred, whose
# exponential underflows to zero in floating point.
#
# **The uniform-weight variant.** The first form of the model in the lecture fixes the weights, $\pi_{ik} = 1/K$:
#
# $$
# p(x_i \mid x_{<i}) = \frac{1}{K} \sum_{k=1}^{K} \mathcal{N}\!\left(x_i;\, \mu_{ik}, \sigma_{ik}^2\right),
# \qquad (\mu_i, \sigma_i) = f(h_i).
# $$
#
# It has $2K$ outputs per dimension instead of $3K$. It can still shift mass between modes, but only in steps
# of $1/K$, by sending several components to the same place. With $K = 1$ both versions reduce to a single
# Gaussian whose mean and width depend on the prefix: that is our baseline.
#
# Here is one mixture conditional written out, checked against `torch.distributions.MixtureSameFamily` on
# random parameters, including a point so far out that the naive formula underflows.


# %%
def mixture_log_density(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """log Σ_k π_k N(x; μ_k, σ_k²) with π = softmax(logits), σ = exp(log_sigma); components on the last axis."""
    log_pi = torch.log_softmax(logits, -1)
    z = (x.unsqueeze(-1) - mu) / log_sigma.exp()
    log_normal = -0.5 * z**2 - log_sigma - 0.5 * math.log(2 * math.pi)
    return torch.logsumexp(log_pi + log_normal, -1)


torch.manual_seed(SEED)
K = 3
logits, mu, log_sigma = torch.randn(5, K), torch.randn(5, K), 0.3 * torch.randn(5, K) - 1
points = torch.tensor([0.1, -0.5, 1.3, 2.0, 40.0])
reference = torch.distributions.MixtureSameFamily(
    torch.distributions.Categorical(logits=logits), torch.distributions.Normal(mu, log_sigma.exp()))
mine = mixture_log_density(points, logits, mu, log_sigma)
naive = torch.log((torch.softmax(logits, -1) * torch.distributions.Normal(mu, log_sigma.exp()).log_prob(
    points.unsqueeze(-1)).exp()).sum(-1))
print("x              :", [f"{v:9.3f}" for v in points.tolist()])
print("logsumexp form :", [f"{v:9.3f}" for v in mine.tolist()])
print("MixtureSameFam.:", [f"{v:9.3f}" for v in reference.log_prob(points).tolist()])
print("naive log(Σ π N):", [f"{v:9.3f}" for v in naive.tolist()])
print(f"max difference to torch.distributions: {(mine - reference.log_prob(points)).abs().max():.1e}")

# %% [markdown]
# The hand-written density agrees with PyTorch's, and the naive sum of probabilities returns $-\infty$ at
# $x = 40$: the logsumexp form is not optional. Next, the model's side. We load the shipped RNADE with $K = 10$
# components and $d = 100$ hidden units, recompute the mixture of one conditional from its weights with the
# formulas above, and compare with what `arlib` computes for all 64 conditionals in one pass
# (`RNADE.mixture(x)` returns $\log \pi$, $\mu$ and $\sigma$ of every conditional).

# %%
names = {"RNADE, K = 10": "rnade-mnist8x8", "RNADE, K = 10, uniform π": "rnadeu-mnist8x8",
         "RNADE, K = 1": "rnade1-mnist8x8"}
histories = {}
if QUICK:
    rnades = {label: pretrained.load(name, "cpu") for label, name in names.items()}
    for label, name in names.items():
        histories[label] = train.History(**pretrained.info(name)["history"])
    print("loaded; trained with", repr(pretrained.info("rnade-mnist8x8")["command"]))
else:
    rnades = {}
    for label, name in names.items():
        meta = pretrained.info(name)
        recipe = meta["recipe"]
        arlib.seed(SEED)
        model = RNADE(**meta["config"])
        histories[label] = train.fit(model, x_train, x_valid, epochs=EPOCHS or recipe["epochs"],
                                     batch_size=recipe["batch_size"], lr=recipe["lr"], patience=recipe["patience"],
                                     seed=SEED, device=device, checkpoint=f"{CHECKPOINTS}/05_{name}.pt")
        rnades[label] = model.cpu().eval()
rnade = rnades["RNADE, K = 10"]
print(rnade)
print(f"{rnade.n_parameters():,} parameters: W {tuple(rnade.W.shape)}, c {tuple(rnade.c.shape)}, "
      f"V {tuple(rnade.V.shape)} (64 × 3K × d), b {tuple(rnade.b.shape)}")

# %%
x = x_test[:1]
i = 27  # row 3, column 3
with torch.no_grad():
    h = torch.sigmoid(rnade.c + rnade.W[:, :i] @ x[0, :i])  # h_i = σ(W_{·,<i} x_<i + c)
    alpha, mu_i, log_sigma_i = (rnade.V[i] @ h + rnade.b[i]).view(3, rnade.K)  # the three linear heads
    by_hand = mixture_log_density(x[0, i], alpha, mu_i, log_sigma_i)
    log_pi, mu_all, sigma_all = rnade.mixture(x)
    per_dim = mixture_log_density(x[0], log_pi[0], mu_all[0], sigma_all[0].log())
print("π by hand :", [round(v, 3) for v in torch.softmax(alpha, -1).tolist()])
print("π (arlib) :", [round(v, 3) for v in log_pi[0, i].exp().tolist()])
print(f"log p(x_{i} | x_<{i}) by hand {by_hand:.4f}, from arlib's mixture {per_dim[i]:.4f}")
print(f"Σ_i log p(x_i | x_<i) = {per_dim.sum():.4f};  rnade.log_prob(x) = {rnade.log_prob(x)[0]:.4f} nats")

# %% [markdown]
# ## Does the mixture pay off? Test NLL
#
# We compare five models of the 64-dimensional test digits, all fitted by maximum likelihood on the
# training digits:
#
# - **independent Gaussians**: one Gaussian per dimension, no dependencies (128 parameters, closed form);
# - a **full-covariance Gaussian**, closed form as well. It is also an autoregressive model: by the Cholesky
#   factorisation each conditional is a Gaussian whose mean is *linear* in $x_{<i}$ and whose variance is
#   *constant*;
# - **RNADE with $K = 1$**: a Gaussian conditional whose mean and width are *non-linear* functions of the prefix;
# - **RNADE with $K = 10$ uniform weights** and **RNADE with $K = 10$** learned weights.
#
# The three RNADEs share the recipe (100 sigmoid hidden units as in the formula above, where Uria et al. used
# rectified linear units, `activation="relu"` in arlib; Adam, early stopping on the validation
# digits, at most 30 epochs, 60 for the uniform weights; see `scripts/train_rnade.py`). Here are their training
# curves, as recorded when the shipped weights were made (on a GPU, as just trained).

# %%
ax = plot.loss_curves(histories, unit="nats per image")
ax.set_ylim(-128, -90)  # the uniform-weight model starts far above the top of the plot
ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
ax.set_title("RNADE training on the 8×8 digits")
plt.show()

# %%
x64 = x_train.double()
mean, cov = x64.mean(0), torch.cov(x64.T, correction=0)
gaussians = {
    "independent Gaussians": (torch.distributions.Normal(mean, cov.diagonal().sqrt()), 2 * 64),
    "full-covariance Gaussian": (torch.distributions.MultivariateNormal(mean, cov), 64 + 64 * 65 // 2),
}
results = {}
for label, (dist, n_params) in gaussians.items():
    log_p = dist.log_prob(x_test.double())
    results[label] = (n_params, -(log_p.sum(1) if log_p.dim() == 2 else log_p).mean().item())
for label, model in reversed(rnades.items()):
    results[label] = (model.n_parameters(), train.evaluate(model, x_test).nll)

print(f"{'model':26s} {'parameters':>10s} {'test NLL':>9s} {'count units':>12s} {'bits/count':>11s}")
for label, (n_params, nll) in results.items():
    print(f"{label:26s} {n_params:10,d} {nll:9.2f} {nll + count_shift:12.2f} {(nll + count_shift) / (64 * math.log(2)):11.3f}")
print(f"(test NLL: nats per image for x in [0, 1)^64; count units add 64 ln 17 = {count_shift:.2f}; "
      f"uniform over 17 levels = {math.log2(17):.3f} bits/count)")

keys = {"independent Gaussians": "indep", "full-covariance Gaussian": "fullgauss", "RNADE, K = 1": "rnade1",
        "RNADE, K = 10, uniform π": "rnadeu", "RNADE, K = 10": "rnade"}
for label, key in keys.items():
    glue(f"{key}_test_nll", round(results[label][1], 2))
glue("rnade_bits_per_count", round((results["RNADE, K = 10"][1] + count_shift) / (64 * math.log(2)), 3))
glue("rnadeu_gap", round(results["RNADE, K = 10, uniform π"][1] - results["RNADE, K = 10"][1], 1))
glue("mixture_gain", round(results["RNADE, K = 1"][1] - results["RNADE, K = 10"][1], 1))
glue("nonlinear_gain", round(results["full-covariance Gaussian"][1] - results["RNADE, K = 1"][1], 1))

# %% [markdown]
# Lower is better. Dependencies matter: the full-covariance Gaussian ({glue:text}`fullgauss_test_nll` nats) beats
# independent Gaussians ({glue:text}`indep_test_nll`). Non-linear conditionals matter: RNADE with a single
# Gaussian per conditional reaches {glue:text}`rnade1_test_nll`, {glue:text}`nonlinear_gain` nats better than the
# linear-Gaussian model. And the mixture matters most: with $K = 10$ components RNADE reaches
# {glue:text}`rnade_test_nll` nats, another {glue:text}`mixture_gain` nats per image, or
# {glue:text}`rnade_bits_per_count` bits per count against 4.09 for a uniform guess. All these numbers are
# negative because they are log-densities on $[0, 1)^{64}$, where a density can be far above one; they compare
# models only on the same data, dequantised and scaled the same way.
#
# The uniform-weight mixture ({glue:text}`rnadeu_test_nll` nats) ends up {glue:text}`rnadeu_gap` nats behind the
# learned weights although it was given twice the epochs, and its training curve shows why it needed them: it
# starts far worse and is still improving when training stops. A component that sits in the wrong place cannot be
# switched off, it keeps its $1/K$ of the mass, and the gradient that moves it is weighted by its responsibility
# for the data, which is tiny exactly because it is in the wrong place. The first dimension shows it best: the
# corner pixel $x_0$ has no prefix, so $p(x_0)$ is one fixed mixture, and every training value lies in the blank bin
# $[0, 1/17)$.

# %%
with torch.no_grad():
    for label in ("RNADE, K = 10", "RNADE, K = 10, uniform π"):
        log_pi, mu, sigma = (p[0, 0] for p in rnades[label].mixture(x_test[:1]))
        order = mu.argsort()
        print(f"{label}, p(x_0):")
        print("   π:", " ".join(f"{v:6.3f}" for v in log_pi[order].exp().tolist()))
        print("   μ:", " ".join(f"{v:6.3f}" for v in mu[order].tolist()))
        print("   σ:", " ".join(f"{v:6.3f}" for v in sigma[order].tolist()))

standard = torch.distributions.Normal(0.0, 1.0)
print(f"\n{'model':26s} {'p(x_0) mass on [0, 1/17)':>25s} {'mass outside [0, 1), all conditionals':>38s}")
for label in ("RNADE, K = 1", "RNADE, K = 10, uniform π", "RNADE, K = 10"):
    with torch.no_grad():
        log_pi, mu, sigma = rnades[label].mixture(x_test)
    weights = log_pi.exp()
    in_blank = (weights * (standard.cdf((1 / 17 - mu) / sigma) - standard.cdf(-mu / sigma))).sum(-1)
    outside = (weights * (standard.cdf(-mu / sigma) + 1 - standard.cdf((1 - mu) / sigma))).sum(-1)
    print(f"{label:26s} {in_blank[0, 0]:25.3f} {outside.mean():38.3f}")
    if label == "RNADE, K = 10, uniform π":
        glue("uniform_blank_mass", round(in_blank[0, 0].item(), 2))
        glue("uniform_stranded", int(((mu[0, 0] < 0) | (mu[0, 0] >= 1 / 17)).sum()))

# %% [markdown]
# With learned weights, the corner pixel's mixture gives all its weight to one narrow component on the blank bin,
# and the components it does not need get weights near zero, wherever they ended up. With uniform weights,
# {glue:text}`uniform_stranded` components are still stranded outside that bin (see their means), each holding its
# $1/K$, so $p(x_0)$ puts only
# {glue:text}`uniform_blank_mass` of its mass on the bin that holds all the data. Even the single Gaussian does
# better there: it only has to shrink onto the bin. The last column is the price of Gaussian tails for data
# that live in $[0, 1)$: some probability always lands outside, and more of it when the conditional is a
# single, necessarily wide, Gaussian.
#
# ## Looking at the conditionals
#
# Where does the gain come from? We take one test digit, fix its true prefix, and plot the conditional density
# of four consecutive pixels of its middle row under RNADE with $K = 10$ (with its components, each weighted by
# $\pi_k$) and with $K = 1$. The dashed line is the digit's actual value.

# %%
def conditionals(model: RNADE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log π, μ, log σ) of every conditional, each (B, 64, K), from the true prefixes in x."""
    with torch.no_grad():
        log_pi, mu, sigma = model.mixture(x)
    return log_pi, mu, sigma.log()


grid = torch.linspace(-0.25, 1.25, GRID)
digit = x_test[3:4]
show_dims = [26, 27, 28, 29]  # row 3, columns 2 to 5
fig, axes = plt.subplots(1, 5, figsize=(16, 2.8), gridspec_kw={"width_ratios": [0.7, 1, 1, 1, 1]})
axes[0].imshow(digit.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
axes[0].add_patch(plt.Rectangle((1.5, 2.5), 4, 1, fill=False, edgecolor="C1", lw=2))
axes[0].set_title("test digit, $x_{26..29}$ boxed", fontsize=9)
axes[0].set_axis_off()
for ax, i in zip(axes[1:], show_dims, strict=True):
    for colour, label in (("C0", "RNADE, K = 10"), ("C3", "RNADE, K = 1")):
        log_pi, mu, log_sigma = (p[0, i] for p in conditionals(rnades[label], digit))
        ax.plot(grid, mixture_log_density(grid, log_pi.expand(GRID, -1), mu, log_sigma).exp(), colour, label=label)
        if label == "RNADE, K = 10":
            components = (log_pi - 0.5 * ((grid[:, None] - mu) / log_sigma.exp()) ** 2 - log_sigma
                          - 0.5 * math.log(2 * math.pi)).exp()
            ax.plot(grid, components, colour, lw=0.6, alpha=0.5)
    ax.axvline(digit[0, i], color="k", ls="--", lw=1)
    ax.set_title(f"$p(x_{{{i}}} \\mid x_{{<{i}}})$")
    ax.set_xlabel(f"$x_{{{i}}}$")
axes[1].set_ylabel("density")
axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# The single Gaussian has to cover the blank bin and the inked values with one bump, so it is wide and puts
# much of its mass where nothing happens (including below 0 and above 1). The mixture places narrow components on
# the blank bin $[0, 1/17)$ and broader ones on the ink, and shifts its weights with the prefix.
#
# One digit is an anecdote. Averaging a conditional over the prefixes of all test digits,
# $\frac{1}{N}\sum_{x \in \mathcal{D}} p(x_i \mid x_{<i})$, estimates the model's view of the **marginal**
# distribution of $x_i$, which we can hold against the histogram of the test values.

# %%
i = 36  # row 4, column 4
averaged = {}
for label in ("RNADE, K = 10", "RNADE, K = 1"):
    log_pi, mu, log_sigma = (p[:, i] for p in conditionals(rnades[label], x_test))  # (N, K) each
    averaged[label] = torch.cat([mixture_log_density(chunk[:, None], log_pi, mu, log_sigma).exp().mean(1)
                                 for chunk in grid.split(25)])  # (GRID,), 25 grid points at a time
fig, axes = plt.subplots(1, 2, figsize=(12, 3))
for ax, ylim in zip(axes, (None, (0, 1.2)), strict=True):
    ax.hist(x_test[:, i].numpy(), bins=68, range=(0, 1), density=True, color="C7", label="test data")
    for colour, (label, density) in zip(("C0", "C3"), averaged.items(), strict=True):
        ax.plot(grid, density, colour, label=label)
    ax.set_xlabel(f"$x_{{{i}}}$")
    ax.set_ylim(ylim)
axes[0].set_ylabel("density")
axes[0].legend()
axes[1].set_title("zoom on the ink values")
plt.show()

# %% [markdown]
# Finally, two neighbouring pixels at once. For each test digit, the pair $(x_{27}, x_{28})$ has the joint
# conditional density $p(x_{27} \mid x_{<27})\, p(x_{28} \mid x_{<27}, x_{27})$. Because the hidden layer is a running
# sum, $a_{28} = a_{27} + W_{\cdot,27}\, x_{27}$, evaluating it on a whole grid of $(x_{27}, x_{28})$ costs one
# matrix product per grid value. Averaging over test prefixes gives the model's two-pixel marginal; next to it,
# the histogram of the test pairs and the same quantity for the full-covariance Gaussian.

# %%
i = 27
side = torch.linspace(0, 1, GRID // 2)  # inside the data's support
prefixes = x_test[:N_PAIRS]


def pair_density(model: RNADE) -> torch.Tensor:
    """(1/N) Σ_x p(x_i = s | x_<i) p(x_{i+1} = t | x_<i, x_i = s) on the grid [s, t], from the weights."""

    def mixture(a: torch.Tensor, j: int) -> tuple[torch.Tensor, ...]:
        """(logits, μ, log σ) of conditional j from pre-activations a: the three linear heads on σ(a)."""
        return (torch.sigmoid(a) @ model.V[j].T + model.b[j]).unflatten(-1, (3, model.K)).unbind(-2)

    with torch.no_grad():
        a_i = model.c + prefixes[:, :i] @ model.W[:, :i].T  # (N, d): the running sum at dimension i
        first = mixture_log_density(side[:, None], *mixture(a_i, i))  # (S, N): log p(x_i = s | x_<i)
        rows = []
        for s_values, log_p_first in zip(side.split(10), first.split(10), strict=True):  # 10 values of x_i at a time
            a_next = a_i + s_values[:, None, None] * model.W[:, i]  # a_{i+1} = a_i + W[:, i] x_i: (10, N, d)
            second = mixture_log_density(side[:, None, None], *(p.unsqueeze(0) for p in mixture(a_next, i + 1)))
            rows.append((log_p_first[:, None] + second.transpose(0, 1)).exp().mean(-1))  # second: (T, 10, N)
        return torch.cat(rows)  # (S, T)


fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
edges = torch.linspace(0, 1, 18)  # one bin per count level
histogram, _ = torch.histogramdd(x_test[:, i:i + 2], bins=[edges, edges], density=True)
panels = {"test data (histogram)": histogram,
          "RNADE, K = 10": pair_density(rnades["RNADE, K = 10"]),
          "RNADE, K = 1": pair_density(rnades["RNADE, K = 1"])}
pair = torch.distributions.MultivariateNormal(mean[i:i + 2].float(), cov[i:i + 2, i:i + 2].float())
s, t = torch.meshgrid(side, side, indexing="ij")
panels["full-covariance Gaussian"] = pair.log_prob(torch.stack([s, t], -1)).exp()
for ax, (title, density) in zip(axes, panels.items(), strict=True):
    ax.imshow(density.T.clamp(min=1e-2).log10(), origin="lower", extent=(0, 1, 0, 1), vmin=-2, vmax=2.5,
              cmap="magma")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(f"$x_{{{i}}}$")
axes[0].set_ylabel(f"$x_{{{i + 1}}}$")
plt.show()

# %% [markdown]
# The colour is $\log_{10}$ of the density (the histogram has one bin per count level). The data pile up in the
# blank corner and along the two blank edges, where one of the two pixels is blank and the other takes any value.
# The $K = 10$ mixture reproduces the corner and the edges as sharp ridges; the single-Gaussian RNADE smears them
# into one broad bump, and the full-covariance Gaussian, one ellipse for all digits, cannot do better than that.
#
# ## Samples
#
# Sampling is sequential, as for every autoregressive model: for $i = 0, \dots, 63$, compute $h_i$ from the
# values drawn so far, pick a component $k$ with probabilities $\pi_i$, and draw
# $x_i = \mu_{ik} + \sigma_{ik}\, \varepsilon$ with $\varepsilon \sim \mathcal{N}(0, 1)$. We clip the samples to
# $[0, 1]$ for display and count how many values fell outside the data's support.

# %%
sample_panels = {"test digits": x_test[:N_SAMPLES]}
for label in ("RNADE, K = 10", "RNADE, K = 1"):
    sample_panels[label] = rnades[label].sample(N_SAMPLES, generator=torch.Generator().manual_seed(SEED))
independent = gaussians["independent Gaussians"][0]
sample_panels["independent Gaussians"] = independent.sample((N_SAMPLES,)).float()
fig, axes = plt.subplots(1, 4, figsize=(16, 0.45 * N_SAMPLES / 10 + 0.9))
for ax, (title, samples) in zip(axes, sample_panels.items(), strict=True):
    plot.show_images(samples.clamp(0, 1), n_cols=10, ax=ax, shape=(8, 8), title=title)
plt.show()
many = {label: rnades[label].sample(2000, generator=torch.Generator().manual_seed(SEED + 1))
        for label in ("RNADE, K = 10", "RNADE, K = 1")}
for label, samples in many.items():
    outside = ((samples < 0) | (samples >= 1)).float().mean().item()
    glue(f"outside_{'k10' if label.endswith('10') else 'k1'}", round(100 * outside, 1))
    print(f"{label}: {outside:.1%} of 2,000 × 64 sampled values fall outside [0, 1)")

# %% [markdown]
# RNADE with $K = 10$ draws digit-like strokes on clean backgrounds. The single-Gaussian RNADE draws strokes too,
# but smudged, with dark blobs where a wide Gaussian overshot and the following pixels followed it, and
# {glue:text}`outside_k1`% of its values fall outside $[0, 1)$ (against {glue:text}`outside_k10`% for $K = 10$): a
# Gaussian has unbounded support, and when the model cannot make it narrow, it spills. Independent Gaussians draw
# the mean image plus noise.
#
# ## RNADE as a precursor of autoregressive flows
#
# With $K = 1$ the sampling step is $x_i = \mu_i(x_{<i}) + \sigma_i(x_{<i})\, z_i$ with $z_i \sim \mathcal{N}(0, 1)$:
# an **invertible** map between the noise $z$ and the data $x$, whose inverse $z_i = (x_i - \mu_i(x_{<i})) / \sigma_i(x_{<i})$
# is computed for all $i$ in one parallel pass. Its Jacobian is triangular, so the change-of-variables
# formula needs only the diagonal:
#
# $$
# \log p(x) = \sum_{i=1}^{n} \log \mathcal{N}(z_i; 0, 1) - \sum_{i=1}^{n} \log \sigma_i(x_{<i}).
# $$
#
# This is exactly an **affine autoregressive flow**. The masked autoregressive flow (MAF; Papamakarios,
# Pavlakou & Murray, 2017) stacks several such Gaussian autoregressive layers, each reading the noise of the
# previous one as its data. The inverse autoregressive flow (IAF; Kingma et al., 2016) makes $\mu_i$ and
# $\sigma_i$ functions of the previous *noise* values $z_{<i}$ instead, which makes sampling one parallel pass
# and density evaluation sequential: the same trade-off, reversed.
# Here is the check on the trained $K = 1$ model.

# %%
single = rnades["RNADE, K = 1"]
with torch.no_grad():
    _, mu, sigma = single.mixture(x_test)
    z = (x_test - mu[..., 0]) / sigma[..., 0]  # the noise that would generate each test digit
    flow_log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1) - sigma[..., 0].log().sum(1)
    direct = single.log_prob(x_test)
print(f"change of variables vs log_prob: max difference {(flow_log_p - direct).abs().max():.1e} nats")
excess_kurtosis = (((z - z.mean()) / z.std()) ** 4).mean().item() - 3
print(f"z over the test set: mean {z.mean():.3f}, std {z.std():.3f}, excess kurtosis {excess_kurtosis:.2f} "
      "(N(0, 1) noise: 0, 1, 0)")
glue("z_std", round(z.std().item(), 2))
glue("z_kurtosis", round(excess_kurtosis, 1))
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.hist(z.flatten().numpy(), bins=120, range=(-6, 6), density=True, color="C7", label="z of the test digits")
z_grid = torch.linspace(-6, 6, GRID)
ax.plot(z_grid, standard.log_prob(z_grid).exp(), "k", label="N(0, 1)")
ax.set_yscale("log")
ax.set_ylim(1e-5, 1)
ax.set_xlabel("$z_i$")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The two computations agree. Maximum likelihood gets the first two moments of the noise right (standard
# deviation {glue:text}`z_std`), but not its shape: the recovered $z$ is skewed, with a light left tail (the data
# stop at 0), a heavy right tail and an excess kurtosis of {glue:text}`z_kurtosis` where a Gaussian has 0. One
# affine step cannot turn spiky, bounded data into Gaussian noise. A mixture conditional fits that shape better,
# but with $K > 1$ the sampling step also picks a component, a discrete choice, so the map from noise to data is
# no longer invertible; flows instead stack several invertible affine layers (or use richer invertible
# transforms of each $x_i$).
#
# ## The costs: choosing K, and scaling up
#
# **K must be tuned.** More components give a more flexible conditional but cost $3K(d + 1)$ output parameters
# per dimension, and past some point the gain flattens or the mixture overfits. A one-dimensional experiment
# shows the shape of the trade-off cheaply: fit a mixture of $K$ Gaussians to the values of one central
# pixel (5,000 training values), with our `mixture_log_density` and Adam, and measure the NLL on the
# 10,000 test values.

# %% tags=["nbval-tolerance"]
i = 36
values_train, values_test = x_train[:N_PIXEL_TRAIN, i], x_test[:, i]
k_results, k_fits = {}, {}
for k in (1, 2, 3, 5, 10, 20):
    params = [torch.zeros(k, requires_grad=True),  # equal weights, means at quantiles of the data, σ = e^-2
              torch.quantile(values_train, torch.linspace(0.05, 0.95, k)).requires_grad_(True),
              torch.full((k,), -2.0, requires_grad=True)]
    optimizer = torch.optim.Adam(params, lr=0.05)
    for _ in range(STEPS):
        loss = -mixture_log_density(values_train, *params).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        k_results[k] = (-mixture_log_density(values_train, *params).mean().item(),
                        -mixture_log_density(values_test, *params).mean().item())
    k_fits[k] = [p.detach() for p in params]  # kept for the explorer below
print(f" K   train NLL   test NLL   (nats per value of pixel {i}; {len(values_train):,} training values)")
for k, (nll_train, nll_test) in k_results.items():
    print(f"{k:2d}   {nll_train:9.4f}   {nll_test:8.4f}")
glue("k1_pixel_nll", round(k_results[1][1], 3))
glue("k20_pixel_nll", round(k_results[20][1], 3))

# %% [markdown]
# Going from one component to a few is a large gain ({glue:text}`k1_pixel_nll` nats down to
# {glue:text}`k20_pixel_nll` with 20), after which each extra component buys less. With $3K - 1$ parameters and
# 5,000 training values this model does not overfit: the gap between the train and test columns does not grow
# with $K$. Inside RNADE each extra component costs $3(d + 1)$ parameters in every dimension and a little more
# computation in every conditional, so $K$, like the number of hidden units $d$, is a hyper-parameter chosen on
# the validation set.
#
# ### Explore: one pixel's density as K grows
#
# Pick $K$ to see the fitted mixture (line) over the histogram of the pixel's test values, with each component
# drawn dashed at its weight. **Try** $K = 1$, then 3, then 20. **Notice** that the values of this central
# pixel are spread almost evenly between 0 and 1, with a small spike near 0: one Gaussian is a bell over that
# box and spills density outside it, where no value can fall. Three components already add the spike and
# square the shoulders; the twenty of $K = 20$ tile the box with many small bumps for a small further gain,
# which is why the NLL column above flattens.

# %%
from arlib.widgets import explore

grid_values = torch.linspace(values_test.min().item() - 0.3, values_test.max().item() + 0.3, 400)


def density_view(components: int):
    """The K-component mixture fitted above, over the test values' histogram."""
    logits_k, mu_k, log_sigma_k = k_fits[components]
    density = mixture_log_density(grid_values, logits_k, mu_k, log_sigma_k).exp()
    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    ax.hist(values_test.numpy(), bins=80, density=True, color="0.8", label="test values")
    for weight, mean, log_sd in zip(torch.softmax(logits_k, 0), mu_k, log_sigma_k, strict=True):
        bump = torch.distributions.Normal(mean, log_sd.exp()).log_prob(grid_values).exp()
        ax.plot(grid_values, weight * bump, "--", lw=0.8, color="C0")
    ax.plot(grid_values, density, color="C3", label=f"mixture, K = {components}")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 30)
    ax.set_xlabel(f"value of pixel {i}")
    ax.legend(fontsize=8)
    ax.set_title(f"test NLL {k_results[components][1]:.3f} nats per value")
    return fig


explore(density_view, components=list(k_fits),
        description="number of mixture components K -> one pixel's fitted density")

# %% [markdown]
#
# **Scaling.** RNADE shares the hidden layer across conditionals like NADE, so computing all $n$ conditionals
# costs $O(nd)$ for the hidden units plus $O(nKd)$ for the outputs, and the output weights $V$ alone hold
# $3Knd$ parameters. Sampling needs $n$ sequential steps. For our 64 dimensions that is cheap; for real-valued
# images it is not:

# %%
d, k = 100, 10
print(f"{'data':26s} {'n':>7s} {'parameters (d = 100, K = 10)':>29s} {'sampling steps':>15s}")
for label, n in (("8×8 digits (this chapter)", 64), ("28×28 grey MNIST", 784), ("64×64 RGB image", 64 * 64 * 3)):
    n_params = d * n + d + n * 3 * k * d + n * 3 * k
    print(f"{label:26s} {n:7,d} {n_params:29,d} {n:15,d}")

# %% [markdown]
# The parameter count grows linearly with the number of dimensions, because every dimension has its own output
# weights, and a single hidden layer that sees all previous pixels through one running sum has no notion of
# locality. The models of the following chapters address exactly these limits: MADE computes all conditionals
# with a masked deep network, and PixelCNN and WaveNet share weights across positions with convolutions. They
# still face this chapter's question of which distribution to put on one value: WaveNet quantises audio and
# uses a softmax, and PixelCNN++ uses a discretised mixture of logistics, a close relative of RNADE's mixture
# of Gaussians.
#
# ## Summary
#
# - For real-valued $x_i$, each conditional must be a density. RNADE keeps NADE's shared hidden layer
#   $h_i = \sigma(W_{\cdot,<i} x_{<i} + c)$ and outputs a mixture of $K$ Gaussians: $\pi_i = \mathrm{softmax}$,
#   $\mu_i$ linear and $\sigma_i = \exp(\cdot)$ of $h_i$; the simpler variant fixes $\pi_{ik} = 1/K$, and pays for
#   it: a component in the wrong place cannot be switched off, so training is slower and the fit worse.
# - Densities are only comparable in the same space. Here: dequantised 8×8 ink counts scaled to $[0, 1)^{64}$, in
#   nats per image; adding $64 \ln 17$ gives an upper bound on the NLL of the discrete counts.
# - On the test digits: independent Gaussians {glue:text}`indep_test_nll`, full-covariance Gaussian
#   {glue:text}`fullgauss_test_nll`, RNADE with one Gaussian {glue:text}`rnade1_test_nll`, with ten uniformly
#   weighted Gaussians {glue:text}`rnadeu_test_nll`, with ten learned-weight Gaussians {glue:text}`rnade_test_nll`
#   nats per image.
# - Pros: flexible, multi-modal continuous conditionals with exact likelihoods and exact sampling; with $K = 1$
#   RNADE is an affine autoregressive flow, the building block of MAF and IAF.
# - Cons: $K$ (and $d$) must be tuned; parameters grow as $3Knd$ and sampling takes $n$ sequential steps, which
#   does not scale to large real-valued images without the weight sharing of later models.
