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
QUICK = not torch.cuda.is_available()  # CPU: small settings. GPU: longer optimisation.
N_TRAIN = 1000                         # training images whose ink counts the models see
STEPS = 400 if QUICK else 2000         # full-batch Adam steps for the mixture of logistics
SWEEP_STEPS = 200 if QUICK else 1000   # Adam steps per mixture in the training-set-size sweep
N_COMPONENTS = 4                       # logistic components in the mixture
N_SAMPLES = 100_000                    # samples drawn to check the samplers

# %% [markdown]
# # 2. Learning: maximum likelihood and KL divergence
#
# Chapter 1 chose the *form* of a model: a product of conditionals $\prod_i p(x_i \mid x_{<i})$. This
# chapter is about how any such model is *learned* from data, and how we score it. We work first with a
# single discrete variable, where everything can be seen at once, and then show why the same recipe
# scales to 784 pixels:
#
# 1. the simplest learner, **counting**, and how to sample from what it learned;
# 2. why counting **memorises** and a model with a few parameters **generalises**;
# 3. the **KL divergence**, the yardstick for "how far is the model from the data";
# 4. why minimising KL is the same as **maximum likelihood**, the training objective of every later chapter;
# 5. the **units** (nats, bits, bits per dimension) in which every later table reports results;
# 6. **teacher forcing**, which makes training an autoregressive model parallel even though sampling is not.

# %%
import math

import matplotlib.pyplot as plt
import torch.nn.functional as F
from scipy import stats

import arlib
from arlib import data, pretrained, train
from arlib.book import glue
from arlib.models import DiscretizedLogisticMixture, Histogram

arlib.seed(SEED)
if QUICK:  # CPU demo: small models, where one thread is fastest and reproducible
    torch.set_num_threads(1)
images_train = data.load("binarized_mnist", "train")
images_test = data.load("binarized_mnist", "test")

N_VALUES = 28 * 28 + 1  # an image has between 0 and 784 ink pixels: k = 785 possible values
ink_train_all = images_train.sum(1).long().unsqueeze(1)  # shape (50000, 1): one discrete variable
ink_test = images_test.sum(1).long().unsqueeze(1)        # shape (10000, 1)
ink_train = ink_train_all[:N_TRAIN]
glue("n_train", N_TRAIN)
glue("k_values", N_VALUES)
print(f"k = {N_VALUES} possible values; training on {len(ink_train):,} images, testing on {len(ink_test):,}")
print(f"ink pixels per image: train range {ink_train.min().item()}..{ink_train.max().item()}, "
      f"mean {ink_train.float().mean():.1f}; test range {ink_test.min().item()}..{ink_test.max().item()}")

# %% [markdown]
# ## A real discrete variable: how much ink is in a digit?
#
# Our running example is one number per image: $x$ = the number of ink pixels in a binarized MNIST digit.
# It can take any of $k = $ {glue:text}`k_values` values ($0, 1, \dots, 784$), and it is real data with a
# real distribution $p_\text{data}(x)$: a thin 1 has little ink, a bold 0 or 8 has a lot. We
# pretend we only have the first {glue:text}`n_train` training images, and we judge every model on all
# 10,000 test images it has never seen.
#
# ## Learning by counting
#
# With one discrete variable the most direct model is a **histogram**: one probability per value,
#
# $$
# p_\theta(x = i) = \frac{\text{count}_i}{N}, \qquad i = 0, \dots, k-1,
# $$
#
# where $\text{count}_i$ is the number of the $N$ training examples equal to $i$. It has $k - 1$ free
# parameters and, as section 4 shows, it is the maximum-likelihood estimate: no other distribution on
# the $k$ values gives the training data a higher probability. Learning is counting, and **inference is a
# look-up**: $p_\theta(x)$ is one entry of the table. `arlib.models.Histogram` does exactly this.
# (API: {py:class}`arlib.models.Histogram`.)

# %%
raw = Histogram(N_VALUES, pseudo_count=0).fit_counts(ink_train)
probs = raw.probs()
n_seen = int((probs > 0).sum())
glue("n_seen", n_seen)
print(f"values seen at least once in training: {n_seen} of {N_VALUES}")
for value in (60, 100, 250, 300):
    print(f"p(x = {value}) = count / N = {int(raw.counts[value])} / {N_TRAIN} = {probs[value]:.4f}")

# %% [markdown]
# ### Sampling by inverse CDF
#
# To sample from any distribution on $\{0, \dots, k-1\}$, stack its probabilities end to end on the unit
# interval. With the cumulative sums $F_i = p_0 + p_1 + \dots + p_i$ (so $F_{k-1} = 1$), value $i$ owns the
# segment $(F_{i-1}, F_i]$, whose length is exactly $p_i$. Draw $u \sim \text{Uniform}(0, 1)$ and return
# the **smallest $i$ with $u \le F_i$**: the chance of landing in $i$'s segment is $p_i$. Below are two
# implementations, a plain loop that reads like the definition, and a vectorised one in which
# `torch.searchsorted` finds the smallest such $i$ for a whole batch of $u$'s by binary search.


# %%
def inverse_cdf_one(probs: torch.Tensor, u: float) -> int:
    """Walk along the cumulative sum until it reaches u."""
    cumulative = 0.0
    for i, p in enumerate(probs.tolist()):
        cumulative += p
        if u <= cumulative:
            return i
    return len(probs) - 1  # guard against rounding: F_{k-1} may be a hair below 1


def inverse_cdf_sample(probs: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n samples at once: cumulative sums, n uniforms, binary search."""
    cdf = torch.cumsum(probs, 0)                             # F_i = p_0 + ... + p_i
    u = torch.rand(n, generator=generator) * cdf[-1]         # scaled so rounding cannot push u past F_{k-1}
    return torch.searchsorted(cdf, u).clamp(max=len(probs) - 1)  # smallest i with u <= F_i


u_check = torch.rand(1000, generator=torch.Generator().manual_seed(SEED), dtype=torch.float64)
looped = [inverse_cdf_one(probs.double(), u) for u in u_check.tolist()]
vectorised = torch.searchsorted(torch.cumsum(probs.double(), 0), u_check).tolist()
print(f"loop and searchsorted agree on {sum(a == b for a, b in zip(looped, vectorised, strict=True))} of {len(u_check)} draws")

# %% [markdown]
# Does the sampler really reproduce the histogram? We draw {glue:text}`n_samples` values and compare their
# empirical frequencies $\hat{p}_i$ with the histogram's probabilities $p_i$ in two ways: the
# **total-variation distance** $\tfrac12 \sum_i |\hat{p}_i - p_i|$ (the largest difference in probability the
# two assign to any set of values), and Pearson's **chi-square test** of the hypothesis "these samples come
# from $p$". When the sampler is right, the test's p-value is uniformly distributed between 0 and 1, so a
# single p-value below 0.05 happens one time in twenty by pure chance. We therefore repeat the experiment with
# {glue:text}`n_repeats` different seeds and look at all the p-values. To see that the test has teeth, we also run it
# on a deliberately broken sampler that returns $i + 1$ instead of $i$. Finally, `Histogram.sample` from arlib,
# fed the same random numbers as ours, must return the very same samples.


# %%
def compare_with(probs: torch.Tensor, samples: torch.Tensor) -> tuple[float, float]:
    """Total-variation distance and chi-square p-value of samples against probs."""
    counts = torch.bincount(samples, minlength=len(probs)).double()
    tv = 0.5 * (counts / counts.sum() - probs.double()).abs().sum().item()
    support = probs > 0
    if counts[~support].sum() > 0:  # a sample where p = 0 is impossible: reject outright
        return tv, 0.0
    expected = probs.double()[support] / probs.double()[support].sum() * counts.sum()
    return tv, float(stats.chisquare(counts[support].numpy(), expected.numpy()).pvalue)


N_REPEATS = 20
glue("n_samples", f"{N_SAMPLES:,}")
glue("n_repeats", N_REPEATS)
samplers = {
    "ours": ("our inverse CDF", lambda g: inverse_cdf_sample(probs, N_SAMPLES, g)),
    "arlib": ("arlib Histogram.sample", lambda g: raw.sample(N_SAMPLES, generator=g)[:, 0]),  # other seeds below
    "broken": ("broken sampler (i + 1)", lambda g: (inverse_cdf_sample(probs, N_SAMPLES, g) + 1).clamp(max=N_VALUES - 1)),
}
print(f"{N_REPEATS} repetitions of {N_SAMPLES:,} samples each")
print(f"{'sampler':24s} {'mean TV':>8s} {'median p':>9s} {'min p':>7s} {'p < 0.05':>9s}")
for offset, (key, (label, draw)) in enumerate(samplers.items()):
    seeds = [SEED + 1000 * offset + r for r in range(N_REPEATS)]  # fresh random numbers for each sampler
    results = torch.tensor([compare_with(probs, draw(torch.Generator().manual_seed(seed))) for seed in seeds],
                           dtype=torch.float64)
    tv, p_values = results[:, 0], results[:, 1]
    print(f"{label:24s} {tv.mean():8.4f} {p_values.median():9.3f} {p_values.min():7.3f} "
          f"{int((p_values < 0.05).sum()):5d}/{N_REPEATS}")
    glue(f"tv_{key}", round(tv.mean().item(), 4))
    glue(f"small_p_{key}", int((p_values < 0.05).sum()))
same_seed = torch.equal(samplers["ours"][1](torch.Generator().manual_seed(SEED)),
                        samplers["arlib"][1](torch.Generator().manual_seed(SEED)))
print(f"arlib's sampler and ours, given the same seed, return identical samples: {same_seed}")

# %% [markdown]
# Our sampler and arlib's are indistinguishable from the histogram: a mean total-variation distance of
# {glue:text}`tv_ours` and {glue:text}`tv_arlib`, and p-values spread over $(0, 1)$ as they should be (a correct
# sampler lands below 0.05 in one run out of twenty on average; here ours did in {glue:text}`small_p_ours` runs
# and arlib's in {glue:text}`small_p_arlib`). The off-by-one sampler is off by {glue:text}`tv_broken` in total variation and is
# rejected every time, with p-values of 0 to three decimals. The remaining distance for the correct samplers is
# pure Monte-Carlo noise, which shrinks like $1/\sqrt{n}$ as more samples are drawn.
#
# ## Histograms memorise
#
# The histogram learned from {glue:text}`n_train` images has seen only {glue:text}`n_seen` of the
# {glue:text}`k_values` values. Every other value, including many perfectly ordinary ink counts, gets
# probability exactly zero. Two standard remedies:
#
# - **Laplace smoothing**: add a *pseudo-count* $\alpha$ to every value,
#   $p(x = i) = (\text{count}_i + \alpha) / (N + k\alpha)$. With $\alpha = 1$ no value is impossible, but each of the
#   $k$ values receives the same extra mass whether it is plausible (100 ink pixels) or absurd (700).
# - A **parameterised model** with a few parameters that ties neighbouring values together. We use a
#   **discretised mixture of logistics** (the output distribution of PixelCNN++ and WaveNet variants):
#   $K$ logistic bumps with means $\mu_c$, scales $s_c$ and weights $\pi_c$, each integrated over the unit bin
#   around every integer,
#
# $$
# p_\theta(x = i) = \sum_{c=1}^{K} \pi_c \left[\sigma\!\left(\frac{i + \frac12 - \mu_c}{s_c}\right)
#   - \sigma\!\left(\frac{i - \frac12 - \mu_c}{s_c}\right)\right],
# $$
#
# with the two outermost bins stretched to $\pm\infty$ so that the $k$ probabilities sum to exactly 1. It has
# $3K$ parameters, however large $k$ is. There is no closed form for its
# maximum-likelihood parameters, so we minimise the mean negative log-likelihood of the training data with
# Adam, on the whole training set at every step (we start the means at evenly spaced quantiles of the data
# and the scales at a fraction of its spread; Adam does the rest).
#
# One shortcut keeps this cheap. Since $x$ takes only $k$ values, the mean NLL of $N$ examples can be
# regrouped by value,
#
# $$
# -\frac{1}{N}\sum_{j=1}^{N} \log p_\theta(x^{(j)}) = -\sum_{i=0}^{k-1} \frac{\text{count}_i}{N} \log p_\theta(i),
# $$
#
# so it depends on the data only through the histogram (the counts are a *sufficient statistic*), and one
# step costs the same for 100 images as for 50,000. We check that both forms agree before training.
# (API: {py:class}`arlib.models.DiscretizedLogisticMixture`.)

# %% tags=["nbval-tolerance"]
smoothed = Histogram(N_VALUES, pseudo_count=1).fit_counts(ink_train)


def fit_mixture(x: torch.Tensor, steps: int, lr: float = 0.05) -> tuple[DiscretizedLogisticMixture, list[float]]:
    """Maximum likelihood for the mixture: full-batch Adam on the mean NLL of x (in its counts form)."""
    model = DiscretizedLogisticMixture(N_VALUES, N_COMPONENTS)
    with torch.no_grad():  # a data-driven start: means at the quantiles, scales from the spread
        levels = (torch.arange(N_COMPONENTS) + 0.5) / N_COMPONENTS
        model.means.copy_(torch.quantile(x[:, 0].float(), levels))
        model.log_scales.fill_(math.log(x.float().std().item() / N_COMPONENTS))
    frequencies = torch.bincount(x[:, 0], minlength=N_VALUES).float() / len(x)  # count_i / N
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = -(frequencies * model.log_probs_table()).sum()  # = −(1/N) Σ_j log p_θ(x^(j)), in nats
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), losses


with torch.no_grad():
    check = DiscretizedLogisticMixture(N_VALUES, N_COMPONENTS)
    frequencies = torch.bincount(ink_train[:, 0], minlength=N_VALUES).float() / N_TRAIN
    per_image = check.nll(ink_train)
    counts_form = -(frequencies * check.log_probs_table()).sum()
    print(f"mean NLL over the {N_TRAIN} images: {per_image:.4f};  counts form: {counts_form:.4f};  "
          f"equal to float precision: {torch.isclose(per_image, counts_form, rtol=1e-5).item()}")
mixture, losses = fit_mixture(ink_train, STEPS)
print(f"mixture: training NLL {losses[0]:.3f} nats at the start, {losses[-1]:.3f} after {STEPS} Adam steps")
glue("mix_params", mixture.n_parameters())
print(f"{mixture.n_parameters()} parameters; means", [round(m, 1) for m in mixture.means.tolist()],
      "scales", [round(s, 1) for s in mixture.log_scales.exp().tolist()])

# %% [markdown]
# Here are the three fitted distributions next to the training data. The right panel has a logarithmic
# vertical axis, which shows what the left one hides: the raw histogram's holes (probability 0, so they fall
# off the plot), and the flat floor the pseudo-counts lay under every one of the 785 values. (The mixture's
# blip at $x = 0$ is its first bin, which collects the whole left tail of the logistics below 0.)

# %%
with torch.no_grad():
    curves = {"raw histogram (= training frequencies)": raw.probs(),
              "smoothed histogram (pseudo-count 1)": smoothed.probs(),
              f"mixture of {N_COMPONENTS} logistics": mixture.probs()}
test_frequencies = torch.bincount(ink_test[:, 0], minlength=N_VALUES).double() / len(ink_test)
shown = torch.arange(0, 400)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
for ax in axes:
    ax.bar(shown, curves["raw histogram (= training frequencies)"][shown], width=1.0, color="0.7",
           label=f"raw histogram (= training frequencies, N = {N_TRAIN})")
    ax.step(shown, curves["smoothed histogram (pseudo-count 1)"][shown], where="mid", color="C0", lw=1,
            label="smoothed histogram (pseudo-count 1)")
    ax.plot(shown, curves[f"mixture of {N_COMPONENTS} logistics"][shown], color="C3", lw=2,
            label=f"mixture of {N_COMPONENTS} logistics")
    ax.set_xlabel("number of ink pixels $x$")
    ax.set_ylabel("$p(x)$")
axes[1].plot(shown, test_frequencies[shown], ".", color="k", ms=2, label="test frequencies (10,000 images)")
axes[1].set_yscale("log")
axes[1].set_ylim(1e-5, 0.1)
axes[0].set_title("linear scale")
axes[1].set_title("log scale")
axes[1].legend(fontsize=7, loc="lower center")
plt.tight_layout()
plt.show()

# %% [markdown]
# Now the scores. We report the mean **negative log-likelihood** (NLL) in nats, $-\frac{1}{N}\sum_j \log
# p_\theta(x^{(j)})$, on the training images and on the test images. Lower is better; section 4 explains why
# this is *the* score.

# %%
models = {"raw histogram": raw, "smoothed histogram": smoothed, "mixture of logistics": mixture}
scores = {}
print(f"{'model':22s} {'parameters':>10s} {'train NLL':>10s} {'test NLL':>10s} {'gap':>8s}")
with torch.no_grad():
    for name, model in models.items():
        n_params = N_VALUES - 1 if isinstance(model, Histogram) else model.n_parameters()
        train_nll = -model.log_prob(ink_train).mean().item()
        test_nll = -model.log_prob(ink_test).mean().item()
        scores[name] = (train_nll, test_nll)
        print(f"{name:22s} {n_params:10d} {train_nll:10.3f} {test_nll:10.3f} {test_nll - train_nll:8.3f}")
    zero_fraction = (raw.log_prob(ink_test) == -math.inf).double().mean().item()
print(f"test images to which the raw histogram gives probability 0: {zero_fraction:.2%}")

glue("raw_train_nll", round(scores["raw histogram"][0], 3))
glue("zero_fraction", f"{zero_fraction:.1%}")
glue("smooth_train_nll", round(scores["smoothed histogram"][0], 3))
glue("smooth_test_nll", round(scores["smoothed histogram"][1], 3))
glue("smooth_gap", round(scores["smoothed histogram"][1] - scores["smoothed histogram"][0], 3))
glue("mix_train_nll", round(scores["mixture of logistics"][0], 3))
glue("mix_test_nll", round(scores["mixture of logistics"][1], 3))
glue("mix_gap", round(scores["mixture of logistics"][1] - scores["mixture of logistics"][0], 3))
unseen_mass = smoothed.probs()[raw.counts == 0].sum().item()
glue("unseen_mass", f"{unseen_mass:.0%}")
print(f"probability the smoothed histogram puts on values never seen in training: {unseen_mass:.1%}")

# %% [markdown]
# The table tells the story of memorisation.
#
# - The **raw histogram** has the best training NLL of all ({glue:text}`raw_train_nll` nats): it *is* the
#   training data. On the test set its NLL is infinite, because {glue:text}`zero_fraction` of the test
#   images have an ink count that never occurred among the {glue:text}`n_train` training images, and
#   $-\log 0 = \infty$. One such image is enough.
# - The **smoothed histogram** is finite everywhere, but its test NLL ({glue:text}`smooth_test_nll`) is
#   {glue:text}`smooth_gap` nats worse than its training NLL: the generalisation gap. Its pseudo-counts
#   put {glue:text}`unseen_mass` of the probability on values never seen in training, spread evenly over
#   hundreds of ink counts that no digit ever has.
# - The **mixture of logistics** has {glue:text}`mix_params` parameters instead of 784. Its training NLL
#   ({glue:text}`mix_train_nll`) is worse than the raw histogram's, because it cannot follow every
#   random wiggle of {glue:text}`n_train` counts, and that is precisely why its test NLL
#   ({glue:text}`mix_test_nll`) is the best of the three, with a gap of only {glue:text}`mix_gap` nats.
#
# How much data would the histogram need? We repeat the comparison for training sets from 100 to all 50,000
# images (the mixture gets fewer Adam steps here to keep the sweep cheap).

# %%
sizes = [100, 300, 1000, 3000, 10000, 50000]
sweep = {"smoothed histogram": ([], []), "mixture of logistics": ([], [])}
for n in sizes:
    subset = ink_train_all[:n]
    histogram = Histogram(N_VALUES, pseudo_count=1).fit_counts(subset)
    mixture_n, _ = fit_mixture(subset, SWEEP_STEPS)
    with torch.no_grad():
        for name, model in (("smoothed histogram", histogram), ("mixture of logistics", mixture_n)):
            sweep[name][0].append(-model.log_prob(subset).mean().item())
            sweep[name][1].append(-model.log_prob(ink_test).mean().item())
print(f"{'N':>6s}  " + "  ".join(f"{name + ' train/test':>34s}" for name in sweep))
for i, n in enumerate(sizes):
    print(f"{n:6d}  " + "  ".join(f"{sweep[name][0][i]:27.3f} / {sweep[name][1][i]:.3f}" for name in sweep))
glue("hist_test_nll_100", round(sweep["smoothed histogram"][1][0], 3))
glue("mix_test_nll_100", round(sweep["mixture of logistics"][1][0], 3))
glue("hist_test_nll_all", round(sweep["smoothed histogram"][1][-1], 3))
glue("mix_test_nll_all", round(sweep["mixture of logistics"][1][-1], 3))
glue("mix_gain_100_to_all", round(sweep["mixture of logistics"][1][0] - sweep["mixture of logistics"][1][-1], 3))

fig, ax = plt.subplots(figsize=(6, 3.5))
for colour, (name, (train_nlls, test_nlls)) in zip(("C0", "C3"), sweep.items(), strict=True):
    ax.plot(sizes, test_nlls, "o-", color=colour, label=f"{name} (test)")
    ax.plot(sizes, train_nlls, "o--", color=colour, alpha=0.6, label=f"{name} (train)")
ax.set_xscale("log")
ax.set_xlabel("training images $N$")
ax.set_ylabel("NLL (nats per image)")
ax.set_title("Ink count: generalisation vs training-set size")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# With 100 training images the smoothed histogram's test NLL is {glue:text}`hist_test_nll_100` nats against
# the mixture's {glue:text}`mix_test_nll_100`. The histogram needs all 50,000 images to come close
# ({glue:text}`hist_test_nll_all` against the mixture's {glue:text}`mix_test_nll_all`), while the mixture gains
# only {glue:text}`mix_gain_100_to_all` nats from all that extra data: with {glue:text}`mix_params` parameters it has little left to
# learn after the first hundred images. And this
# is a *one*-dimensional variable with 785 values. For a 784-pixel image the table would have $2^{784}$
# cells (chapter 1), so counting is hopeless and every model in this book is, like the mixture, a
# parameterised family that shares statistical strength between similar inputs.
#
# ## KL divergence: how far is the model from the data?
#
# To choose between models we need a measure of distance between the data distribution and the model.
# The standard one is the **Kullback–Leibler divergence**,
#
# $$
# \mathrm{KL}(p_\text{data} \,\|\, p_\theta)
# = \mathbb{E}_{x \sim p_\text{data}}\!\left[\log p_\text{data}(x) - \log p_\theta(x)\right]
# = \sum_x p_\text{data}(x) \log \frac{p_\text{data}(x)}{p_\theta(x)}.
# $$
#
# Its key properties:
#
# - $\mathrm{KL}(p \,\|\, q) \ge 0$ for all $p, q$, with equality **if and only if** $p = q$ (Gibbs'
#   inequality, a consequence of Jensen's inequality applied to the concave logarithm).
# - It is **not symmetric**: $\mathrm{KL}(p \,\|\, q) \ne \mathrm{KL}(q \,\|\, p)$ in general, so it is not a
#   distance in the metric sense, and the order of the arguments matters.
# - **Compression.** With logarithms in base 2 it is measured in bits and has a concrete meaning. An ideal
#   code for symbols drawn from $q$ (Huffman or arithmetic coding) spends about $-\log_2 q(x)$ bits on
#   symbol $x$. If the symbols really come from $p$, the expected length is
#   $-\mathbb{E}_{p}[\log_2 q(x)]$ bits, whereas a code built for $p$ itself needs only the entropy
#   $H(p) = -\mathbb{E}_p[\log_2 p(x)]$. The difference is exactly $\mathrm{KL}(p \,\|\, q)$: the **expected
#   number of extra bits per symbol** paid for using the wrong distribution. A better model is literally a
#   better compressor.
#
# Two distributions on three values make all of this concrete.


# %%
def kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL(p || q) in nats for two probability vectors (0 log 0 counts as 0)."""
    terms = torch.where(p > 0, p * (p.log() - q.log()), torch.zeros_like(p))
    return terms.sum().item()


p = torch.tensor([0.70, 0.20, 0.10], dtype=torch.float64)
q = torch.tensor([0.20, 0.30, 0.50], dtype=torch.float64)
print(f"p = {p.tolist()},  q = {q.tolist()}")
print(f"KL(p || q) = {kl(p, q):.4f} nats = {kl(p, q) / math.log(2):.4f} bits")
print(f"KL(q || p) = {kl(q, p):.4f} nats = {kl(q, p) / math.log(2):.4f} bits")
print(f"KL(p || p) = {kl(p, p):.4f},  KL(q || q) = {kl(q, q):.4f}")
glue("kl_pq_bits", round(kl(p, q) / math.log(2), 4))
glue("kl_qp_bits", round(kl(q, p) / math.log(2), 4))

dirichlet = torch.distributions.Dirichlet(torch.ones(4, dtype=torch.float64))
torch.manual_seed(SEED)
pairs = dirichlet.sample((10_000, 2))  # 10,000 random pairs of distributions on 4 values
forward_kl = (pairs[:, 0] * (pairs[:, 0].log() - pairs[:, 1].log())).sum(1)
reverse_kl = (pairs[:, 1] * (pairs[:, 1].log() - pairs[:, 0].log())).sum(1)
print(f"10,000 random pairs on 4 values: smallest KL {forward_kl.min():.2e} (never negative: "
      f"{bool((forward_kl >= 0).all())}); KL(p||q)/KL(q||p) ranges from "
      f"{(forward_kl / reverse_kl).min():.2f} to {(forward_kl / reverse_kl).max():.2f}")

# %% [markdown]
# Coding symbols from $p$ with a code designed for $q$ wastes {glue:text}`kl_pq_bits` bits per symbol; the
# opposite mistake wastes {glue:text}`kl_qp_bits` bits. We can check the compression reading directly:
# draw symbols from $p$ with the inverse-CDF sampler of section 1 and add up the ideal code lengths
# $-\log_2 q(x)$ and $-\log_2 p(x)$.

# %%
symbols = inverse_cdf_sample(p.float(), N_SAMPLES, torch.Generator().manual_seed(SEED))
bits_with_q = -q.log2()[symbols].mean().item()
bits_with_p = -p.log2()[symbols].mean().item()
print(f"{N_SAMPLES:,} symbols from p: {bits_with_p:.4f} bits/symbol with p's code, "
      f"{bits_with_q:.4f} with q's code")
print(f"extra bits per symbol: {bits_with_q - bits_with_p:.4f}  (KL(p || q) = {kl(p, q) / math.log(2):.4f} bits)")

# %% [markdown]
# ### Mass-covering versus mode-seeking
#
# The asymmetry matters most when the model family is too simple for the data. Let $p$ be a bimodal
# distribution on the values $0, \dots, 29$, and let the model $q_{\mu,\sigma}$ be a single discretised
# Gaussian bump ($q(i) \propto e^{-(i-\mu)^2 / 2\sigma^2}$, normalised over the 30 values). We search a grid of
# means and widths for the bump that minimises each direction of the KL:
#
# - $\mathrm{KL}(p \,\|\, q)$ averages $\log p/q$ over $p$: wherever $p$ has mass and $q$ has almost none, the
#   penalty explodes. The minimiser must **cover all the mass**, and ends up wide and centred between the modes.
# - $\mathrm{KL}(q \,\|\, p)$ averages over $q$: it only punishes $q$ for putting mass where $p$ has none.
#   Sitting snugly on **one mode** and ignoring the other is cheap, so the minimiser is **mode-seeking**.

# %%
values = torch.arange(30, dtype=torch.float64)


def bump_log_probs(mean: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """log q(i) of a discretised Gaussian on 0..29 (broadcasts over mean and width)."""
    return torch.log_softmax(-0.5 * ((values - mean) / width) ** 2, dim=-1)


p_bimodal = 0.55 * bump_log_probs(torch.tensor(8.0), torch.tensor(1.5)).exp() \
    + 0.45 * bump_log_probs(torch.tensor(21.0), torch.tensor(2.0)).exp()
means = torch.linspace(0, 29, 146, dtype=torch.float64)
widths = torch.linspace(0.5, 15, 146, dtype=torch.float64)
log_q = bump_log_probs(means[:, None, None], widths[None, :, None])  # (means, widths, 30)
kl_forward = (p_bimodal * (p_bimodal.log() - log_q)).sum(-1)        # KL(p || q) on the grid
kl_reverse = (log_q.exp() * (log_q - p_bimodal.log())).sum(-1)      # KL(q || p) on the grid


def local_minima(grid: torch.Tensor) -> list[tuple[int, int]]:
    """Grid points lower than all 8 of their neighbours."""
    padded = F.pad(grid, (1, 1, 1, 1), value=math.inf)
    rows, cols = grid.shape
    neighbours = torch.stack([padded[1 + di:1 + di + rows, 1 + dj:1 + dj + cols]
                              for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)])
    return [tuple(ij) for ij in (grid < neighbours.min(0).values).nonzero().tolist()]


minima = {"KL(p || q)": local_minima(kl_forward), "KL(q || p)": local_minima(kl_reverse)}
for name, grid in (("KL(p || q)", kl_forward), ("KL(q || p)", kl_reverse)):
    for i, j in sorted(minima[name], key=lambda ij: grid[ij].item()):
        print(f"{name} local minimum: mean {means[i]:5.1f}, width {widths[j]:4.1f}, {name} = {grid[i, j]:.3f} nats")
fits = {name: min(((means[i].item(), widths[j].item(), grid[i, j].item()) for i, j in minima[name]),
                  key=lambda fit: fit[2])
        for name, grid in (("KL(p || q)", kl_forward), ("KL(q || p)", kl_reverse))}
glue("n_forward_minima", len(minima["KL(p || q)"]))
glue("n_reverse_minima", len(minima["KL(q || p)"]))
glue("forward_mean", round(fits["KL(p || q)"][0], 1))
glue("forward_width", round(fits["KL(p || q)"][1], 1))
glue("reverse_mean", round(fits["KL(q || p)"][0], 1))
glue("reverse_width", round(fits["KL(q || p)"][1], 1))
glue("reverse_kl", round(fits["KL(q || p)"][2], 3))

fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), gridspec_kw={"width_ratios": [1.4, 1, 1]}, layout="constrained")
axes[0].bar(values, p_bimodal, width=0.9, color="0.75", label="$p$ (data)")
for (name, (mean, width, _)), colour in zip(fits.items(), ("C0", "C3"), strict=True):
    q_fit = bump_log_probs(torch.tensor(mean), torch.tensor(width)).exp()
    axes[0].plot(values, q_fit, "o-", color=colour, ms=3, label=f"$q$ minimising {name}")
axes[0].set_xlabel("$x$")
axes[0].set_ylabel("probability")
axes[0].legend(fontsize=8)
axes[0].set_title("one bump fitted to two modes")
for ax, name, grid, title in ((axes[1], "KL(p || q)", kl_forward, "KL($p\\,\\|\\,q$): mass-covering"),
                              (axes[2], "KL(q || p)", kl_reverse, "KL($q\\,\\|\\,p$): mode-seeking")):
    contour = ax.contourf(means, widths, grid.T.clamp(0.3, 10).log(), levels=24, cmap="viridis")
    for i, j in minima[name]:
        ax.plot(means[i], widths[j], "o", color="w", mec="k", ms=7)
    ax.plot(fits[name][0], fits[name][1], "*", color="w", mec="k", ms=14)
    ax.set_xlabel("bump mean $\\mu$")
    ax.set_ylabel("bump width $\\sigma$")
    ax.set_title(title)
fig.colorbar(contour, ax=axes[1:], label="log KL (KL clipped to [0.3, 10] nats)")
plt.show()

# %% [markdown]
# Minimising $\mathrm{KL}(p \,\|\, q)$ puts the bump at $\mu = $ {glue:text}`forward_mean` with width
# {glue:text}`forward_width`: it straddles both modes and puts much of its mass in the empty valley between
# them. Minimising $\mathrm{KL}(q \,\|\, p)$ gives $\mu = $ {glue:text}`reverse_mean`, width
# {glue:text}`reverse_width`: a copy of one mode's shape that ignores the other mode entirely, at a cost of only
# {glue:text}`reverse_kl` nats. The landscapes on the right (circles: local minima, star: the best) show why.
# The forward KL has {glue:text}`n_forward_minima` minimum, in the middle. The reverse KL has
# {glue:text}`n_reverse_minima`: one on each mode, where the heavier mode wins, and a much worse one for a wide
# bump in between; a gradient-based fit of the reverse KL would land on whichever mode it started near.
# Maximum likelihood, as we see next, is the **forward** direction, so likelihood-trained models are
# mass-covering: they would rather put some probability on implausible samples than give any real data
# point (almost) none.
#
# ### Explore: move the bump yourself
#
# Slide $q$'s mean and width and read both divergences in the title. **Try** the bump on the left mode with a
# narrow width, then the same mean with a wide one, then a wide bump in the valley. **Notice** that
# $\mathrm{KL}(q\,\|\,p)$ is small whenever the bump sits inside one mode, whatever happens to the other
# mode, while $\mathrm{KL}(p\,\|\,q)$ explodes as soon as either mode is left uncovered; a narrow bump on
# one mode is cheap one way and ruinous the other way.

# %%
from arlib.widgets import explore


def bump_view(mean: float, width: float):
    """p and one bump q, with both directions of the KL."""
    q_bump = bump_log_probs(torch.tensor(mean, dtype=torch.float64),
                            torch.tensor(width, dtype=torch.float64)).exp()
    fig, ax = plt.subplots(figsize=(6.5, 2.4))
    ax.bar(values, p_bimodal, width=0.9, color="0.75", label="$p$ (data)")
    ax.plot(values, q_bump, "o-", color="C1", ms=3, label="$q$ (one bump)")
    ax.set_ylim(0, 0.45)
    ax.set_xlabel("$x$")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"KL(p || q) = {kl(p_bimodal, q_bump):.2f} nats,   "
                 f"KL(q || p) = {kl(q_bump, p_bimodal):.2f} nats", fontsize=10)
    return fig


explore(bump_view, mean=[4.0, 8.0, 11.0, 14.5, 18.0, 21.0, 25.0],
        width=[1.0, 1.5, 2.0, 4.0, 7.0, 10.0],
        description="q's mean and width -> KL(p || q) and KL(q || p)")

# %% [markdown]
#
# ## Minimising KL is maximum likelihood
#
# Split the logarithm of the ratio:
#
# $$
# \mathrm{KL}(p_\text{data} \,\|\, p_\theta)
# = \underbrace{\mathbb{E}_{x \sim p_\text{data}}[\log p_\text{data}(x)]}_{= -H(p_\text{data}),\ \text{independent of } \theta}
#   \;-\; \mathbb{E}_{x \sim p_\text{data}}[\log p_\theta(x)].
# $$
#
# The first term is minus the entropy of the data distribution. It does not depend on $\theta$, so
#
# $$
# \arg\min_\theta \mathrm{KL}(p_\text{data} \,\|\, p_\theta) = \arg\max_\theta \mathbb{E}_{x \sim p_\text{data}}[\log p_\theta(x)] :
# $$
#
# **minimising the KL divergence is the same as maximising the expected log-likelihood.** Three consequences:
#
# 1. **We never know how close to optimal we are.** $H(p_\text{data})$ is unknown (we would need
#    $p_\text{data}$ itself), so the KL itself cannot be computed, only the likelihood term. We can rank models
#    (the entropy cancels in a difference of two KLs), but the mixture's test NLL of {glue:text}`mix_test_nll`
#    nats does not say whether the best achievable value is a hair lower or far lower.
# 2. **The expectation is estimated by an average.** We cannot sum over $p_\text{data}$ either, but we have
#    samples from it: the dataset $\mathcal{D}$. The empirical log-likelihood
#    $\frac{1}{|\mathcal{D}|}\sum_{x \in \mathcal{D}} \log p_\theta(x)$ is a Monte-Carlo estimate of
#    $\mathbb{E}_{p_\text{data}}[\log p_\theta(x)]$, unbiased for any fixed $\theta$ and with an error that shrinks
#    like $1/\sqrt{|\mathcal{D}|}$. Training maximises it on the training set (that is what Adam did
#    above); the test set gives an estimate that is not biased by the fitting. Maximising it is itself a KL
#    minimisation, towards the *empirical* distribution $\hat{p}(i) = \text{count}_i / N$: by the counts form
#    of the NLL, $-\sum_i \hat{p}(i) \log p_\theta(i) = H(\hat{p}) + \mathrm{KL}(\hat{p} \,\|\, p_\theta)$, so
#    a model free to choose any $p_\theta$ sets $p_\theta = \hat{p}$. That is why counting is maximum
#    likelihood, and why the raw histogram has the best training NLL of all.
# 3. **Zero probability on data is punished without bound.** Each data point contributes $-\log p_\theta(x)$,
#    which grows to $\infty$ as $p_\theta(x) \to 0$. This is the infinite test NLL of the raw histogram.
#
# With the toy bimodal $p$ we *do* know the entropy, so we can watch the Monte-Carlo estimate converge and
# check the decomposition.

# %%
mean, width, _ = fits["KL(p || q)"]
log_q_fit = bump_log_probs(torch.tensor(mean), torch.tensor(width))
entropy = -(p_bimodal * p_bimodal.log()).sum().item()
expected_ll = (p_bimodal * log_q_fit).sum().item()
print(f"H(p) = {entropy:.4f},  E_p[log q] = {expected_ll:.4f},  -H(p) - E_p[log q] = {-entropy - expected_ll:.4f}"
      f"  (KL(p || q) computed directly: {kl(p_bimodal, log_q_fit.exp()):.4f}) nats")
sampler = torch.Generator().manual_seed(SEED)
for n in (10, 100, 1_000, 10_000, 100_000):
    dataset = inverse_cdf_sample(p_bimodal.float(), n, sampler)
    estimate = log_q_fit[dataset].mean().item()
    print(f"|D| = {n:7,d}: (1/|D|) Σ log q(x) = {estimate:8.4f}   error {estimate - expected_ll:+.4f}")

# %% [markdown]
# For the ink counts, where $p_\text{data}$ is unknown, the entropy still cancels when we compare two models:
# the difference of their test NLLs estimates the difference of their KL divergences from the data.

# %%
kl_advantage = scores["smoothed histogram"][1] - scores["mixture of logistics"][1]
glue("kl_advantage", round(kl_advantage, 3))
print(f"KL(p_data || smoothed histogram) - KL(p_data || mixture) ≈ {kl_advantage:.3f} nats "
      "(the test-NLL difference; H(p_data) cancels)")

# %% [markdown]
# So the mixture is about {glue:text}`kl_advantage` nats closer to the data distribution than the smoothed
# histogram, even though neither distance can be computed on its own.
#
# Finally, how hard does the likelihood punish a near-zero probability? Mix the raw histogram with a
# little uniform mass, $p_\varepsilon = (1-\varepsilon)\,p_\text{raw} + \varepsilon / k$, and let $\varepsilon \to 0$:

# %%
raw_probs = raw.probs().double()
epsilon_nlls = {}
print(f"{'epsilon':>8s}  test NLL (nats)")
for epsilon in (1e-1, 1e-2, 1e-4, 1e-8, 1e-16, 0.0):
    mixed = (1 - epsilon) * raw_probs + epsilon / N_VALUES
    test_nll = -mixed[ink_test[:, 0]].log().mean().item()
    epsilon_nlls[epsilon] = test_nll
    print(f"{epsilon:8.0e}  {test_nll:10.3f}")
per_factor = (epsilon_nlls[1e-16] - epsilon_nlls[1e-8]) / 2
glue("per_factor", round(per_factor, 3))
glue("per_factor_predicted", round(zero_fraction * math.log(1e4), 3))
print(f"extra NLL per factor 1e-4 in epsilon: {per_factor:.3f} nats; "
      f"fraction in holes × ln(1e4) = {zero_fraction * math.log(1e4):.3f}")

# %% [markdown]
# Once $\varepsilon$ is small, each factor of $10^{-4}$ adds the same {glue:text}`per_factor` nats to the test
# NLL (the fraction of test images in the holes times $\ln 10^4$ = {glue:text}`per_factor_predicted`), forever: the few test images in the histogram's holes
# pay $-\log(\varepsilon/k)$ each, and that term grows without limit. Maximum likelihood therefore forces a
# model to keep some probability on everything that could plausibly occur, which is the mass-covering
# behaviour of the forward KL.
#
# ## Units: nats, bits and bits per dimension
#
# Likelihoods are reported in a handful of units, and converting between them is simple arithmetic:
#
# - **nats** use the natural logarithm (what `log_prob` returns in PyTorch and in arlib);
# - **bits** use $\log_2$: divide nats by $\ln 2 \approx 0.693$;
# - **bits per dimension** divide the bits for one example by its number of dimensions $D$ (784 pixels
#   for MNIST, $32 \times 32 \times 3 = 3072$ sub-pixels for a CIFAR-10 image, one for the ink count):
#
# $$
# \text{bits/dim} = \frac{\text{NLL in nats per example}}{D \ln 2}.
# $$
#
# Bits per dimension make models of differently sized data comparable and have a built-in sanity anchor:
# the uniform distribution over binary pixels costs exactly 1 bit per dimension, so any useful model of
# binarized MNIST must be well below 1. We convert one real number live, the test NLL of chapter 1's
# independent-pixel model:

# %%
bernoulli = pretrained.load("bernoulli-binarized-mnist", "cpu")
result = train.evaluate(bernoulli, images_test)
nats_per_image = result.nll
bits_per_image = nats_per_image / math.log(2)
bits_per_dim = bits_per_image / 784
print(f"independent pixels, test set: {nats_per_image:.2f} nats/image")
print(f"  / ln 2 = {bits_per_image:.2f} bits/image")
print(f"  / 784  = {bits_per_dim:.4f} bits/dim   (arlib's evaluate reports {result.bits_per_dim:.4f})")
mix_bits = scores["mixture of logistics"][1] / math.log(2)
print(f"ink-count mixture: {scores['mixture of logistics'][1]:.3f} nats = {mix_bits:.3f} bits (D = 1); "
      f"a uniform guess over {N_VALUES} values costs log2({N_VALUES}) = {math.log2(N_VALUES):.3f} bits")
glue("bern_nats", round(nats_per_image, 2))
glue("bern_bits", round(bits_per_image, 2))
glue("bern_bpd", round(bits_per_dim, 4))
glue("mix_bits", round(mix_bits, 3))
glue("uniform_bits", round(math.log2(N_VALUES), 3))

# %% [markdown]
# The independent-pixel model costs {glue:text}`bern_nats` nats per image, i.e. {glue:text}`bern_bits` bits:
# by the compression reading of the KL, an ideal coder driven by this model would store a test digit in
# about that many bits, against 784 bits for the raw pixels. Per pixel that is {glue:text}`bern_bpd` bits per
# dimension. Every later table in this book reports test NLL in nats per image and in bits per dimension,
# and a lower number always means a better model (and a better compressor). The ink-count mixture, for
# comparison, needs {glue:text}`mix_bits` bits to encode the ink count of a test digit, against
# {glue:text}`uniform_bits` bits for a code that treats all 785 values as equally likely.
#
# ## Teacher forcing: training is parallel, sampling is sequential
#
# For an autoregressive model the log-likelihood of one example is a sum over its dimensions,
#
# $$
# \log p_\theta(x) = \sum_{i=1}^{n} \log p_\theta(x_i \mid x_{<i}),
# $$
#
# so the training loss is a **sum of $n$ classification losses**, one per dimension (for binary pixels, a
# binary cross-entropy each). Crucially, during training the prefix $x_{<i}$ fed to conditional $i$ is the
# **ground-truth prefix from the data**, not something the model generated. This is called **teacher
# forcing**. Because the whole example is available, all $n$ conditionals can be computed **in one parallel
# pass**, provided that conditional $i$ is prevented from looking at $x_i$ and later values (a mask). Only
# **generation** is sequential: $x_1$ must be sampled before $p(x_2 \mid x_1)$ can be evaluated, so drawing one
# image takes $n$ passes through the model.
#
# A three-pixel model makes this concrete. We take three neighbouring pixels from the middle of every
# binarized MNIST digit and model them with three logistic regressions whose weight matrix is masked to be
# strictly lower-triangular, like the four-pixel example of chapter 1: one matrix product evaluates all three
# conditionals for a whole batch of images.

# %%
pixels = [14 * 28 + 13, 14 * 28 + 14, 14 * 28 + 15]  # row 14, columns 13-15
x3_train = images_train[:10_000, pixels].float()  # 10,000 training images are plenty for 6 parameters
x3_test = images_test[:, pixels].float()


class ThreePixels(torch.nn.Module):
    """p(x1) p(x2 | x1) p(x3 | x1, x2) with logistic conditionals."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(3, 3))
        self.bias = torch.nn.Parameter(torch.zeros(3))
        self.register_buffer("mask", torch.ones(3, 3).tril(-1))  # row i may only use columns j < i

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """All three conditionals at once, each from its (ground-truth) prefix: one matmul."""
        return self.bias + x @ (self.weight * self.mask).T

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        per_pixel = -F.binary_cross_entropy_with_logits(self.logits(x), x, reduction="none")
        return per_pixel.sum(1)  # log p(x) = Σ_i log p(x_i | x_<i)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        x = torch.zeros(n, 3)
        for i in range(3):  # sequential: step i needs the values sampled at steps < i
            p_i = torch.sigmoid(self.logits(x)[:, i])  # column i ignores x_i and later (still 0)
            x[:, i] = torch.bernoulli(p_i, generator=generator)
        return x


three = ThreePixels()
optimizer = torch.optim.Adam(three.parameters(), lr=0.1)
for _ in range(200):  # teacher forcing: one parallel pass over all 10,000 images per step
    loss = -three.log_prob(x3_train).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
with torch.no_grad():
    per_conditional = F.binary_cross_entropy_with_logits(three.logits(x3_train), x3_train, reduction="none").mean(0)
print("training loss per conditional (nats):", ", ".join(f"{v:.4f}" for v in per_conditional.tolist()),
      f"  sum = {per_conditional.sum():.4f} = NLL {-three.log_prob(x3_train).mean():.4f}")

# %% [markdown]
# The training loss is literally the sum of the three per-conditional losses. To see that the single masked
# pass really gives each conditional only its prefix, we recompute the conditionals the slow way, one
# at a time, with everything from position $i$ on zeroed out, and we check that sequential sampling
# reproduces the model's own probabilities for the $2^3 = 8$ possible patterns.

# %%
with torch.no_grad():
    parallel = three.logits(x3_test)
    one_at_a_time = torch.stack([three.logits(x3_test * (torch.arange(3) < i))[:, i] for i in range(3)], dim=1)
    print(f"parallel pass vs one conditional at a time: max difference {(parallel - one_at_a_time).abs().max():.1e}")

    patterns = torch.tensor([[a, b, c] for a in (0.0, 1.0) for b in (0.0, 1.0) for c in (0.0, 1.0)])
    model_probs = three.log_prob(patterns).exp()
    drawn = three.sample(N_SAMPLES, generator=torch.Generator().manual_seed(SEED))
    codes = (drawn * torch.tensor([4.0, 2.0, 1.0])).sum(1).long()  # pattern -> index 0..7
    sample_freq = torch.bincount(codes, minlength=8).double() / N_SAMPLES
    test_codes = (x3_test * torch.tensor([4.0, 2.0, 1.0])).sum(1).long()
    test_freq = torch.bincount(test_codes, minlength=8).double() / len(x3_test)
print("pattern   model p   sampled freq   test-data freq")
for pattern, pm, ps, pt in zip(patterns.long().tolist(), model_probs.tolist(), sample_freq.tolist(),
                               test_freq.tolist(), strict=True):
    print(f"{''.join(map(str, pattern))}      {pm:.4f}      {ps:.4f}         {pt:.4f}")
tv_samples_model = 0.5 * (sample_freq - model_probs.double()).abs().sum().item()
tv_model_test = 0.5 * (test_freq - model_probs.double()).abs().sum().item()
glue("tv_samples_model", round(tv_samples_model, 4))
glue("tv_model_test", round(tv_model_test, 4))
print(f"sum of model probabilities {model_probs.sum():.4f};  TV(samples, model) = {tv_samples_model:.4f},  "
      f"TV(model, test data) = {tv_model_test:.4f}")

# %% [markdown]
# The parallel pass and the one-at-a-time computation agree exactly, the samples drawn by the three-step loop
# match the model's probabilities up to Monte-Carlo noise (total variation {glue:text}`tv_samples_model`), and
# the model is close to the held-out pixel patterns (total variation {glue:text}`tv_model_test`; three logistic
# regressions cannot represent every interaction between the pixels). The same division of labour holds for every model in this book: the training loss of a
# 784-pixel model is one (masked) forward pass and 784 binary cross-entropies, while a sample needs 784
# passes. One caveat comes with teacher forcing: at training time the model only ever sees real prefixes,
# but at generation time it conditions on its own samples, so early mistakes can push it into prefixes it
# was never trained on.
#
# ## Summary
#
# - **Counting** is the maximum-likelihood estimate for one discrete variable; inference is a look-up and
#   sampling is the inverse CDF (smallest $i$ with $u \le F_i$), which we checked against the histogram with
#   a chi-square test. Counting memorises: on the ink count of MNIST digits, the raw histogram gives
#   probability 0 to {glue:text}`zero_fraction` of test images (infinite test NLL), and Laplace smoothing leaves a
#   gap of {glue:text}`smooth_gap` nats, while a {glue:text}`mix_params`-parameter mixture of logistics reaches
#   {glue:text}`mix_test_nll` nats with a gap of {glue:text}`mix_gap`.
# - $\mathrm{KL}(p \,\|\, q) = \mathbb{E}_p[\log p - \log q] \ge 0$, zero only for $p = q$, asymmetric, and in
#   bits it is the expected overhead of coding $p$-data with a $q$-code. $\mathrm{KL}(p\,\|\,q)$ is
#   mass-covering, $\mathrm{KL}(q\,\|\,p)$ mode-seeking.
# - Minimising $\mathrm{KL}(p_\text{data} \,\|\, p_\theta)$ is maximising $\mathbb{E}_{p_\text{data}}[\log p_\theta]$,
#   estimated by the average log-likelihood of the data. The entropy of the data is unknown, so we can rank
#   models but not measure their distance to the optimum; zero probability on data costs infinitely much.
# - Units: nats $\div \ln 2$ = bits; bits per example $\div D$ = bits per dimension. The independent-pixel model
#   scores {glue:text}`bern_nats` nats = {glue:text}`bern_bpd` bits/dim on binarized MNIST.
# - **Teacher forcing**: training evaluates every conditional on the true prefix, all in one parallel
#   pass, as a sum of $n$ classification losses; only sampling is sequential.
