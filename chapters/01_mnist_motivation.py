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
QUICK = not torch.cuda.is_available()  # CPU: shipped weights, small settings. GPU: train from scratch.
EPOCHS = 5 if QUICK else 30            # gradient-descent epochs for the baseline (closed form needs none)
N_SHOW = 40                            # digits per figure
CHECKPOINTS = "checkpoints"             # GPU path: training checkpoints, resumed when the cell is re-run

# %% [markdown]
# # 1. Why autoregressive models? The MNIST motivation
#
# A **generative model** is a probability distribution $p(x)$ that we learn from data. Once we have it,
# it is good for three different jobs:
#
# - **Generation.** Draw new examples $x \sim p(x)$ that look like the data: new digits, new sentences,
#   new sounds.
# - **Density estimation.** Evaluate $p(x)$ for a given $x$. A very small value says "this does not look
#   like anything I was trained on", which is the basis of **anomaly detection** (a scratched scan, a
#   fraudulent transaction, an adversarially perturbed image).
# - **Representation.** A model that has to explain every pixel must discover structure (strokes,
#   digit identity, style) that downstream tasks can reuse.
#
# This book is about one family of generative models, the **autoregressive** ones, which are the only
# family that is good at the first two jobs at once: they give exact likelihoods *and* exact samples.
# We start with the dataset every chapter uses, and with the reason we cannot simply count.
#
# The code uses the book's library, `arlib`. Each of its functions and classes
# is described in the {doc}`API reference <api>`; this first cell calls
# {py:func}`arlib.seed`, {py:func}`arlib.device`, {py:func}`arlib.data.load`
# and {py:func}`arlib.book.glue` (which records a number for the text).

# %%
import math

import matplotlib.pyplot as plt

import arlib
from arlib import data, plot, pretrained, train
from arlib.book import glue

generator = arlib.seed(SEED)
device = arlib.device()
x_train = data.load("binarized_mnist", "train")
x_valid = data.load("binarized_mnist", "valid")
x_test = data.load("binarized_mnist", "test")
print(f"train {tuple(x_train.shape)}, valid {tuple(x_valid.shape)}, test {tuple(x_test.shape)}, dtype {x_train.dtype}")
print(f"fraction of white (ink) pixels in the training set: {x_train.float().mean():.4f}")

# %% [markdown]
# ## Binarized MNIST
#
# Each image has $n = 28 \times 28 = 784$ pixels and each pixel is either 0 (background) or 1 (ink).
# We want a distribution $p(x) = p(x_1, \dots, x_{784})$ over $x \in \{0, 1\}^{784}$ such that a sample
# $x \sim p$ looks like a handwritten digit.
# Here are real examples from the training set
# (drawn by {py:func}`arlib.plot.show_images`):

# %%
plot.show_images(x_train[:N_SHOW], n_cols=10, title="Binarized MNIST: real training digits")
plt.show()

# %% [markdown]
# ### Why we cannot just count
#
# The most direct model would be a table with one probability per possible image. How many rows would
# that table need?

# %%
n_pixels = 28 * 28
n_images_possible = 2**n_pixels  # Python integers are exact
print(f"2^{n_pixels} has {len(str(n_images_possible))} decimal digits: about 10^{n_pixels * math.log10(2):.1f}")
print(f"a table needs 2^{n_pixels} - 1 free parameters; the training set has {len(x_train):,} images")

# %% [markdown]
# About $10^{236}$ possible images, against $5 \times 10^4$ training examples (and roughly $10^{80}$
# atoms in the observable universe). Almost every row of the table would be estimated from zero
# observations. We need a model with far fewer parameters that still assigns a proper probability to
# every one of the $2^{784}$ images.
#
# ## The chain rule: exact for any ordering
#
# Pick an ordering of the variables. For images the usual choice is **raster-scan** order: left to
# right along the top row, then row by row down to the bottom-right pixel. The chain rule of probability
# then factorises the joint distribution *without any approximation*:
#
# $$
# p(x_1, \dots, x_n) = p(x_1)\, p(x_2 \mid x_1)\, p(x_3 \mid x_1, x_2) \cdots p(x_n \mid x_1, \dots, x_{n-1})
# = \prod_{i=1}^{n} p(x_i \mid x_{<i}).
# $$
#
# This is true for *every* ordering, not just raster scan. For time series there is a natural ordering
# (the past causes the future), but images have no natural causal order: predicting the bottom row from
# the top row is no more "correct" than the reverse. Raster scan is a convention, and later chapters
# (MADE, order-agnostic NADE) show that the choice matters in practice, and that models can even be
# trained for many orderings at once.
#
# The factorisation turns one impossible problem (a distribution over $2^{784}$ outcomes) into 784
# ordinary **prediction problems**: predict pixel $i$ from the pixels before it. Each is a binary
# classification, so each conditional is a Bernoulli distribution whose parameter
# $\hat{x}_i = p(x_i = 1 \mid x_{<i})$ comes out of a classifier.
#
# ## Bayes nets versus neural conditionals
#
# The remaining question is how to represent each conditional.
#
# - A **Bayes net** stores each conditional as a **conditional probability table** (CPT) and keeps the
#   tables small by *conditional independence assumptions*: pixel $i$ depends only on a few chosen
#   parents, not on all of $x_{<i}$. A CPT for a binary variable with $k$ binary parents has $2^k$ rows,
#   so the full-history CPT of the last pixel would again have $2^{783}$ rows.
# - An **autoregressive model with neural conditionals** keeps every dependency but assumes a
#   **functional form**: $p(x_i = 1 \mid x_{<i}) = f_i(x_{<i}; \theta_i)$ for a logistic regression, an MLP,
#   a convolutional or recurrent network, or a Transformer. The assumption moves from "which variables
#   matter" to "what shape of function links them". The first pixel has no history, so its conditional
#   is a single number: $p(x_1 = 1) = \alpha_1$.
#
# The following chapters are, in order, more and more expressive (and cleverly shared) choices of $f_i$.
#
# ### A worked example with four pixels
#
# Suppose a model over four binary pixels gives conditional probabilities
# $\hat{x}_1 = p(x_1 = 1)$, $\hat{x}_2 = p(x_2 = 1 \mid x_1)$, $\hat{x}_3 = p(x_3 = 1 \mid x_1, x_2)$ and
# $\hat{x}_4 = p(x_4 = 1 \mid x_1, x_2, x_3)$. For the image $x = (0, 1, 1, 0)$,
#
# $$
# p(x_1 = 0, x_2 = 1, x_3 = 1, x_4 = 0) = (1 - \hat{x}_1)\, \hat{x}_2\, \hat{x}_3\, (1 - \hat{x}_4),
# $$
#
# because a Bernoulli with parameter $\hat{x}$ gives $\hat{x}$ to a 1 and $1 - \hat{x}$ to a 0. Below, four
# tiny logistic regressions play the role of the conditionals. We evaluate the product by hand, then
# enumerate all 16 images to check that the probabilities sum to exactly 1: the chain rule guarantees it
# for any choice of conditionals.

# %%
import itertools

torch.manual_seed(SEED)
weights = torch.randn(4, 4).tril(-1)  # conditional i may look only at pixels j < i
biases = torch.randn(4)


def conditional_probabilities(x: torch.Tensor) -> torch.Tensor:
    """x̂_i = p(x_i = 1 | x_<i) = σ(b_i + Σ_{j<i} w_ij x_j) for every i at once."""
    return torch.sigmoid(biases + x @ weights.T)


def probability(x: torch.Tensor) -> torch.Tensor:
    x_hat = conditional_probabilities(x)
    return torch.prod(torch.where(x == 1, x_hat, 1 - x_hat), dim=-1)


x = torch.tensor([0.0, 1.0, 1.0, 0.0])
x_hat = conditional_probabilities(x)
by_hand = (1 - x_hat[0]) * x_hat[1] * x_hat[2] * (1 - x_hat[3])
print("x̂ =", [round(v, 4) for v in x_hat.tolist()])
print(f"(1 - x̂1)·x̂2·x̂3·(1 - x̂4) = {by_hand:.6f};  probability(x) = {probability(x):.6f}")
all_images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)))
print(f"sum over all {len(all_images)} images: {probability(all_images).sum():.6f}")

# %% [markdown]
# ## How the pixels were made binary, and why reported numbers differ
#
# MNIST pixels are grey levels from 0 to 255. There are three common ways to make them binary, and
# they give *different datasets*:
#
# - **Fixed stochastic binarization** (Salakhutdinov & Murray, 2008; distributed by Larochelle): each
#   pixel was sampled *once* as a Bernoulli with its grey level / 255 as the probability, and the result
#   frozen into files. This is `binarized_mnist`, the standard likelihood benchmark used by NADE, MADE and
#   PixelCNN, and the dataset of this book.
# - **Dynamic binarization**: resample the Bernoulli pixels every time an image is used. This acts as
#   data augmentation and usually gives a *better* test NLL than the fixed version.
# - **Thresholding** at a grey level of 127: deterministic, with cleaner and thicker strokes, and much
#   easier to model.
#
# Likelihoods are only comparable on the same binarization (and the same split). To make the point
# concrete, we binarize the same 10,000 real MNIST test digits in two ways and fit the same simple model
# to each.

# %%
mnist_images, mnist_labels = data.load("mnist", "test")
grey = mnist_images.reshape(-1, 784).float() / 255
thresholded = (grey > 0.5).float()
stochastic = torch.bernoulli(grey, generator=generator)

fig, axes = plt.subplots(1, 3, figsize=(12, 1.8))
plot.show_images(mnist_images[:10], n_cols=10, ax=axes[0], title="grey levels", vmax=255)
plot.show_images(stochastic[:10], n_cols=10, ax=axes[1], title="stochastic (one draw)")
plot.show_images(thresholded[:10], n_cols=10, ax=axes[2], title="thresholded at 0.5")
plt.show()

# %% [markdown]
# ## The floor: independent pixels
#
# The simplest distribution that respects the chain rule ignores the history altogether:
# $p(x_i \mid x_{<i}) = p(x_i)$. Every pixel is an independent Bernoulli,
#
# $$
# p_\theta(x) = \prod_{i=1}^{784} \hat{x}_i^{\,x_i} (1 - \hat{x}_i)^{1 - x_i}, \qquad \hat{x}_i = \sigma(\theta_i).
# $$
#
# It has 784 parameters, and maximum likelihood (chapter 2) sets $\hat{x}_i$ to the fraction of training
# images in which pixel $i$ is ink: the mean image. We define it here in a few lines; `arlib` holds the
# same model, with input checks, sampling and training, as `arlib.models.IndependentBernoulli`.


# %%
class IndependentPixels(torch.nn.Module):
    """A product of 784 independent Bernoullis."""

    def __init__(self, n_dims: int = 784):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(n_dims))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        # log Bernoulli(x | σ(θ)) = x log σ(θ) + (1 − x) log σ(−θ), summed over pixels: nats per image
        x = x.float()
        return (x * torch.nn.functional.logsigmoid(self.logits)
                + (1 - x) * torch.nn.functional.logsigmoid(-self.logits)).sum(-1)

    def sample(self, n: int) -> torch.Tensor:
        return torch.bernoulli(torch.sigmoid(self.logits).expand(n, -1), generator=generator)


mine = IndependentPixels()
with torch.no_grad():  # maximum likelihood in closed form: the (smoothed) mean image
    mine.logits.copy_(torch.logit((x_train.float().sum(0) + 1) / (len(x_train) + 2)))
print(f"test NLL of the hand-written model: {-mine.log_prob(x_test).mean():.2f} nats per image")

# %% [markdown]
# Now the library version. By default (on a CPU) we load the shipped weights, whose sidecar records the
# command that produced them and the metrics measured on the full test split; we then re-measure the
# test NLL here. The same model is also trained by gradient descent with `arlib.train.fit` for a few
# epochs, which must approach the closed-form optimum from above.
# (API: {py:func}`arlib.pretrained.load`, {py:func}`arlib.train.evaluate`,
# {py:func}`arlib.train.fit`, {py:class}`arlib.models.IndependentBernoulli`,
# {py:func}`arlib.plot.loss_curves`.)

# %%
if QUICK:
    model = pretrained.load("bernoulli-binarized-mnist", device)
    print("loaded: trained with", repr(pretrained.info("bernoulli-binarized-mnist")["command"]))
else:
    model = arlib.models.IndependentBernoulli(784).to(device).fit_closed_form(x_train)
result = train.evaluate(model, x_test)
glue("bernoulli_test_nll", round(result.nll, 2))
glue("bernoulli_test_bpd", round(result.bits_per_dim, 4))
print(f"IndependentBernoulli: test NLL {result.nll:.2f} nats per image = {result.bits_per_dim:.4f} bits per dimension")

sgd_model = arlib.models.IndependentBernoulli(784)
history = train.fit(sgd_model, x_train, x_valid, epochs=EPOCHS, batch_size=100, lr=0.05, seed=SEED,
                    checkpoint=None if QUICK else f"{CHECKPOINTS}/01_bernoulli_sgd.pt")
print("validation NLL per epoch:", [round(v, 2) for v in history.valid_nll])
ax = plot.loss_curves({"gradient descent": history})
ax.axhline(train.evaluate(model, x_valid).nll, color="k", lw=1, label="closed-form optimum (valid)")
ax.legend()
plt.show()

# %% [markdown]
# The independent model reaches a test NLL of {glue:text}`bernoulli_test_nll` nats per image
# ({glue:text}`bernoulli_test_bpd` bits per pixel). Its parameters *are* an image: the probability of ink at
# each location. Its samples show what "independent pixels" means: ink is sprinkled where digits usually
# have ink, but no pixel knows what its neighbours did, so there are no strokes.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 2.8), gridspec_kw={"width_ratios": [1, 4]})
axes[0].imshow(torch.sigmoid(model.logits).detach().cpu().reshape(28, 28), cmap="gray_r")
axes[0].set_title("parameters $\\hat{x}_i$")
axes[0].set_axis_off()
plot.show_images(model.sample(40, generator=generator), n_cols=10, ax=axes[1],
                 title="samples from the independent-pixel model")
plt.show()

# %% [markdown]
# How much does the binarization itself change what a model can reach? Stochastic binarization injects
# coin flips: a pixel with grey level $g$ becomes ink with probability $g$, and even a model that somehow
# knew the grey image exactly could not predict those flips. Their entropy,
# $\sum_i H(g_i) = -\sum_i [g_i \log g_i + (1-g_i)\log(1-g_i)]$, is a floor on the NLL of stochastically
# binarized digits that thresholded digits (no flips, entropy 0) do not have. We measure it on the real
# test digits:

# %%
g = grey.clamp(1e-7, 1 - 1e-7)
injected = -(g * g.log() + (1 - g) * (1 - g).log()).sum(1)
glue("binarization_noise_nats", round(injected.mean().item(), 1))
print(f"coin-flip entropy added by stochastic binarization: {injected.mean():.1f} nats per image on average "
      f"(min {injected.min():.1f}, max {injected.max():.1f}); thresholding adds 0")

# %% [markdown]
# Stochastic binarization puts about {glue:text}`binarization_noise_nats` nats of irreducible noise into every
# image; thresholded digits are free of it. A paper reporting NLL on thresholded MNIST is therefore not
# comparable with one using the fixed stochastic binarization, and dynamic binarization (fresh flips every
# epoch) changes the training data again.
#
# ### Explore: the threshold defines the dataset
#
# The explorer below thresholds the same real test digits at the grey level you choose, fits the
# independent-pixel model to the first half of them (maximum likelihood: the smoothed mean image, shown on
# the right) and measures its NLL on the other half. **Try** the two ends of the slider and the middle.
# **Notice** that the digits stay readable over most of the range, yet the NLL of the very same model class
# moves by tens of nats, because a low threshold fattens every stroke into more uncertain pixels and a high one
# thins it to a sure few. A reported NLL describes a model *and* a binarization. In Jupyter or Colab the
# control is live; in the book every frame was rendered in advance.
# {py:func}`arlib.widgets.explore` makes an explorer from any function of
# the controls' values.

# %%
from arlib.widgets import explore

half = len(grey) // 2


def threshold_view(threshold: float):
    """Ten digits thresholded at a grey level, and the independent model fitted to them."""
    x = (grey > threshold).float()
    fitted = arlib.models.IndependentBernoulli(784).fit_closed_form(x[:half])
    nll = -fitted.log_prob(x[half:]).mean().item()
    fig, axes = plt.subplots(1, 2, figsize=(10, 1.9),
                             gridspec_kw={"width_ratios": [6, 1]})
    plot.show_images(x[:10], n_cols=10, ax=axes[0],
                     title=f"threshold {threshold:.1f}: {x.mean():.1%} of pixels are ink")
    axes[1].imshow(torch.sigmoid(fitted.logits).detach().reshape(28, 28),
                   cmap="gray_r")
    axes[1].set_title(f"NLL {nll:.1f} nats")
    axes[1].set_axis_off()
    return fig


explore(threshold_view, threshold=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        description="threshold -> binarized digits and the independent model's NLL")

# %% [markdown]
#
# ## Summary
#
# - A table over $2^{784} \approx 10^{236}$ images is hopeless; the chain rule
#   $p(x) = \prod_i p(x_i \mid x_{<i})$ is exact for any ordering and turns density estimation into a
#   sequence of prediction problems.
# - Autoregressive models replace Bayes-net independence assumptions by a functional form for each
#   conditional; a likelihood is a product of Bernoulli terms, like $(1-\hat{x}_1)\hat{x}_2\hat{x}_3(1-\hat{x}_4)$.
# - Binarization defines the dataset: we use Larochelle's fixed binarization throughout.
# - The independent-pixel model scores {glue:text}`bernoulli_test_nll` nats on the test set and draws
#   no strokes: every model in the following chapters has to beat that floor.
