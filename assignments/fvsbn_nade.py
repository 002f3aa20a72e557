# ---
# jupyter:
#   arlib:
#     assignment: fvsbn_nade
#     grade_parameters:
#       SEED: 0
#       N_PIXELS: 8
#       HIDDEN: 5
#   jupytext:
#     notebook_metadata_filter: arlib
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% tags=["parameters"]
SEED = 0       # every random draw in this notebook starts from here
N_PIXELS = 10  # pixels per (tiny) image: small enough to list all 2**N_PIXELS images
HIDDEN = 6     # NADE hidden units

# %% [markdown]
# # Assignment: FVSBN and NADE, log-likelihood and ancestral sampling
#
# Chapters 3 and 4 built two autoregressive models of binary images,
# $p(x) = \prod_{i=1}^{n} p(x_i \mid x_{<i})$ with $p(x_i = 1 \mid x_{<i}) = \hat{x}_i$:
#
# - the **FVSBN**: $\hat{x}_i = \sigma\big(b_i + \sum_{j<i} W_{ij} x_j\big)$, one logistic regression per pixel;
# - **NADE**: $h_i = \sigma(c + W_{\cdot, <i}\, x_{<i})$ and $\hat{x}_i = \sigma(V_i \cdot h_i + b_i)$, one hidden
#   layer per pixel with the input weights $W$ shared.
#
# You write, for both, the **log-likelihood** $\log p(x)$ (in nats, one number per image) and the
# **ancestral sampler**. Conventions, used by the tests:
#
# - `x` is a float tensor of shape `(B, n)` holding 0s and 1s; pixel `i` is column `i` (0-based);
# - FVSBN weights: `W` of shape `(n, n)`, of which **only the strictly lower triangle** ($j < i$) is used,
#   whatever the other entries hold, and `b` of shape `(n,)`;
# - NADE weights: `W` `(d, n)`, `c` `(d,)`, `V` `(n, d)`, `b` `(n,)`;
# - samplers take the randomness as an argument: `u` of shape `(B, n)` with entries uniform in $[0, 1)$, and
#   pixel `i` of sample `k` is `1.0` exactly when `u[k, i] < p(x_i = 1 | the pixels drawn before)`.
#   The same `u` must give the same samples, so the tests can compare yours with the reference.
#
# Keep the function names and signatures: the grader calls them. Fill in every `YOUR CODE HERE`; the cells
# marked *check* let you test yourself. The grader runs the notebook with small sizes (its own
# `parameters`), then hidden tests with more cases.

# %%
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
generator = torch.Generator().manual_seed(SEED)


def all_binary(n: int) -> torch.Tensor:
    """Every x in {0, 1}^n, shape (2**n, n), in binary counting order."""
    codes = torch.arange(2**n)
    return ((codes[:, None] >> torch.arange(n - 1, -1, -1)) & 1).float()


def random_fvsbn(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(n, n, generator=generator), torch.randn(n, generator=generator)


def random_nade(n: int, d: int, generator: torch.Generator):
    W = torch.randn(d, n, generator=generator)
    c = torch.randn(d, generator=generator)
    V = torch.randn(n, d, generator=generator)
    b = torch.randn(n, generator=generator)
    return W, c, V, b


# %% [markdown]
# ## 1. FVSBN log-likelihood
#
# All $n$ logits $z_i = b_i + \sum_{j<i} W_{ij} x_j$ come out of one masked matrix product (chapter 3), and
# $\log p(x) = \sum_i \big[x_i \log \sigma(z_i) + (1 - x_i) \log \sigma(-z_i)\big]$. Use
# `F.logsigmoid`, not `torch.log(torch.sigmoid(...))`, which underflows to $-\infty$ for large $|z|$.


# %%
def fvsbn_logits(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Logits z_i of p(x_i = 1 | x_<i) for every pixel: shape (B, n)."""
    ### BEGIN SOLUTION
    return x @ torch.tril(W, diagonal=-1).T + b
    ### END SOLUTION


def fvsbn_log_prob(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x) in nats, one value per row of x: shape (B,)."""
    ### BEGIN SOLUTION
    z = fvsbn_logits(W, b, x)
    return (x * F.logsigmoid(z) + (1 - x) * F.logsigmoid(-z)).sum(dim=1)
    ### END SOLUTION


# %% [markdown]
# *Check*: a distribution sums to one. With $n = 3$ there are 8 images; their probabilities must add up to 1
# for any weights.

# %%
W3, b3 = random_fvsbn(3, generator)
total = fvsbn_log_prob(W3, b3, all_binary(3)).exp().sum()
print(f"sum over all 8 images: {total:.6f}")
assert torch.isclose(total, torch.tensor(1.0), atol=1e-5)

# %% [markdown]
# ## 2. FVSBN ancestral sampling
#
# Draw pixel 0 from $\sigma(b_0)$, then pixel 1 from its regression on the pixel just drawn, and so on: each
# draw feeds the next regression. Use `u` for the draws (see the conventions above).


# %%
def fvsbn_sample(W: torch.Tensor, b: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Samples (B, n) of 0.0/1.0, pixel by pixel: x[:, i] = (u[:, i] < p(x_i = 1 | x_<i))."""
    ### BEGIN SOLUTION
    x = torch.zeros_like(u)
    for i in range(u.shape[1]):
        p = torch.sigmoid(fvsbn_logits(W, b, x)[:, i])  # x[:, i:] are still 0: only x_<i counts
        x[:, i] = (u[:, i] < p).float()
    return x
    ### END SOLUTION


# %% [markdown]
# *Check*: the frequency of every 3-pixel image among many samples is close to its probability.

# %%
u = torch.rand(20_000, 3, generator=generator)
samples = fvsbn_sample(W3, b3, u)
codes = (samples * torch.tensor([4.0, 2.0, 1.0])).sum(1).long()
frequencies = torch.bincount(codes, minlength=8).float() / len(codes)
probabilities = fvsbn_log_prob(W3, b3, all_binary(3)).exp()
print("frequency  ", [round(v, 3) for v in frequencies.tolist()])
print("probability", [round(v, 3) for v in probabilities.tolist()])
assert (frequencies - probabilities).abs().max() < 0.02

# %% [markdown]
# ## 3. NADE log-likelihood
#
# Use the running sum of chapter 4: $a_0 = c$ and $a_{i+1} = a_i + W_{\cdot, i}\, x_i$, so that
# $h_i = \sigma(a_i)$ costs $O(d)$ per pixel.


# %%
def nade_log_prob(W: torch.Tensor, c: torch.Tensor, V: torch.Tensor, b: torch.Tensor,
                  x: torch.Tensor) -> torch.Tensor:
    """log p(x) in nats under NADE, shape (B,)."""
    ### BEGIN SOLUTION
    a = c.expand(x.shape[0], -1)
    log_p = torch.zeros(x.shape[0])
    for i in range(x.shape[1]):
        z = torch.sigmoid(a) @ V[i] + b[i]
        log_p = log_p + x[:, i] * F.logsigmoid(z) + (1 - x[:, i]) * F.logsigmoid(-z)
        a = a + torch.outer(x[:, i], W[:, i])
    return log_p
    ### END SOLUTION


# %% [markdown]
# ## 4. NADE ancestral sampling


# %%
def nade_sample(W: torch.Tensor, c: torch.Tensor, V: torch.Tensor, b: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """NADE samples (B, n) of 0.0/1.0: x[:, i] = (u[:, i] < p(x_i = 1 | x_<i))."""
    ### BEGIN SOLUTION
    x = torch.zeros_like(u)
    a = c.expand(u.shape[0], -1)
    for i in range(u.shape[1]):
        p = torch.sigmoid(torch.sigmoid(a) @ V[i] + b[i])
        x[:, i] = (u[:, i] < p).float()
        a = a + torch.outer(x[:, i], W[:, i])
    return x
    ### END SOLUTION


# %% [markdown]
# *Check*: NADE's probabilities sum to one too, and its samples match them.

# %%
nade3 = random_nade(3, HIDDEN, generator)
probabilities = nade_log_prob(*nade3, all_binary(3)).exp()
samples = nade_sample(*nade3, torch.rand(20_000, 3, generator=generator))
frequencies = torch.bincount((samples * torch.tensor([4.0, 2.0, 1.0])).sum(1).long(), minlength=8).float() / 20_000
print(f"sum of probabilities: {probabilities.sum():.6f}")
assert torch.isclose(probabilities.sum(), torch.tensor(1.0), atol=1e-5)
assert (frequencies - probabilities).abs().max() < 0.02

# %% [markdown]
# ## 5. In words
#
# Computing $\log p(x)$ needs no loop over pixels for the FVSBN, but sampling does. Why? (Two sentences.)
#
# ### BEGIN SOLUTION
# For $\log p(x)$ the whole image is known, so every conditional is evaluated on the true prefix and all $n$
# logits come out of one masked product. A sample's pixel $i$ depends on the pixels drawn before it, which do
# not exist until they are drawn, so the draws must happen one after another.
# ### END SOLUTION

# %% tags=["hidden-test"] points=2 test="fvsbn_log_prob_matches_arlib"
from arlib.models import FVSBN

g = torch.Generator().manual_seed(SEED + 1)
W, b = random_fvsbn(N_PIXELS, g)
x = torch.randint(0, 2, (64, N_PIXELS), generator=g).float()
model = FVSBN(N_PIXELS)
with torch.no_grad():
    model.weight.copy_(W)
    model.bias.copy_(b)
    expected = model.log_prob(x)
got = student.fvsbn_log_prob(W, b, x)
assert tuple(got.shape) == (64,), f"fvsbn_log_prob returned shape {tuple(got.shape)}, expected (64,)"
assert torch.allclose(got, expected, atol=1e-4), "fvsbn_log_prob differs from arlib's FVSBN"

# %% tags=["hidden-test"] points=1 test="fvsbn_uses_only_the_lower_triangle"
g = torch.Generator().manual_seed(SEED + 2)
W, b = random_fvsbn(N_PIXELS, g)
x = torch.randint(0, 2, (32, N_PIXELS), generator=g).float()
leaky = W + 10 * torch.triu(torch.ones(N_PIXELS, N_PIXELS))  # entries on and above the diagonal must not matter
assert torch.allclose(student.fvsbn_log_prob(leaky, b, x), fvsbn_log_prob(W, b, x), atol=1e-4), \
    "changing W[i, j] for j >= i changed log p(x): pixel i may only depend on the pixels before it"

# %% tags=["hidden-test"] points=1 test="fvsbn_sums_to_one"
g = torch.Generator().manual_seed(SEED + 3)
W, b = random_fvsbn(N_PIXELS, g)
total = student.fvsbn_log_prob(W, b, all_binary(N_PIXELS)).double().exp().sum().item()
assert abs(total - 1) < 1e-4, f"the probabilities of all 2**{N_PIXELS} images sum to {total:.6f}, not 1"

# %% tags=["hidden-test"] points=2 test="fvsbn_sample_matches_reference"
g = torch.Generator().manual_seed(SEED + 4)
W, b = random_fvsbn(N_PIXELS, g)
u = torch.rand(200, N_PIXELS, generator=g)
got = student.fvsbn_sample(W, b, u)
assert tuple(got.shape) == (200, N_PIXELS), f"fvsbn_sample returned shape {tuple(got.shape)}"
mismatch = (got.float() != fvsbn_sample(W, b, u)).float().mean().item()
assert mismatch == 0, f"{mismatch:.1%} of the sampled pixels differ from the reference (same u)"

# %% tags=["hidden-test"] points=2 test="nade_log_prob_matches_arlib"
from arlib.models import NADE

g = torch.Generator().manual_seed(SEED + 5)
params = random_nade(N_PIXELS, HIDDEN, g)
x = torch.randint(0, 2, (64, N_PIXELS), generator=g).float()
model = NADE(N_PIXELS, HIDDEN)
with torch.no_grad():
    for name, value in zip(["W", "c", "V", "b"], params, strict=True):
        getattr(model, name).copy_(value)
    expected = model.log_prob(x)
got = student.nade_log_prob(*params, x)
assert tuple(got.shape) == (64,), f"nade_log_prob returned shape {tuple(got.shape)}, expected (64,)"
assert torch.allclose(got, expected, atol=1e-4), "nade_log_prob differs from arlib's NADE"

# %% tags=["hidden-test"] points=1 test="nade_sums_to_one"
g = torch.Generator().manual_seed(SEED + 6)
params = random_nade(N_PIXELS, HIDDEN, g)
total = student.nade_log_prob(*params, all_binary(N_PIXELS)).double().exp().sum().item()
assert abs(total - 1) < 1e-4, f"the probabilities of all 2**{N_PIXELS} images sum to {total:.6f}, not 1"

# %% tags=["hidden-test"] points=2 test="nade_sample_matches_reference"
g = torch.Generator().manual_seed(SEED + 7)
params = random_nade(N_PIXELS, HIDDEN, g)
u = torch.rand(200, N_PIXELS, generator=g)
got = student.nade_sample(*params, u)
assert tuple(got.shape) == (200, N_PIXELS), f"nade_sample returned shape {tuple(got.shape)}"
mismatch = (got.float() != nade_sample(*params, u)).float().mean().item()
assert mismatch == 0, f"{mismatch:.1%} of the sampled pixels differ from the reference (same u)"
