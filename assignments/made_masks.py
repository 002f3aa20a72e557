# ---
# jupyter:
#   arlib:
#     assignment: made_masks
#     grade_parameters:
#       SEED: 0
#       N_INPUTS: 5
#       HIDDEN_SIZES: [7, 6]
#   jupytext:
#     notebook_metadata_filter: arlib
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% tags=["parameters"]
SEED = 0
N_INPUTS = 4            # n, the number of binary variables
HIDDEN_SIZES = [8, 8]   # units per hidden layer

# %% [markdown]
# # Assignment: MADE masks from degrees
#
# Chapter 6 turned an autoencoder into an autoregressive model by multiplying its weight matrices with
# binary masks built from **degrees**:
#
# - input $x_i$ gets as degree its position in the ordering, $1, \dots, n$;
# - a hidden unit gets a random degree in $[\min(\text{degrees of the layer below}), n - 1]$;
# - a weight into a hidden unit of degree $m$ is kept iff the unit below has degree $\le m$; a weight into
#   the output for $x_i$ is kept iff the unit below has degree $< m(x_i)$, strictly.
#
# You write the degrees, the masks, a check that a set of masks is autoregressive, and the masked network's
# log-likelihood. Conventions, used by the tests:
#
# - an ordering is a list `order` where `order[p]` is the (0-based) variable generated at position `p`;
#   for $x_2, x_3, x_1$ it is `[1, 2, 0]`;
# - degrees are `torch.long` tensors; masks are float tensors of 0s and 1s shaped **(out, in)** like the
#   weight of an `nn.Linear`; the list of masks goes from the input layer to the output layer;
# - draw random degrees with exactly `torch.randint(low, n, (size,), generator=generator)`: then your draws
#   match the library's and the tests can compare them.
#
# Keep the names and signatures: the grader calls them.

# %%
import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def all_binary(n: int) -> torch.Tensor:
    """Every x in {0, 1}^n, shape (2**n, n)."""
    codes = torch.arange(2**n)
    return ((codes[:, None] >> torch.arange(n - 1, -1, -1)) & 1).float()


# %% [markdown]
# ## 1. Degrees


# %%
def input_degrees(order: list[int]) -> torch.Tensor:
    """m(x_i) = 1 + the position of x_i in the ordering, for every variable i: shape (n,), dtype long."""
    ### BEGIN SOLUTION
    degrees = torch.empty(len(order), dtype=torch.long)
    degrees[torch.as_tensor(order)] = torch.arange(1, len(order) + 1)
    return degrees
    ### END SOLUTION


def hidden_degrees(previous: torch.Tensor, size: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """``size`` random degrees in [min(previous), n - 1] (at most n - 1 for the low end): shape (size,)."""
    ### BEGIN SOLUTION
    low = min(int(previous.min()), n - 1)
    return torch.randint(low, n, (size,), generator=generator)
    ### END SOLUTION


# %% [markdown]
# *Check*: for the ordering $x_2, x_3, x_1$ the input degrees are $(3, 1, 2)$.

# %%
assert input_degrees([1, 2, 0]).tolist() == [3, 1, 2]
print(hidden_degrees(input_degrees([1, 2, 0]), 6, 3, torch.Generator().manual_seed(SEED)))

# %% [markdown]
# ## 2. Masks


# %%
def masks_from_degrees(degrees: list[torch.Tensor]) -> list[torch.Tensor]:
    """degrees = [input degrees, hidden layer 1, ..., hidden layer L]; returns L + 1 masks (out, in)."""
    ### BEGIN SOLUTION
    masks = [(m_out[:, None] >= m_in[None, :]).float() for m_in, m_out in zip(degrees[:-1], degrees[1:], strict=True)]
    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())
    return masks
    ### END SOLUTION


def connectivity(masks: list[torch.Tensor]) -> torch.Tensor:
    """(n, n): entry (i, j) counts the paths from input j to output i."""
    ### BEGIN SOLUTION
    paths = masks[0]
    for mask in masks[1:]:
        paths = mask @ paths
    return paths
    ### END SOLUTION


def is_autoregressive(masks: list[torch.Tensor], order: list[int]) -> bool:
    """True iff output order[p] is connected only to inputs order[q] with q < p (for every p)."""
    ### BEGIN SOLUTION
    paths = connectivity(masks)[order][:, order]
    return bool(torch.equal(paths, paths.tril(-1)))
    ### END SOLUTION


# %% [markdown]
# *Check*: masks built from degrees are autoregressive; letting an output see its own input is not.

# %%
order = list(range(N_INPUTS))
generator = torch.Generator().manual_seed(SEED)
degrees = [input_degrees(order)]
for size in HIDDEN_SIZES:
    degrees.append(hidden_degrees(degrees[-1], size, N_INPUTS, generator))
masks = masks_from_degrees(degrees)
print([tuple(m.shape) for m in masks])
assert is_autoregressive(masks, order)
leaky = [m.clone() for m in masks]
leaky[-1] = torch.ones_like(leaky[-1])  # every output sees every unit of the last hidden layer
assert not is_autoregressive(leaky, order)

# %% [markdown]
# ## 3. The masked network's log-likelihood
#
# Hidden layers: $h^l = \mathrm{relu}\big((W^l \odot M^l) h^{l-1} + b^l\big)$ with $h^0 = x$; outputs: logits
# $z = (W^{L+1} \odot M^{L+1}) h^L + b^{L+1}$ and $\log p(x) = \sum_i \big[x_i \log\sigma(z_i) +
# (1 - x_i)\log\sigma(-z_i)\big]$.


# %%
def made_log_prob(weights: list[torch.Tensor], biases: list[torch.Tensor], masks: list[torch.Tensor],
                  x: torch.Tensor) -> torch.Tensor:
    """log p(x) in nats, shape (B,); weights[l] has the shape of masks[l]."""
    ### BEGIN SOLUTION
    h = x
    for layer, (weight, bias, mask) in enumerate(zip(weights, biases, masks, strict=True)):
        h = F.linear(h, weight * mask, bias)
        if layer + 1 < len(weights):
            h = F.relu(h)
    return (x * F.logsigmoid(h) + (1 - x) * F.logsigmoid(-h)).sum(1)
    ### END SOLUTION


# %% [markdown]
# *Check*: with masks the network is a distribution (it sums to one over all $2^n$ inputs).

# %%
weights = [torch.randn(m.shape, generator=generator) for m in masks]
biases = [torch.randn(m.shape[0], generator=generator) for m in masks]
total = made_log_prob(weights, biases, masks, all_binary(N_INPUTS)).exp().sum()
print(f"sum over all inputs: {total:.6f}")
assert torch.isclose(total, torch.tensor(1.0), atol=1e-4)

# %% tags=["hidden-test"] points=1 test="input_degrees"
for order in ([0, 1, 2, 3, 4], [1, 2, 0], [4, 0, 3, 1, 2], list(range(N_INPUTS))[::-1]):
    got = student.input_degrees(order)
    assert torch.equal(torch.as_tensor(got).long(), input_degrees(order)), \
        f"input_degrees({order}) = {torch.as_tensor(got).tolist()}, expected {input_degrees(order).tolist()}"

# %% tags=["hidden-test"] points=1 test="hidden_degrees_in_range"
previous = torch.tensor([2, 3, 4, 2])
got = torch.as_tensor(student.hidden_degrees(previous, 500, N_INPUTS, torch.Generator().manual_seed(SEED)))
assert got.shape == (500,), f"hidden_degrees returned shape {tuple(got.shape)}, expected (500,)"
low = min(2, N_INPUTS - 1)
assert int(got.min()) >= low and int(got.max()) <= N_INPUTS - 1, \
    f"degrees must lie in [{low}, {N_INPUTS - 1}], got values from {int(got.min())} to {int(got.max())}"
assert set(got.tolist()) == set(range(low, N_INPUTS)), "some allowed degrees are never drawn"

# %% tags=["hidden-test"] points=1 test="hidden_degrees_match_arlib"
from arlib.models import MADE

model = MADE(N_INPUTS, HIDDEN_SIZES, order=[1, 0, *range(2, N_INPUTS)], seed=SEED + 1)
generator = torch.Generator().manual_seed(SEED + 1)
degrees = [input_degrees(model.order().tolist())]
for size in HIDDEN_SIZES:  # the submission draws from a copy of the generator; the reference advances it
    degrees.append(torch.as_tensor(student.hidden_degrees(degrees[-1], size, N_INPUTS, generator)))
    hidden_degrees(degrees[-2], size, N_INPUTS, generator)
for layer, (ours, theirs) in enumerate(zip(degrees, model.degrees(), strict=True)):
    assert torch.equal(ours.long(), theirs), f"layer {layer}: degrees {ours.tolist()} differ from arlib's " \
        f"{theirs.tolist()} (draw with torch.randint(low, n, (size,), generator=generator))"

# %% tags=["hidden-test"] points=2 test="masks_match_arlib"
from arlib.models import MADE

for seed, order in ((SEED, None), (SEED + 2, "random")):
    model = MADE(N_INPUTS, HIDDEN_SIZES, order=order, seed=seed)
    got = student.masks_from_degrees(model.degrees())
    assert len(got) == len(model.masks()), f"{len(got)} masks returned, expected {len(model.masks())}"
    for layer, (ours, theirs) in enumerate(zip(got, model.masks(), strict=True)):
        assert tuple(ours.shape) == tuple(theirs.shape), \
            f"mask {layer} has shape {tuple(ours.shape)}, expected {tuple(theirs.shape)} (out, in)"
        assert torch.equal(ours.float(), theirs), f"mask {layer} differs from arlib's MADE (ordering {order})"

# %% tags=["hidden-test"] points=1 test="connectivity"
from arlib.models import MADE

model = MADE(N_INPUTS, HIDDEN_SIZES, order="random", seed=SEED + 3)
got = student.connectivity(model.masks())
assert torch.allclose(got.float(), connectivity(model.masks())), "the path counts differ from the reference"

# %% tags=["hidden-test"] points=2 test="is_autoregressive"
from arlib.models import MADE

model = MADE(N_INPUTS, HIDDEN_SIZES, order="random", seed=SEED + 4)
order = model.order().tolist()
assert bool(student.is_autoregressive(model.masks(), order)), "arlib's MADE masks were called not autoregressive"
assert not bool(student.is_autoregressive(model.masks(), order[::-1])), \
    "the masks were called autoregressive for the reversed ordering"
leaky = [m.clone() for m in model.masks()]
leaky[-1] = (model.degrees()[0][:, None] >= model.degrees()[-1][None, :]).float()  # >= instead of >
assert bool(student.is_autoregressive(leaky, order)) == is_autoregressive(leaky, order), \
    "wrong verdict for output masks built with >= instead of >"
identity = [torch.eye(N_INPUTS), torch.eye(N_INPUTS)]
assert not bool(student.is_autoregressive(identity, list(range(N_INPUTS)))), "output i sees input i: not autoregressive"

# %% tags=["hidden-test"] points=2 test="made_log_prob_matches_arlib"
from arlib.models import MADE

model = MADE(N_INPUTS, HIDDEN_SIZES, order="random", seed=SEED + 5)
g = torch.Generator().manual_seed(SEED + 5)
with torch.no_grad():
    for linear in model.layers:
        linear.weight.normal_(generator=g)
        linear.bias.normal_(generator=g)
x = torch.randint(0, 2, (32, N_INPUTS), generator=g).float()
weights = [linear.weight.detach() for linear in model.layers]
biases = [linear.bias.detach() for linear in model.layers]
got = student.made_log_prob(weights, biases, model.masks(), x)
assert tuple(got.shape) == (32,), f"made_log_prob returned shape {tuple(got.shape)}, expected (32,)"
assert torch.allclose(got, model.log_prob(x, mask_index=0).detach(), atol=1e-4), "made_log_prob differs from arlib"

# %% tags=["hidden-test"] points=1 test="made_sums_to_one"
from arlib.models import MADE

model = MADE(N_INPUTS, HIDDEN_SIZES, order="random", seed=SEED + 6)
g = torch.Generator().manual_seed(SEED + 6)
weights = [torch.randn(m.shape, generator=g) for m in model.masks()]
biases = [torch.randn(m.shape[0], generator=g) for m in model.masks()]
total = student.made_log_prob(weights, biases, model.masks(), all_binary(N_INPUTS)).double().exp().sum().item()
assert abs(total - 1) < 1e-4, f"the probabilities of all 2**{N_INPUTS} inputs sum to {total:.6f}, not 1"
