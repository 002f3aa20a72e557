# ---
# jupyter:
#   arlib:
#     assignment: causal_attention
#     grade_parameters:
#       SEED: 0
#       SEQ_LEN: 6
#       D_MODEL: 8
#       IMAGE_SIZE: 5
#   jupytext:
#     notebook_metadata_filter: arlib
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% tags=["parameters"]
SEED = 0
SEQ_LEN = 8     # T, positions in a sequence
D_MODEL = 16    # features per position
IMAGE_SIZE = 7  # height = width of the test images for the masked convolution

# %% [markdown]
# # Assignment: masked convolution and causal self-attention
#
# MADE made one layer autoregressive with a mask on its weights. Two layers do the same for images and
# sequences, and every later model of the book is built from them:
#
# - the **masked convolution** of PixelCNN: a $k \times k$ kernel whose weights below the centre, and right
#   of it in the centre row, are zero, so that the output at a pixel sees only the pixels before it in raster
#   order. Mask type **A** (first layer) also zeroes the centre; type **B** (later layers) keeps it;
# - **causal self-attention**: $\mathrm{softmax}\big(QK^\top / \sqrt{d_k} + M\big)\, V$ with $Q = xW_q$,
#   $K = xW_k$, $V = xW_v$ and $M_{ts} = -\infty$ for $s > t$, so position $t$ attends to positions
#   $\le t$ only.
#
# Conventions, used by the tests: masks are float tensors of 0s and 1s; images are `(B, C, H, W)`;
# sequences are `(B, T, D)`; `Wq`, `Wk` are `(D, d_k)` and `Wv` is `(D, d_v)`. Keep the names and signatures.

# %%
import math

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
generator = torch.Generator().manual_seed(SEED)

# %% [markdown]
# ## 1. The PixelCNN mask


# %%
def pixelcnn_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """(k, k) mask of 0.0/1.0 for an odd k: 1 above the centre row and left of the centre in the centre
    row; the centre itself is 1 for type "B" and 0 for type "A"."""
    ### BEGIN SOLUTION
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    mask = torch.zeros(kernel_size, kernel_size)
    centre = kernel_size // 2
    mask[:centre] = 1
    mask[centre, :centre] = 1
    if mask_type == "B":
        mask[centre, centre] = 1
    return mask
    ### END SOLUTION


def masked_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, mask_type: str) -> torch.Tensor:
    """A same-size convolution (padding k // 2) with every (out, in) kernel multiplied by the mask."""
    ### BEGIN SOLUTION
    mask = pixelcnn_mask(weight.shape[-1], mask_type)
    return F.conv2d(x, weight * mask, bias, padding=weight.shape[-1] // 2)
    ### END SOLUTION


# %% [markdown]
# *Check*: the 3 x 3 masks.

# %%
print(pixelcnn_mask(3, "A"))
print(pixelcnn_mask(3, "B"))
assert pixelcnn_mask(3, "A").sum() == 4 and pixelcnn_mask(3, "B").sum() == 5

# %% [markdown]
# ## 2. Causal self-attention


# %%
def causal_mask(length: int) -> torch.Tensor:
    """(T, T) boolean: True where position t may attend to position s (s <= t)."""
    ### BEGIN SOLUTION
    return torch.ones(length, length, dtype=torch.bool).tril()
    ### END SOLUTION


def causal_self_attention(x: torch.Tensor, Wq: torch.Tensor, Wk: torch.Tensor, Wv: torch.Tensor) -> torch.Tensor:
    """One head of causal self-attention: (B, T, D) -> (B, T, d_v)."""
    ### BEGIN SOLUTION
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~causal_mask(x.shape[1]), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
    ### END SOLUTION


# %% [markdown]
# *Check*: the first position can only attend to itself, so its output is its own value vector.

# %%
x = torch.randn(2, SEQ_LEN, D_MODEL, generator=generator)
Wq, Wk, Wv = (torch.randn(D_MODEL, D_MODEL, generator=generator) for _ in range(3))
out = causal_self_attention(x, Wq, Wk, Wv)
assert torch.allclose(out[:, 0], x[:, 0] @ Wv, atol=1e-5)
print(out.shape)

# %% tags=["hidden-test"] points=1 test="pixelcnn_mask"
for k in (1, 3, 5, 7):
    for kind in "AB":
        got = student.pixelcnn_mask(k, kind)
        assert torch.equal(got.float(), pixelcnn_mask(k, kind)), f"pixelcnn_mask({k}, {kind!r}) is wrong:\n{got}"

# %% tags=["hidden-test"] points=2 test="masked_conv2d_matches_reference"
g = torch.Generator().manual_seed(SEED + 1)
x = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g)
weight, bias = torch.randn(4, 3, 5, 5, generator=g), torch.randn(4, generator=g)
for kind in "AB":
    got = student.masked_conv2d(x, weight, bias, kind)
    assert tuple(got.shape) == (2, 4, IMAGE_SIZE, IMAGE_SIZE), f"output shape {tuple(got.shape)}"
    assert torch.allclose(got, masked_conv2d(x, weight, bias, kind), atol=1e-4), f"type {kind} output differs"

# %% tags=["hidden-test"] points=2 test="masked_conv2d_is_causal"
g = torch.Generator().manual_seed(SEED + 2)
x = torch.randn(1, 1, IMAGE_SIZE, IMAGE_SIZE, generator=g)
weight, bias = torch.randn(1, 1, 3, 3, generator=g), torch.zeros(1)
base = student.masked_conv2d(x, weight, bias, "A").flatten()
for pixel in (0, IMAGE_SIZE + 2, IMAGE_SIZE * IMAGE_SIZE // 2, IMAGE_SIZE * IMAGE_SIZE - 1):
    changed = x.clone().flatten()
    changed[pixel] += 10
    out = student.masked_conv2d(changed.view_as(x), weight, bias, "A").flatten()
    moved = (out - base).abs() > 1e-5
    assert not moved[: pixel + 1].any(), f"changing pixel {pixel} (raster order) changed the output at pixel " \
        f"{int(moved.nonzero()[0])}: type A must not see a pixel or the ones after it"

# %% tags=["hidden-test"] points=1 test="causal_mask"
for length in (1, 2, SEQ_LEN):
    got = student.causal_mask(length)
    assert torch.equal(got.bool(), causal_mask(length)), f"causal_mask({length}) is wrong:\n{got}"

# %% tags=["hidden-test"] points=2 test="attention_matches_pytorch"
g = torch.Generator().manual_seed(SEED + 3)
x = torch.randn(3, SEQ_LEN, D_MODEL, generator=g)
Wq, Wk = torch.randn(D_MODEL, 4, generator=g), torch.randn(D_MODEL, 4, generator=g)
Wv = torch.randn(D_MODEL, 5, generator=g)
expected = F.scaled_dot_product_attention(x @ Wq, x @ Wk, x @ Wv, is_causal=True)
got = student.causal_self_attention(x, Wq, Wk, Wv)
assert tuple(got.shape) == (3, SEQ_LEN, 5), f"output shape {tuple(got.shape)}, expected (3, {SEQ_LEN}, 5)"
assert torch.allclose(got, expected, atol=1e-4), "differs from F.scaled_dot_product_attention(..., is_causal=True)"

# %% tags=["hidden-test"] points=2 test="attention_is_causal"
g = torch.Generator().manual_seed(SEED + 4)
x = torch.randn(1, SEQ_LEN, D_MODEL, generator=g)
Wq, Wk, Wv = (torch.randn(D_MODEL, D_MODEL, generator=g) for _ in range(3))
base = student.causal_self_attention(x, Wq, Wk, Wv)
for t in range(SEQ_LEN):
    changed = x.clone()
    changed[0, t] += 5
    out = student.causal_self_attention(changed, Wq, Wk, Wv)
    moved = ((out - base).abs() > 1e-5).any(-1)[0]
    assert not moved[:t].any(), f"changing position {t} changed the output at position {int(moved.nonzero()[0])}"
    assert moved[t], f"changing position {t} did not change its own output"
