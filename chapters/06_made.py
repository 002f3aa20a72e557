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
QUICK = not torch.cuda.is_available()  # CPU: shipped MNIST weights, short live demo. GPU: train both from scratch.
EPOCHS = 200                           # GPU only: maximum epochs for the two MNIST models (early stopping ends them)
AE_STEPS = 400                         # full-batch Adam steps for the three-pixel networks
DEMO_TRAIN = 10_000                    # training images for the live demo (100 Adam steps per epoch)
DEMO_EPOCHS = 4 if QUICK else 20       # epochs of the live demo
N_SAMPLES = 40                         # MNIST samples per model in the sample figures
CHECKPOINTS = "checkpoints"             # GPU path: training checkpoints, resumed when the cell is re-run

# %% [markdown]
# # 6. MADE: masked autoencoders for distribution estimation
#
# FVSBN and NADE compute the conditionals $p(x_i \mid x_{<i})$ with one small network per position, tied
# together more or less cleverly. Drawn as a picture, a NADE looks a lot like an **autoencoder**: the
# input $x$ goes in at the bottom, a hidden layer sits in the middle and $n$ outputs $\hat{x}_1, \dots,
# \hat{x}_n$ come out at the top. This chapter starts from that resemblance and asks the question the
# MADE paper (Germain, Gregor, Murray & Larochelle, 2015) answered: *what is the smallest change that
# turns an ordinary autoencoder into a density model?* The answer is a set of binary **masks** on the
# weight matrices. We will
#
# 1. show concretely why a plain autoencoder is **not** a generative model;
# 2. build the masks from **degrees**, draw them for a three-variable network with the lectures' ordering
#    $x_2, x_3, x_1$, and check them against `arlib.models.MADE`;
# 3. see that **one forward pass** yields all $n$ conditionals;
# 4. discuss **order-agnostic and connectivity-agnostic** training, averaging over orderings at test time,
#    and why more masks are not always better;
# 5. collect the **published results**, then measure a MADE on binarized MNIST ourselves: one mask against
#    eight, learning curves and samples.
#
# (API: {py:class}`arlib.models.MADE`.)

# %%
import itertools
import math
from functools import partial
from itertools import pairwise

import matplotlib.pyplot as plt
import torch.nn.functional as F
from torch import nn

import arlib
from arlib import data, plot, pretrained, train
from arlib.book import glue
from arlib.models import MADE

generator = arlib.seed(SEED)
device = arlib.device()
x_train = data.load("binarized_mnist", "train")
x_valid = data.load("binarized_mnist", "valid")
x_test = data.load("binarized_mnist", "test")
print(f"binarized MNIST: train {tuple(x_train.shape)}, valid {tuple(x_valid.shape)}, test {tuple(x_test.shape)}")

# %% [markdown]
# ## Autoencoders are not generative models
#
# An **autoencoder** is a pair of networks trained to reproduce their input:
#
# - an **encoder** $e(\cdot)$ maps $x$ to a hidden representation, e.g. $h = e(x) = \sigma(W x + b)$
#   (or two layers, $\sigma(W^2(W^1 x + b^1) + b^2)$);
# - a **decoder** $d(\cdot)$ maps it back, $\hat{x} = d(h) = \sigma(V h + c)$, such that $d(e(x)) \approx x$.
#
# For binary data the training loss is the binary cross-entropy between the input and its reconstruction,
# and for real-valued data the squared error:
#
# $$
# \min_{W, b, V, c} \sum_{x \in \mathcal{D}} \sum_{i=1}^{n} -x_i \log \hat{x}_i - (1 - x_i) \log (1 - \hat{x}_i)
# \qquad\text{or}\qquad
# \min_{W, b, V, c} \sum_{x \in \mathcal{D}} \sum_{i=1}^{n} (x_i - \hat{x}_i)^2 .
# $$
#
# The binary cross-entropy has exactly the form of the FVSBN and NADE losses, $-\sum_i \log p(x_i \mid \dots)$,
# with $\hat{x}_i$ read as the probability that $x_i = 1$. So why is $\prod_i \hat{x}_i^{x_i}(1-\hat{x}_i)^{1-x_i}$
# not a probability of $x$? Because every $\hat{x}_i$ is computed **from the whole of $x$, including
# $x_i$ itself**. There is no ordering, so the product is not a chain-rule factorisation, and nothing makes
# it sum to one over all possible inputs. The encoder and decoder are usually constrained (a narrow hidden
# layer, noise, a penalty) so that they cannot simply learn the identity, in the hope that $e(x)$ becomes a
# useful compressed representation; but the constraint does not create a distribution either.
#
# We can check this on the smallest interesting case: three neighbouring pixels from the middle of every
# training digit (the same three as in chapter 2), so that all $2^3 = 8$ possible inputs can be enumerated.
# We train two autoencoders with the binary cross-entropy: a **wide** one (8 hidden units, enough to copy)
# and a **narrow** one (a single hidden unit, a bottleneck). For each of the 8 patterns we then compute the
# "probability" the reconstruction would assign if it were a density, and add them up.

# %%
pixels = [14 * 28 + 13, 14 * 28 + 14, 14 * 28 + 15]  # row 14, columns 13-15
x3 = x_train[:10_000, pixels].float()
patterns = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)))  # all 8 inputs, 000 ... 111
codes = (x3 * torch.tensor([4.0, 2.0, 1.0])).sum(1).long()  # pattern -> index 0..7
data_freq = torch.bincount(codes, minlength=8).float() / len(x3)


class Autoencoder(nn.Module):
    """x̂ = d(e(x)) = σ(V σ(W x + b) + c): every output sees every input."""

    def __init__(self, n: int, hidden: int):
        super().__init__()
        self.encoder = nn.Linear(n, hidden)
        self.decoder = nn.Linear(hidden, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # logits of x̂
        return self.decoder(torch.sigmoid(self.encoder(x)))


def bce_fit(network: nn.Module, x: torch.Tensor, steps: int) -> float:
    """Full-batch Adam on the summed binary cross-entropy; returns the final loss (nats per example)."""
    optimizer = torch.optim.Adam(network.parameters(), lr=0.05)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(network(x), x, reduction="none").sum(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def bernoulli_product(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Π_i x̂_i^x_i (1 - x̂_i)^(1 - x_i), with x̂ = σ(logits)."""
    return torch.exp(-F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1))


torch.manual_seed(SEED)
autoencoders = {"wide (8 hidden)": Autoencoder(3, 8), "narrow (1 hidden)": Autoencoder(3, 1)}
scores = {}
for name, autoencoder in autoencoders.items():
    loss = bce_fit(autoencoder, x3, AE_STEPS)
    with torch.no_grad():
        scores[name] = bernoulli_product(autoencoder(patterns), patterns)
    print(f"{name:18s}: reconstruction loss {loss:.4f} nats per example")
print("\npattern  data freq   wide AE 'p'   narrow AE 'p'")
for pattern, freq, wide, narrow in zip(patterns.long().tolist(), data_freq.tolist(),
                                       *scores.values(), strict=True):
    print(f"  {''.join(map(str, pattern))}     {freq:.4f}      {wide:.4f}        {narrow:.4f}")
sums = {name: score.sum().item() for name, score in scores.items()}
print(f"  sum      {data_freq.sum():.4f}      {sums['wide (8 hidden)']:.4f}        {sums['narrow (1 hidden)']:.4f}")
glue("ae_sum_wide", round(sums["wide (8 hidden)"], 2))
glue("ae_sum_narrow", round(sums["narrow (1 hidden)"], 2))

# %% [markdown]
# The wide autoencoder has learned to **copy**: it reconstructs every pattern well, including rare ones, so
# its "probabilities" add up to {glue:text}`ae_sum_wide`, far more than 1. The narrow one cannot copy three
# bits through one unit, and its scores add up to {glue:text}`ae_sum_narrow`: again not 1, and nothing in the
# training objective pushes it there. Neither network defines a distribution. Neither can **generate**
# either: to produce $\hat{x}$ it must be *given* an $x$, which is exactly what we wanted to sample.
#
# ## Masks make an autoencoder autoregressive
#
# To become a density model, the network must correspond to a valid Bayes net, so we need an **ordering**.
# With the ordering $x_1, x_2, x_3$: the output $\hat{x}_1$ may not depend on any input (then generation can
# start with no input at all), $\hat{x}_2$ may depend only on $x_1$, $\hat{x}_3$ only on $x_1, x_2$, and so on.
# Then $\prod_i \hat{x}_i^{x_i}(1-\hat{x}_i)^{1-x_i}$ *is* the chain rule, and sums to one.
#
# MADE enforces this by cutting connections: every weight matrix is multiplied elementwise by a binary mask,
#
# $$
# h^0 = x, \qquad h^l = \mathrm{act}\big((W^l \odot M^{W^l})\, h^{l-1} + b^l\big), \qquad
# \hat{x} = \sigma\big((V \odot M^{V})\, h^L + c\big).
# $$
#
# The masks come from a labelling of the units with **degrees**. Take the ordering of the lectures,
# $x_2, x_3, x_1$ ($n = 3$): the unit that produces $p(x_2)$ must not depend on any input, the one for
# $p(x_3 \mid x_2)$ only on $x_2$, and the one for $p(x_1 \mid x_2, x_3)$ on $x_2$ and $x_3$.
#
# 1. Each **input** $x_i$ gets as degree its position in the ordering: $m(x_2) = 1$, $m(x_3) = 2$, $m(x_1) = 3$.
# 2. Each **hidden unit** gets a random degree $m \in [1, n - 1]$: it may depend on the first $m$ inputs of
#    the ordering, and no others. (Degree $n$ would be useless: no output may see all $n$ inputs.
#    The paper draws the degrees of a later hidden layer from [smallest degree of the previous layer, $n-1$],
#    so that no unit ends up with no inputs at all; for the first hidden layer that is $[1, n-1]$.)
# 3. A weight into a hidden unit of degree $m$ is kept if the unit below has degree $m_\text{prev} \le m$;
#    a weight into the output for $x_i$ is kept if $m_\text{prev} < m(x_i)$, **strictly**.
#
# By induction, a hidden unit of degree $m$ depends only on inputs of degree $\le m$, and output $i$ only on
# hidden units of degree $< m(x_i)$, hence only on inputs that come before $x_i$ in the ordering. Here is the
# whole construction in two small functions:


# %%
def draw_degrees(order: list[int], hidden_sizes: list[int], generator: torch.Generator) -> list[torch.Tensor]:
    """Degrees of the input units (position in the ordering, 1..n) and of every hidden layer (random)."""
    n = len(order)
    m_input = torch.empty(n, dtype=torch.long)
    m_input[torch.tensor(order)] = torch.arange(1, n + 1)  # order[p] is the variable generated (p+1)-th
    degrees = [m_input]
    for size in hidden_sizes:
        low = min(int(degrees[-1].min()), n - 1)  # [1, n-1] for the first hidden layer
        degrees.append(torch.randint(low, n, (size,), generator=generator))
    return degrees


def masks_from_degrees(degrees: list[torch.Tensor]) -> list[torch.Tensor]:
    """One 0/1 mask (out × in) per weight matrix: m_prev <= m into hidden units, m_prev < m(x_i) into output i."""
    masks = [(m_out[:, None] >= m_in[None, :]).float() for m_in, m_out in pairwise(degrees)]
    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())  # the output layer
    return masks


ORDER = [1, 2, 0]  # x2, x3, x1 (0-based indices of the variables, first generated first)
HIDDEN = [4, 4]
degrees = draw_degrees(ORDER, HIDDEN, torch.Generator().manual_seed(SEED))
masks = masks_from_degrees(degrees)
names = ["input", "hidden 1", "hidden 2"]
for name, m in zip(names, degrees, strict=True):
    print(f"degrees of the {name:8s} units: {m.tolist()}")
for name, mask in zip(["M^W1 (hidden 1 × input)", "M^W2 (hidden 2 × hidden 1)", "M^V (output × hidden 2)"],
                      masks, strict=True):
    print(f"{name}:\n{mask.long()}")

# %% [markdown]
# The same masks as pictures: each panel is one mask matrix (rows are the units a weight goes *into*, columns
# the units it comes *from*), labelled by the degrees; a dark cell is a kept weight. Then the network itself,
# with each unit showing its degree: inputs at the bottom, outputs at the top.


# %%
def unit_labels(degrees: list[torch.Tensor]) -> list[list[str]]:
    inputs = [f"$x_{i + 1}$ (m={m})" for i, m in enumerate(degrees[0].tolist())]
    hidden = [[f"m={m}" for m in d.tolist()] for d in degrees[1:]]
    outputs = [f"$\\hat{{x}}_{i + 1}$ (m={m})" for i, m in enumerate(degrees[0].tolist())]
    return [inputs, *hidden, outputs]


def show_masks(degrees: list[torch.Tensor], masks: list[torch.Tensor]) -> None:
    labels = unit_labels(degrees)
    fig, axes = plt.subplots(1, len(masks), figsize=(3.6 * len(masks), 3.2))
    titles = [f"$M^{{W^{layer + 1}}}$" for layer in range(len(masks) - 1)] + ["$M^V$"]
    for layer, (ax, mask) in enumerate(zip(axes, masks, strict=True)):
        ax.imshow(mask, cmap="Blues", vmin=0, vmax=1.3)
        for (r, c), value in zip(itertools.product(*map(range, mask.shape)), mask.flatten().tolist(), strict=True):
            ax.text(c, r, int(value), ha="center", va="center", color="white" if value else "black")
        ax.set_xticks(range(mask.shape[1]), labels[layer], rotation=45, ha="right")
        ax.set_yticks(range(mask.shape[0]), labels[layer + 1])
        ax.set_title(titles[layer])
    fig.tight_layout()


def draw_network(degrees: list[torch.Tensor], masks: list[torch.Tensor], ax) -> None:
    """Units as circles (their degree inside), one row per layer; an edge for every kept weight."""
    sizes = [len(d) for d in degrees] + [len(degrees[0])]
    values = [d.tolist() for d in degrees] + [degrees[0].tolist()]
    xs = [torch.linspace(-(s - 1) / 2, (s - 1) / 2, s).tolist() for s in sizes]
    for layer, mask in enumerate(masks):
        for out, inp in mask.nonzero().tolist():
            ax.plot([xs[layer][inp], xs[layer + 1][out]], [layer, layer + 1], color="0.55", lw=1.2, zorder=1)
    for layer, (x_row, degree_row) in enumerate(zip(xs, values, strict=True)):
        for i, (x, m) in enumerate(zip(x_row, degree_row, strict=True)):
            colour = "C1" if layer in (0, len(sizes) - 1) else "C0"
            ax.scatter([x], [layer], s=650, color=colour, zorder=2)
            ax.text(x, layer, str(m), ha="center", va="center", color="white", fontsize=11, zorder=3)
            if layer == 0:
                ax.text(x, layer - 0.35, f"$x_{i + 1}$", ha="center", va="top")
            if layer == len(sizes) - 1:
                ax.text(x, layer + 0.35, f"$\\hat{{x}}_{i + 1}$", ha="center", va="bottom")
    ax.set_yticks(range(len(sizes)), ["input", *[f"hidden {h}" for h in range(1, len(sizes) - 1)], "output"])
    ax.set_xticks([])
    ax.set_ylim(-0.8, len(sizes) - 0.2)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)


show_masks(degrees, masks)
plt.show()
fig, ax = plt.subplots(figsize=(5, 4.2))
draw_network(degrees, masks, ax)
ax.set_title("MADE for the ordering $x_2, x_3, x_1$ (degrees in the units)")
plt.show()

# %% [markdown]
# Two things are visible in the graph. The output $\hat{x}_2$ (degree 1) has no incoming edge at all: it is a
# bias, $p(x_2 = 1) = \sigma(c_2)$. And the input $x_1$ (degree 3, last in the ordering) has no outgoing edge:
# no conditional may look at the variable generated last.
#
# **Checking the masks.** The number of paths from input $j$ to output $i$ is entry $(i, j)$ of the matrix
# product $M^V M^{W^2} M^{W^1}$ (each product of 0/1 masks counts the kept routes through one more layer).
# The model is autoregressive exactly when this connectivity matrix, with rows and columns rearranged into
# the ordering $x_2, x_3, x_1$, is **strictly lower-triangular**: the conditional at position $p$ sees only
# positions $1, \dots, p-1$. We compute it, and we also build `arlib.models.MADE(3, [4, 4], order=[1, 2, 0])`
# and check that our `masks_from_degrees`, given arlib's degrees, reproduces arlib's masks.

# %%
def connectivity(masks: list[torch.Tensor]) -> torch.Tensor:
    """(n × n) number of paths from input j (column) to output i (row)."""
    paths = masks[0]
    for mask in masks[1:]:
        paths = mask @ paths
    return paths


paths = connectivity(masks)
in_order = paths[ORDER][:, ORDER]  # rows and columns in the ordering x2, x3, x1
print("paths from input j (columns x1, x2, x3) to output i (rows x̂1, x̂2, x̂3):\n", paths.long())
print("the same in the ordering (x2, x3, x1):\n", in_order.long())
print("strictly lower-triangular in the ordering:", torch.equal(in_order, in_order.tril(-1)))

made3 = MADE(3, HIDDEN, order=ORDER, seed=SEED)
ours_from_arlib_degrees = masks_from_degrees(made3.degrees())
print("arlib's ordering:", made3.order().tolist(), "  arlib's degrees:", [d.tolist() for d in made3.degrees()])
print("our masks_from_degrees(arlib's degrees) == arlib's masks():",
      all(torch.equal(a, b) for a, b in zip(ours_from_arlib_degrees, made3.masks(), strict=True)))
print("our own draw gave the same degrees:",
      all(torch.equal(a, b) for a, b in zip(degrees, made3.degrees(), strict=True)))
arlib_paths = connectivity(made3.masks())[ORDER][:, ORDER]
print("arlib's connectivity is strictly lower-triangular in the ordering:",
      torch.equal(arlib_paths, arlib_paths.tril(-1)))
cut = [f"x̂{ORDER[p] + 1} <- x{ORDER[q] + 1}" for p in range(3) for q in range(p) if in_order[p, q] == 0]
print("allowed by the ordering but cut by this draw of degrees:", ", ".join(cut) or "none")

# %% [markdown]
# The rule *allows* a dependency; whether the network can use it depends on the draw of the degrees. If no hidden
# unit of the last layer has degree 1, for instance, the output for $x_3$ cannot see $x_2$ even though the ordering
# permits it (the last printed line lists any such dependency this draw has cut). The model is then still a valid
# distribution, only a less expressive one. With hundreds of hidden units per layer this practically never happens.
#
# ### Explore: redraw the degrees
#
# Choose an ordering and a draw of the hidden degrees (two hidden layers of 2 units, smaller than above so that
# cuts are common). Left: the network with each unit's degree; right: the connectivity matrix, the number of
# paths from input $j$ to output $i$. **Try** several draws for one ordering, then change the ordering.
# **Notice** that the nonzero paths always stay strictly below the diagonal once rows and columns are read in
# the ordering (whatever the draw), that some draws leave an allowed cell at zero (the title lists the cut
# dependencies), and that the first variable of the ordering never has an incoming path.

# %%
from arlib.widgets import explore

ORDERINGS = {"x1, x2, x3": [0, 1, 2], "x2, x3, x1": [1, 2, 0], "x3, x2, x1": [2, 1, 0]}


def degrees_view(ordering: str, draw: int):
    """One draw of hidden degrees: the network and its connectivity."""
    order = ORDERINGS[ordering]
    drawn = draw_degrees(order, [2, 2], torch.Generator().manual_seed(draw))
    drawn_masks = masks_from_degrees(drawn)
    drawn_paths = connectivity(drawn_masks)
    in_order = drawn_paths[order][:, order]
    cuts = [f"x{order[p] + 1}<-x{order[q] + 1}"
            for p in range(3) for q in range(p) if in_order[p, q] == 0]
    fig, (ax_net, ax_paths) = plt.subplots(
        1, 2, figsize=(8, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    draw_network(drawn, drawn_masks, ax_net)
    ax_net.set_title(f"ordering {ordering}; cut: {', '.join(cuts) or 'none'}")
    ax_paths.imshow(drawn_paths, cmap="Blues", vmin=0, vmax=6)
    for (r, c), count in zip(itertools.product(range(3), range(3)),
                             drawn_paths.flatten().tolist(), strict=True):
        ax_paths.text(c, r, int(count), ha="center", va="center")
    ax_paths.set_xticks(range(3), ["$x_1$", "$x_2$", "$x_3$"])
    ax_paths.set_yticks(range(3), ["$\\hat{x}_1$", "$\\hat{x}_2$", "$\\hat{x}_3$"])
    ax_paths.set_title("paths input -> output")
    fig.tight_layout()
    return fig


explore(degrees_view, ordering=list(ORDERINGS), draw=range(6),
        description="ordering and a draw of degrees -> masks and connectivity")

# %% [markdown]
#
# Now the payoff. We take the wide autoencoder from above (3 inputs, 8 sigmoid hidden units, 3 outputs), give it
# masks built by the same two functions for the ordering $x_2, x_3, x_1$, and train it on the same three pixels
# with the same loss. Its outputs are now the conditionals $p(x_2)$, $p(x_3 \mid x_2)$ and
# $p(x_1 \mid x_2, x_3)$, so the product over the three Bernoulli terms is a proper probability, and we can
# **sample** in the ordering: $x_2$ first from the bias alone, then $x_3$, then $x_1$.


# %%
class MaskedAutoencoder(Autoencoder):
    """The wide autoencoder again, with its two weight matrices multiplied elementwise by masks."""

    def __init__(self, masks: list[torch.Tensor]):
        super().__init__(n=masks[0].shape[1], hidden=masks[0].shape[0])
        self.masks = masks

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # logits of p(x_i = 1 | the x before x_i in the ordering)
        h = torch.sigmoid(F.linear(x, self.encoder.weight * self.masks[0], self.encoder.bias))
        return F.linear(h, self.decoder.weight * self.masks[1], self.decoder.bias)

    @torch.no_grad()
    def sample(self, n: int, order: list[int], generator: torch.Generator) -> torch.Tensor:
        x = torch.zeros(n, len(order))
        for i in order:  # one variable at a time, each from the conditionals of the ones already drawn
            x[:, i] = torch.bernoulli(torch.sigmoid(self(x)[:, i]), generator=generator)
        return x


ae_masks = masks_from_degrees(draw_degrees(ORDER, [8], torch.Generator().manual_seed(SEED)))  # 3 -> 8 -> 3
ae_paths = connectivity(ae_masks)[ORDER][:, ORDER]
print("paths in the ordering (x2, x3, x1):", ae_paths.long().tolist(),
      " strictly lower-triangular:", torch.equal(ae_paths, ae_paths.tril(-1)))
torch.manual_seed(SEED)
masked = MaskedAutoencoder(ae_masks)
masked_loss = bce_fit(masked, x3, AE_STEPS)
with torch.no_grad():
    masked_p = bernoulli_product(masked(patterns), patterns)
drawn = masked.sample(100_000, ORDER, torch.Generator().manual_seed(SEED))
sample_freq = torch.bincount((drawn * torch.tensor([4.0, 2.0, 1.0])).sum(1).long(), minlength=8).float() / len(drawn)
print(f"masked autoencoder: loss {masked_loss:.4f} nats per example (now a true NLL)")
print("pattern  data freq   masked p(x)   freq in 100,000 samples")
for pattern, freq, p, s in zip(patterns.long().tolist(), data_freq.tolist(), masked_p.tolist(),
                               sample_freq.tolist(), strict=True):
    print(f"  {''.join(map(str, pattern))}     {freq:.4f}      {p:.4f}        {s:.4f}")
print(f"  sum      {data_freq.sum():.4f}      {masked_p.sum():.4f}")
glue("masked_sum", round(masked_p.sum().item(), 4))

# %% [markdown]
# Same architecture, same loss, same data: with the masks the eight probabilities add up to
# {glue:text}`masked_sum`, and the samples drawn in the ordering reproduce them. They also match the frequencies in
# the data: with no dependency cut, three conditionals can represent any distribution on three bits, and maximum
# likelihood recovers the empirical one. The masks are the whole difference between a reconstruction network and a
# generative model. (Without the bottleneck there is no representation-learning story here: MADE is used
# for its density, not for its hidden features.)
#
# ## One forward pass gives all $n$ conditionals
#
# NADE computes one hidden vector $h_i$ for every conditional, $n$ of them per example (cheap thanks to weight
# tying, but $n$ different states). MADE computes **one** hidden vector per layer, shared by all conditionals:
# a single pass through an ordinary MLP, i.e. a few dense matrix products, which is what GPUs do best. The
# masks guarantee that the shared pass does not leak information.
#
# A direct way to see this is the **Jacobian** $\partial\, \mathrm{logit}_i / \partial x_j$ of a MADE: how
# much output $i$ moves when input $j$ changes. We build a small (untrained) MADE over $n = 8$ variables with two
# hidden layers and a random ordering, differentiate its outputs with autograd at 64 random binary inputs, and
# show the mean absolute Jacobian twice: in the variables' own index order, and with rows and columns rearranged
# into the model's ordering.

# %%
small = MADE(8, [32, 32], order="random", seed=SEED)
small_order = small.order().tolist()
x_points = torch.bernoulli(torch.full((64, 8), 0.5), generator=generator)
jacobians = torch.stack([torch.autograd.functional.jacobian(lambda x: small.logits(x[None])[0], x) for x in x_points])
jacobian = jacobians.abs().mean(0)  # (output i, input j)
allowed = connectivity(small.masks()) > 0
print("ordering (0-based variable indices, first generated first):", small_order)
print("Jacobians non-zero only where the masks leave a path:", bool(((jacobians != 0) <= allowed).all()))
jacobian_in_order = jacobian[small_order][:, small_order]
print("mean |Jacobian| strictly lower-triangular in the ordering:",
      torch.equal(jacobian_in_order, jacobian_in_order.tril(-1)))

fig, axes = plt.subplots(1, 2, figsize=(9, 4))
panels = [(jacobian, range(8), "variables in index order"),
          (jacobian_in_order, small_order, "rows and columns in the ordering")]
for ax, (matrix, labels, title) in zip(axes, panels, strict=True):
    ax.imshow(matrix, cmap="Greys")
    ax.plot([-0.5, 7.5], [-0.5, 7.5], color="C3", lw=0.8)  # the diagonal
    ticks = [f"$x_{i + 1}$" for i in labels]
    ax.set_xticks(range(8), ticks)
    ax.set_yticks(range(8), [f"$\\hat{{x}}_{i + 1}$" for i in labels])
    ax.set_xlabel("input $j$")
    ax.set_title(title)
axes[0].set_ylabel("output $i$")
fig.suptitle("mean $|\\partial\\, \\mathrm{logit}_i / \\partial x_j|$ of a small MADE over 64 inputs")
fig.tight_layout()
plt.show()

# %% [markdown]
# In index order the dependencies look scattered; in the model's ordering they all lie strictly below the
# diagonal. The diagonal itself is empty: no output sees its own input, which is precisely what the plain
# autoencoder got wrong. (At a single input some allowed entries can be exactly zero, when a path runs through
# inactive ReLU units; that is why we average over inputs.)
#
# The same fact, tested the slow way: compute the conditional of position $p$ with every input from position $p$
# on **zeroed out** (as an $n$-pass method would, feeding each conditional only its prefix), and compare with the
# single pass over the complete input.

# %%
x_batch = torch.bernoulli(torch.full((1000, 8), 0.5), generator=generator)
with torch.no_grad():
    one_pass = small.logits(x_batch)  # all 8 conditionals, one pass
    position = torch.empty(8, dtype=torch.long)
    position[small.order()] = torch.arange(8)
    n_passes = torch.stack([small.logits(x_batch * (position < p))[:, small_order[p]] for p in range(8)], dim=1)
print("one pass vs 8 prefix-only passes, largest difference:",
      f"{(one_pass[:, small_order] - n_passes).abs().max():.1e}")

# %% [markdown]
# Identical, so the one pass is not an approximation. Sampling, on the other hand, stays sequential for MADE as
# for every autoregressive model: $x_{o_1}$ must be drawn before $p(x_{o_2} \mid x_{o_1})$ can be evaluated, so a
# sample takes $n$ passes (`MADE.sample` runs them in the ordering).
#
# ## Orderings, connectivity and ensembles
#
# Nothing in the construction prefers one ordering, and nothing prefers one draw of hidden degrees. MADE
# exploits both:
#
# - **Order-agnostic training**: before each minibatch, pick a (new) ordering, rebuild the masks, and take the
#   gradient step for that ordering. One set of weights learns to be a good density estimator for many
#   orderings at once, as in the order-agnostic DeepNADE of chapter 4.
# - **Connectivity-agnostic training**: even with a fixed ordering, redraw the hidden degrees before each
#   minibatch. Each draw is a different sub-network (a different set of cut connections), a little like
#   dropout with a structured pattern.
#
# In practice one uses a fixed pool of $K$ mask sets (the "32 masks" in the MNIST table below), so that exactly
# these $K$ models can be averaged at test time. In arlib, `MADE(784, [500], n_masks=K, order="random")` holds $K$ mask sets
# (each with its own ordering and its own degrees) and moves to the next one after every training step;
# `order=None` with `n_masks > 1` gives connectivity-agnostic training in one fixed ordering.
#
# **At test time** the $K$ mask sets are $K$ different autoregressive models sharing their weights. Each gives
# an exact $p_k(x)$, and so does their average,
#
# $$
# p_\text{ens}(x) = \frac{1}{K} \sum_{k=1}^{K} p_k(x),
# $$
#
# a mixture, computed by `MADE.log_prob_ensemble` as $\operatorname{logsumexp}_k \log p_k(x) - \log K$. Since the
# logarithm is concave, $\log \frac1K \sum_k p_k(x) \ge \frac1K \sum_k \log p_k(x)$ for every $x$ (Jensen): the
# ensemble's NLL is never worse than the average NLL of its members. It is also easy to sample from: pick $k$
# uniformly at random, then sample in ordering $k$.
#
# **Too many masks may not help.** The weights are shared, and the capacity of one hidden layer is split between
# all the orderings and connectivities it must serve; each mask set also receives only $1/K$ of the gradient
# steps. The published numbers show both faces: on DNA, training with mask sampling improved the test NLL of MADE
# from 83.63 to 79.66 nats, while on Connect4 it changed nothing (11.90 and 11.90) and on Adult it came out
# marginally worse (13.12 without, 13.13 with), see the table below. The lectures sum it up as "too many masks
# may not be good": the number of masks is a hyperparameter to be chosen on validation data.
#
# **MASDE (remark).** When the structure of the data is known, e.g. a Markov random field in which each
# conditional needs only a subset of the earlier variables, $p(x_i \mid x_{<i}) = p(x_i \mid x_{B_i})$ with
# $B_i \subseteq \{1, \dots, i-1\}$, the masks need not allow every earlier variable. MASDE (Khajenezhad, Madani &
# Beigy, 2021) builds the masks by a labelling process that follows the graph, so that output $i$ is connected
# only to $x_{B_i}$; with fewer dependencies to learn it needs smaller training sets than its unstructured
# counterparts.
#
# ## Published results
#
# These are **literature values**, copied from the papers as shown in the lectures, not measured here. Test NLL
# in nats per example (lower is better) on three binary UCI datasets, from Germain et al. (2015):
#
# | model | Adult | Connect4 | DNA |
# | --- | ---: | ---: | ---: |
# | mixture of Bernoullis | 20.44 | 23.41 | 98.19 |
# | RBM | 16.26 | 22.66 | 96.74 |
# | FVSBN | 13.17 | 12.39 | 83.64 |
# | NADE (fixed order) | 13.19 | 11.99 | 84.81 |
# | EoNADE, 1 hidden layer (16 orderings) | 13.19 | 12.58 | 82.31 |
# | DARN | 13.19 | 11.91 | 81.04 |
# | MADE | 13.12 | 11.90 | 83.63 |
# | MADE, mask sampling | 13.13 | 11.90 | 79.66 |
#
# And on binarized MNIST (test NLL in nats per image; as tabulated by van den Oord et al., 2016, from the
# original papers; "≈" marks models whose likelihood can only be estimated):
#
# | model | test NLL |
# | --- | ---: |
# | NADE, 1 hidden layer | 88.33 |
# | EoNADE, 2 hidden layers (128 orderings) | 85.10 |
# | EoNADE-5, 2 hidden layers (128 orderings) | 84.68 |
# | DARN, 1 hidden layer | ≈ 84.13 |
# | MADE, 2 hidden layers (32 masks) | 86.64 |
# | PixelCNN | 81.30 |
# | Diagonal BiLSTM, 7 layers (PixelRNN) | 79.20 |
#
# MADE is competitive with the other tractable models of its time (NADE, EoNADE) and, being a single MLP pass,
# much faster to evaluate; the convolutional and recurrent models of chapter 8 are better still.
#
# ## MADE on binarized MNIST
#
# We now look at two MADEs with the same architecture, 784 inputs, **one hidden layer of 500 ReLU units** and
# 784 Bernoulli outputs, trained by maximum likelihood with Adam and early stopping on the validation set:
#
# - **one mask** with one fixed random ordering (`made-binarized-mnist`). A random ordering suits MNIST better
#   than raster scan: the first rows of every digit are blank, so in raster order every hidden unit of low degree
#   would see nothing but background;
# - **eight masks**, each with its own random ordering and hidden degrees (`made-8masks-binarized-mnist`),
#   trained order- and connectivity-agnostically.
#
# On a CPU we load the shipped weights (their sidecars hold the training command, the test metrics measured
# when they were saved, and the learning curves); on a GPU the chapter trains both from scratch. Either way we
# measure the test NLL here, on all 10,000 test images.

# %%
NAMES = {"1 mask": "made-binarized-mnist", "8 masks": "made-8masks-binarized-mnist"}
if QUICK:
    made = {label: pretrained.load(name, device) for label, name in NAMES.items()}
    histories = {label: train.History(**pretrained.info(name)["history"]) for label, name in NAMES.items()}
    for label, name in NAMES.items():
        meta = pretrained.info(name)
        print(f"{label}: {meta['command']!r}, {meta['epochs_run']} epochs, {meta['n_parameters']:,} parameters")
else:
    made, histories = {}, {}
    for label, (n_masks, order, patience) in {"1 mask": (1, "random", 10), "8 masks": (8, "random", 15)}.items():
        arlib.seed(SEED)
        made[label] = MADE(784, [500], n_masks=n_masks, order=order, seed=SEED).to(device)
        histories[label] = train.fit(made[label], x_train, x_valid, epochs=EPOCHS, batch_size=100, lr=3e-3,
                                     patience=patience, weight_decay=1e-4, seed=SEED,  # the shipped recipe
                                     checkpoint=f"{CHECKPOINTS}/06_made_{n_masks}masks.pt")
glue("made_n_parameters", made["1 mask"].n_parameters())

# %% [markdown]
# Counting only the weights that at least one mask keeps, the one-mask MADE has {glue:text}`made_n_parameters`
# parameters. For each of the eight mask sets of the second model we compute the exact log-likelihood of every
# test image, then the ensemble of the first $K$ mask sets for $K = 1, \dots, 8$.
# {py:func}`arlib.train.log_probs` scores a test set in batches.

# %%
def log_probs_per_mask(model: MADE, x: torch.Tensor) -> torch.Tensor:
    """(K, B): log p_k(x) in nats under every mask set k, batch by batch."""
    return torch.stack([train.log_probs(model, x, score=partial(model.log_prob, mask_index=k))
                        for k in range(model.n_masks)])


def ensemble_nll_of(log_p: torch.Tensor) -> float:
    """Mean NLL of the mixture (1/K) Σ_k p_k(x)."""
    return -(torch.logsumexp(log_p, 0) - math.log(len(log_p))).mean().item()


made1_nll = train.evaluate(made["1 mask"], x_test)
made8 = made["8 masks"]
log_p = log_probs_per_mask(made8, x_test)
per_mask_nll = -log_p.mean(1)
ensemble_nll = [ensemble_nll_of(log_p[:k]) for k in range(1, made8.n_masks + 1)]
with torch.no_grad():
    library_ensemble = made8.log_prob_ensemble(x_test[:1000]).double().cpu()
print("MADE.log_prob_ensemble agrees with logsumexp over the per-mask log-probabilities:",
      torch.allclose(library_ensemble, torch.logsumexp(log_p[:, :1000], 0) - math.log(made8.n_masks), atol=1e-3))
bernoulli_nll = train.evaluate(pretrained.load("bernoulli-binarized-mnist", device), x_test).nll

print("per-mask test NLL of the 8-mask model:", ", ".join(f"{v:.2f}" for v in per_mask_nll.tolist()))
print("ensemble of the first K mask sets:   ", ", ".join(f"K={k}: {v:.2f}" for k, v in enumerate(ensemble_nll, 1)))
glue("made_test_nll", round(made1_nll.nll, 2))
glue("made_test_bpd", round(made1_nll.bits_per_dim, 4))
glue("made8_mean_nll", round(per_mask_nll.mean().item(), 2))
glue("made8_best_nll", round(per_mask_nll.min().item(), 2))
glue("made8_worst_nll", round(per_mask_nll.max().item(), 2))
glue("made8_ensemble_nll", round(ensemble_nll[-1], 2))
glue("ensemble_gain", round(per_mask_nll.mean().item() - ensemble_nll[-1], 2))
glue("made_vs_bernoulli", round(bernoulli_nll - made1_nll.nll, 1))

# %% [markdown]
# Measured and published numbers side by side (the published MADE used two hidden layers and 32 masks, not one
# hidden layer and 8 masks, so it is not the same configuration as ours):

# %%
bits = 784 * math.log(2)
rows = [
    ("independent pixels (chapter 1)", "measured", bernoulli_nll),
    ("MADE 1x500, 1 mask, random order", "measured", made1_nll.nll),
    ("MADE 1x500, 8 masks: one mask set (mean of 8)", "measured", per_mask_nll.mean().item()),
    ("MADE 1x500, 8 masks: best single mask set", "measured", per_mask_nll.min().item()),
    ("MADE 1x500, 8 masks: ensemble of the 8", "measured", ensemble_nll[-1]),
    ("NADE, 1 hidden layer", "published", 88.33),
    ("MADE, 2 hidden layers, 32 masks", "published", 86.64),
    ("EoNADE, 2 hidden layers, 128 orderings", "published", 85.10),
]
print(f"{'model':47s} {'source':10s} {'test NLL (nats)':>16s} {'bits/dim':>9s}")
for model_name, source, nll in rows:
    print(f"{model_name:47s} {source:10s} {nll:16.2f} {nll / bits:9.4f}")
if QUICK:  # the numbers recorded when the shipped weights were saved must be the ones measured here
    for name in NAMES.values():
        metrics = pretrained.info(name)["metrics"]
        kind = "ensemble" if "test_nll_ensemble" in metrics else "single mask"
        print(f"sidecar of {name}: test NLL {metrics.get('test_nll_ensemble', metrics['test_nll']):.2f} ({kind})")
difference = ensemble_nll[-1] - made1_nll.nll
print(f"8-mask ensemble minus 1-mask model: {difference:+.2f} nats "
      f"({'the ensemble is better' if difference < 0 else 'the dedicated single-mask model is better'})")

# %% [markdown]
# The one-mask MADE scores {glue:text}`made_test_nll` nats per test image ({glue:text}`made_test_bpd` bits per
# pixel), {glue:text}`made_vs_bernoulli` nats better than independent pixels. The eight mask sets of the
# order-agnostic model range individually from {glue:text}`made8_best_nll` to {glue:text}`made8_worst_nll`
# (mean {glue:text}`made8_mean_nll`): they are eight different autoregressive models living in one set of weights,
# each trained on an eighth of the gradient steps, in an ordering unrelated to the geometry of the image. Their ensemble
# reaches {glue:text}`made8_ensemble_nll`, {glue:text}`ensemble_gain` nats better than the average member, as
# Jensen's inequality promises. Whether it also beats the network that spent all its updates on a single ordering
# is the trade-off described above (the last printed line says which way it went here).
#
# How much does each additional mask set add at test time?

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ks = range(1, made8.n_masks + 1)
ax.plot(ks, ensemble_nll, "o-", label="ensemble of the first K mask sets")
ax.plot(ks, per_mask_nll.tolist(), "x", color="C1", label="mask set K alone")
ax.axhline(made1_nll.nll, color="k", lw=1, ls="--", label="1-mask model")
ax.set_xlabel("K")
ax.set_ylabel("test NLL (nats)")
ax.legend(loc="center right")
plt.show()

# %% [markdown]
# The gains typically shrink as $K$ grows: each new member largely agrees with the mixture so far. Averaging costs
# $K$ forward passes per test image, so the evaluation cost grows linearly while the NLL improves by less and less.
#
# ### Learning curves
#
# The training (dashed) and validation (solid) NLL per epoch, as recorded while the models were trained (from the
# sidecars on a CPU). For the eight-mask model both curves are single-mask-set numbers: the training loss averages
# over the mask sets it cycled through, the validation NLL is that of the mask set in use at the end of the epoch.

# %%
ax = plot.loss_curves(histories)
for line in ax.lines:
    line.set_marker(".")  # visible even for a run of very few epochs
ax.set_title("MADE on binarized MNIST")
plt.show()
for label, history in histories.items():
    print(f"{label}: {history.epochs} epochs, best validation NLL {history.best_valid_nll:.2f} at epoch "
          f"{history.best_epoch}{' (stopped early)' if history.stopped_early else ''}")

# %% [markdown]
# ### What each conditional sees
#
# The connectivity of the masks tells us, for one output pixel, which input pixels its conditional can depend on.
# For the centre pixel (row 14, column 14) each model sees a scattered subset of the image: the pixels that come
# earlier in its ordering (at most; a hidden layer can cut more). The one-mask model always uses the same context;
# each mask set of the eight-mask model uses a different one, so the ensemble predicts the centre from several
# different contexts.

# %%
centre = 14 * 28 + 14
panels = [("1 mask", made["1 mask"], 0)] + [(f"8 masks: set {k}", made8, k) for k in range(3)]
fig, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.7))
for ax, (title, model, k) in zip(axes, panels, strict=True):
    seen = (connectivity([m.cpu() for m in model.masks(k)])[centre] > 0).float().reshape(28, 28)
    ax.imshow(seen, cmap="Blues", vmin=0, vmax=1.4)
    ax.scatter([14], [14], color="C3", marker="s", s=14)
    ax.set_title(f"{title}\n{int(seen.sum())} pixels visible", fontsize=9)
    ax.set_axis_off()
plt.show()

# %% [markdown]
# ### Samples
#
# Sampling runs the 784 conditionals one at a time in a mask set's ordering (a random one for both models here);
# from the ensemble we first pick a mask set uniformly at random for each sample, which draws exactly from
# the mixture $p_\text{ens}$. Before the finished samples, here is how one image is filled in under each kind of
# ordering (grey: not sampled yet).


# %%
@torch.no_grad()
def sampling_snapshots(model: MADE, k: int, fractions: list[float], generator: torch.Generator) -> list[torch.Tensor]:
    """One sample in ordering k, with a picture after each given fraction of the pixels (grey = not yet drawn)."""
    x = torch.zeros(1, 784, device=model.device)
    drawn = torch.zeros(784, dtype=torch.bool)
    stops = {round(f * 784) for f in fractions}
    frames = []
    for step, i in enumerate(model.order(k).tolist(), start=1):
        p = model.conditionals(x, mask_index=k)[0, i].item()
        x[0, i] = float(torch.rand(1, generator=generator).item() < p)
        drawn[i] = True
        if step in stops:
            frames.append(torch.where(drawn, x[0].cpu(), torch.full((784,), 0.35)))
    return frames


fractions = [0.25, 0.5, 0.75, 1.0]
fig, axes = plt.subplots(2, len(fractions), figsize=(2.2 * len(fractions), 4.6))
for row, (title, model, k) in enumerate([("1 mask", made["1 mask"], 0), ("8 masks, set 0", made8, 0)]):
    for ax, fraction, frame in zip(axes[row], fractions, sampling_snapshots(model, k, fractions, generator), strict=True):
        ax.imshow(frame.reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{title}\n{fraction:.0%} drawn" if fraction == fractions[0] else f"{fraction:.0%} drawn", fontsize=9)
        ax.set_axis_off()
plt.show()

# %%
samples_1 = made["1 mask"].sample(N_SAMPLES, generator=generator)
chosen = torch.randint(made8.n_masks, (N_SAMPLES,), generator=generator)  # a mask set per sample: the mixture
samples_8 = torch.cat([made8.sample(int((chosen == k).sum()), generator=generator, mask_index=k)
                       for k in range(made8.n_masks) if (chosen == k).any()])
fig, axes = plt.subplots(1, 2, figsize=(12, 0.6 * math.ceil(N_SAMPLES / 10) + 0.6))
plot.show_images(samples_1, n_cols=10, ax=axes[0], title="MADE, 1 mask")
plot.show_images(samples_8, n_cols=10, ax=axes[1], title="MADE, ensemble of 8 masks (grouped by mask set)")
plt.show()

# %% [markdown]
# A one-hidden-layer MADE draws connected strokes, far beyond the sprinkled ink of independent pixels, but many
# samples are broken or ambiguous digits: local stroke structure is learned much better than global shape. The
# convolutional models of chapter 8 improve on exactly that.
#
# ## Live: training a MADE, one mask against eight
#
# Finally, a small training run you can watch (on a CPU it takes well under a minute): both configurations, from
# scratch, on the first {glue:text}`demo_train` training images for {glue:text}`demo_steps` Adam steps each, with
# the same architecture as above. Equal budgets make the trade-off of mask sampling visible early in training.

# %%
demo_train, demo_valid = x_train[:DEMO_TRAIN], x_valid[:2000]
glue("demo_train", DEMO_TRAIN)
glue("demo_steps", DEMO_EPOCHS * math.ceil(DEMO_TRAIN / 100))
demo, demo_histories = {}, {}
for label, n_masks in {"1 mask": 1, "8 masks": 8}.items():  # random orderings for both
    arlib.seed(SEED)
    demo[label] = MADE(784, [500], n_masks=n_masks, order="random", seed=SEED).to(device)
    demo_histories[label] = train.fit(
        demo[label], demo_train, demo_valid, epochs=DEMO_EPOCHS, batch_size=100, lr=2e-3, seed=SEED,
        checkpoint=None if QUICK else f"{CHECKPOINTS}/06_demo_{n_masks}masks.pt")
demo_single = train.evaluate(demo["1 mask"], x_test).nll
demo_log_p = log_probs_per_mask(demo["8 masks"], x_test)
demo_ensemble = ensemble_nll_of(demo_log_p)
glue("demo_single_nll", round(demo_single, 2))
glue("demo_member_nll", round(-demo_log_p.mean().item(), 2))
glue("demo_ensemble_nll", round(demo_ensemble, 2))
print(f"test NLL after {DEMO_EPOCHS} epochs on {DEMO_TRAIN:,} images: 1 mask {demo_single:.2f} nats; 8 masks: "
      f"one mask set {-demo_log_p.mean():.2f} on average, ensemble {demo_ensemble:.2f} nats")
ax = plot.loss_curves(demo_histories)
ax.set_title("live run (subset of the training set)")
plt.show()

# %% [markdown]
# After this short run the single-mask MADE reaches {glue:text}`demo_single_nll` nats on the test set; the
# eight-mask model scores {glue:text}`demo_member_nll` per mask set on average and {glue:text}`demo_ensemble_nll`
# as an ensemble. With more epochs and the full training set (set `QUICK = False`
# on a GPU, or raise `DEMO_EPOCHS` and `DEMO_TRAIN`) both keep improving towards the numbers of the shipped models.
#
# ## Summary
#
# - A plain autoencoder reconstructs $x$ from all of $x$: its "probabilities" do not sum to one (here
#   {glue:text}`ae_sum_wide` for a wide network that learned to copy), it has no ordering and cannot sample.
# - MADE multiplies each weight matrix by a 0/1 mask built from **degrees**: inputs get their position in the
#   ordering, hidden units a degree in $[1, n-1]$; keep a weight if $m_\text{prev} \le m$, and strictly
#   $m_\text{prev} < m(x_i)$ into output $i$. The product of the masks is then strictly lower-triangular in the
#   ordering, and the Bernoulli outputs multiply to a proper distribution (our masked three-pixel network sums to
#   {glue:text}`masked_sum`).
# - **One forward pass** gives all $n$ conditionals (NADE needs $n$ hidden states); sampling still takes $n$ passes.
# - Training can cycle through orderings and connectivities; at test time the mask sets form an ensemble whose
#   NLL is never worse than their average. More masks split a fixed capacity, so they help on some data (DNA) and
#   not on others (Adult, Connect4).
# - On binarized MNIST, a one-hidden-layer MADE scores {glue:text}`made_test_nll` nats with one mask; eight random
#   orderings score {glue:text}`made8_mean_nll` on average alone and {glue:text}`made8_ensemble_nll` as an ensemble.
#   Published: 86.64 for two hidden layers and 32 masks.
#
# **Assignments.** [`made_masks`](https://colab.research.google.com/github/arlib-book/autoregressive-models/blob/main/assignments/released/made_masks.ipynb): degrees, masks from degrees, the autoregressive check
# and the masked likelihood, checked against `arlib.models.MADE`.
# [`causal_attention`](https://colab.research.google.com/github/arlib-book/autoregressive-models/blob/main/assignments/released/causal_attention.ipynb): the same idea for images and sequences (a masked
# convolution and causal self-attention).
