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
QUICK = not torch.cuda.is_available()  # CPU: shipped weights (or small stand-ins), short demos. GPU: train from scratch.
EPOCHS = 30                            # GPU only: maximum epochs for each binarized-MNIST model (early stopping ends them)
TRAIN_IMAGES = 50_000                  # GPU only: training digits used (all of binarized MNIST's training split)
STANDIN_STEPS = 100                    # CPU, only for a model that is not shipped: Adam steps of the stand-in made here
N_TEST = 500 if QUICK else 10_000      # random test digits scored by every model in the NLL table
N_SAMPLES = 2 if QUICK else 48         # samples drawn from each unconditional model (784 network passes each)
N_COMPLETE = 2 if QUICK else 10        # test digits whose bottom half is completed
COMPLETIONS = 2 if QUICK else 4        # completions drawn per digit
COND_NAME = "gated-pixelcnn-conditional-thresholded-mnist"  # CPU: the shipped class-conditional model
COND_HIDDEN = 64                       # GPU only: channels of the class-conditional gated PixelCNN trained there
COND_LAYERS = 12                       # GPU only: its gated layers
GPU_CHANNELS = 64                      # GPU only: channels of the PixelCNN and gated PixelCNN trained there
GPU_LAYERS = 12                        # GPU only: their layers (the Row LSTM keeps 7 layers of 16 units)
VALID_IMAGES = 10_000                  # GPU only: validation digits scored after every epoch
N_COND_TEST = 100 if QUICK else 10_000  # test digits classified with argmax_y log p(x | y)
N_PER_CLASS = 1 if QUICK else 10       # class-conditional samples per digit class
N_ANOMALY = 200 if QUICK else 2000     # clean test digits (and as many of each corrupted kind) in the anomaly test
NOISE = 0.02                           # fraction of pixels flipped in the "noisy" digits
TIMING_BATCH = 64                      # digits per likelihood evaluation in the timing of PixelRNN against PixelCNN
CHECKPOINTS = "checkpoints"             # GPU path: training checkpoints, resumed when the cell is re-run

# %% [markdown]
# # 8. PixelRNN and PixelCNN
#
# The models of chapters 3 to 6 treat a digit as a vector of 784 numbers. They use the raster order to number the
# pixels, but nothing in their networks knows that pixel 43 sits directly below pixel 15, or indeed that the image
# is two-dimensional at all. An FVSBN, a NADE or a MADE must learn "a stroke continues downwards" separately
# for every position of the image. Images have structure that a network can exploit directly: nearby pixels matter
# most, and the same local pattern (an edge, the end of a stroke) can appear anywhere. Convolutions and
# two-dimensional recurrences are built for exactly that.
#
# Two papers by van den Oord and colleagues (2016) turned this into autoregressive image models:
# *Pixel Recurrent Neural Networks* introduced the **PixelRNN** (with its **Row LSTM** and **Diagonal BiLSTM** layers)
# and the **PixelCNN**, and *Conditional Image Generation with PixelCNN Decoders* introduced the **gated PixelCNN**,
# which repairs a flaw of the first PixelCNN and conditions on a class label. This chapter
#
# 1. writes the chain rule over the pixels of an image, colour channel by colour channel;
# 2. explains the PixelRNN's Row LSTM and Diagonal BiLSTM, and why their likelihood is sequential;
# 3. builds the **masks A and B** of a masked convolution by hand, and checks a hand-written masked convolution (and
#    a whole hand-written PixelCNN) against `arlib`;
# 4. measures **receptive fields with gradients**: the PixelCNN's **blind spot**, and its removal by the gated
#    PixelCNN's vertical and horizontal stacks;
# 5. scores PixelCNN, gated PixelCNN and PixelRNN on binarized MNIST beside the published table, samples from
#    them and **completes half-images**;
# 6. trains a **class-conditional** gated PixelCNN and uses it both to draw chosen digits and to classify;
# 7. uses the likelihood to **detect corrupted inputs** (the PixelDefend idea), with ROC curves;
# 8. times the sequential PixelRNN against the parallel PixelCNN.
#
# ## Images as sequences: raster order and colours
#
# An image $x$ with $C$ colour channels, $H$ rows and $W$ columns is read like a page of text: row by row from the
# top, left to right within a row (the **raster scan**). Pixel $x_{ij}$ is therefore predicted from all the rows
# above it and from the pixels to its left in its own row, which we write $x_{<ij}$. For a colour image each pixel
# holds three values, and they are ordered too, red before green before blue:
#
# $$
# p(x) = \prod_{i=1}^{H} \prod_{j=1}^{W} p(x_{ij}^R \mid x_{<ij})\; p(x_{ij}^G \mid x_{<ij}, x_{ij}^R)\;
# p(x_{ij}^B \mid x_{<ij}, x_{ij}^R, x_{ij}^G).
# $$
#
# Each factor is a **categorical** distribution over the 256 intensities $\{0, \dots, 255\}$, a 256-way softmax.
# The PixelRNN paper chose the softmax over a continuous density on purpose: it makes no assumption about the
# shape of the distribution, which can be skewed or have several modes (a pixel on the edge of an object may be
# either dark or light, but rarely in between). A $32 \times 32$ colour image has $3 \cdot 32 \cdot 32 = 3072$ such factors. Binarized MNIST is the
# special case $C = 1$ with 2 values per pixel; a 2-way softmax is a sigmoid, and each factor a Bernoulli.
#
# The picture shows the raster order on a small grid, and the pixels a conditional may use: everything before the
# target pixel (red), which for a pixel in the middle of a digit is the whole upper half and a bit more.
#
# The chapter's models are {py:class}`arlib.models.PixelRNN`,
# {py:class}`arlib.models.PixelCNN` and {py:class}`arlib.models.GatedPixelCNN`.

# %%
import math
import time

import matplotlib.pyplot as plt
import torch.nn.functional as F
from IPython.display import HTML
from matplotlib.colors import ListedColormap
from matplotlib.patches import Rectangle

import arlib
from arlib import data, plot, pretrained, train
from arlib.book import glue
from arlib.models import GatedPixelCNN, PixelCNN, PixelRNN
from arlib.models.pixelcnn import MaskedConv2d, raster_mask

generator = arlib.seed(SEED)
if QUICK:  # CPU demo: small models, where one thread is fastest and reproducible
    torch.set_num_threads(1)
device = arlib.device()
x_train = data.load("binarized_mnist", "train").view(-1, 1, 28, 28)
x_valid = data.load("binarized_mnist", "valid").view(-1, 1, 28, 28)
x_test = data.load("binarized_mnist", "test").view(-1, 1, 28, 28)
subset = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(SEED))[:N_TEST]  # random test digits
print(f"binarized MNIST as images: train {tuple(x_train.shape)}, valid {tuple(x_valid.shape)}, "
      f"test {tuple(x_test.shape)}")

CONTEXT_COLOURS = ListedColormap(["white", "#9ecae1", "#d62728"])  # later pixel, earlier pixel, the target
grid_h, grid_w, target = 6, 7, (3, 2)
position = torch.arange(grid_h * grid_w).reshape(grid_h, grid_w)  # raster index of each pixel
status = (position < position[target]).long()  # 1 for the context x_<ij
status[target] = 2
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
axes[0].imshow(status, cmap=CONTEXT_COLOURS, vmin=0, vmax=2)
for (r, c), value in zip(torch.cartesian_prod(torch.arange(grid_h), torch.arange(grid_w)).tolist(),
                         position.flatten().tolist(), strict=True):
    axes[0].text(c, r, value + 1, ha="center", va="center", fontsize=9)
axes[0].set_title(f"raster order; the context of pixel {position[target].item() + 1}")
digit = x_test[0, 0].float()
centre = (14, 14)
before = (torch.arange(784).reshape(28, 28) < 14 * 28 + 14).float()
axes[1].imshow(digit, cmap="gray_r")
axes[1].imshow(before, cmap="Blues", alpha=0.35)
axes[1].add_patch(Rectangle((centre[1] - 0.5, centre[0] - 0.5), 1, 1, color="#d62728"))
axes[1].set_title("a test digit: the context of pixel (14, 14) in blue")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# Every model in this chapter computes the same factorisation; they differ in the network that turns $x_{<ij}$ into
# the logits of $p(x_{ij} \mid x_{<ij})$. In `arlib` they share the base class `ImageModel`: it takes integer
# images of shape $(B, C, H, W)$, scales the pixels to $[-1, 1]$ as network input, expects logits of shape
# $(B, K, C, H, W)$ back (one $K$-way softmax per channel of every pixel), and adds up the log-probabilities of
# the observed values. The whole problem is to build networks whose logits at $(c, i, j)$ never depend on the
# input at $(c, i, j)$ or later. (API: {py:class}`arlib.models.ImageModel`.)
#
# ## PixelRNN: LSTMs that run over an image
#
# The first answer was recurrent: run an LSTM (chapter 7) over the image. A one-dimensional LSTM over all 784
# pixels in raster order would work, but it would take 784 sequential steps per layer, and the pixel just above
# $(i, j)$ would be 28 steps back in its memory. The PixelRNN paper proposed two *two-dimensional* LSTM layers that
# compute many states at once.
#
# **Row LSTM.** The image is processed one **row** at a time, top to bottom, and all the states of a row are computed
# together with one-dimensional convolutions. With $u_i$ the input features of row $i$ and $h_{i-1}, c_{i-1}$ the
# hidden and cell states of the row above (zero above the image),
#
# $$
# [o_i, f_i, \iota_i, g_i] = \sigma\big(K^{ss} \circledast h_{i-1} + K^{is} \circledast u_i\big), \qquad
# c_i = f_i \odot c_{i-1} + \iota_i \odot g_i, \qquad h_i = o_i \odot \tanh(c_i),
# $$
#
# where $\sigma$ is the logistic sigmoid for the gates $o, f, \iota$ and $\tanh$ for the content $g$. The
# **state-to-state** kernel $K^{ss}$ (width 3, no mask) reads the states of the row above at columns $j-1, j, j+1$;
# the **input-to-state** kernel $K^{is}$ (width 3) is masked like a mask-B convolution (below): it reads the input
# features at $(i, j-1)$ and $(i, j)$, which themselves hold only pixels before $(i, j)$. Because the state at $(i-1, j+1)$
# already saw $(i-2, j+2)$, the context of $h_{ij}$ is a **triangle** opening upwards: one more column on each side
# per row. Pixels far to the right in the rows just above are outside it, although they come earlier in raster order.
#
# **Diagonal BiLSTM.** To capture the whole context, the second kind of layer runs along **diagonals**. It first **skews**
# the image: row $i$ is shifted $i$ positions to the right, so that the pixels with the same $i + j$, an
# anti-diagonal of the image, end up in the same column. A column LSTM then runs left to right over the skewed map.
# Its state-to-state kernel is $2 \times 1$: it reads the previous column at the same height and one row up, that is,
# in the original image, the pixel to the **left** $(i, j-1)$ and the pixel **above** $(i-1, j)$. By recursion each
# state sees everything above and to the left. A second LSTM runs over the mirrored image (right to left), its output
# shifted down by one row so that it only brings in pixels of rows above; the two are added. The input-to-state
# map is a $1 \times 1$ convolution with mask B. Together they see the **entire** context $x_{<ij}$, at any distance.
# Here is the skew of a small grid of numbered pixels:

# %%
def skew(image: torch.Tensor) -> torch.Tensor:
    """Shift row i of an (H, W) image i places to the right: (H, W + H − 1), NaN where nothing is."""
    H, W = image.shape
    out = torch.full((H, W + H - 1), float("nan"))
    for i in range(H):
        out[i, i: i + W] = image[i]
    return out


small = torch.arange(1, 4 * 5 + 1, dtype=torch.float).reshape(4, 5)
skewed = skew(small)
diagonal = torch.arange(4)[:, None] + torch.arange(5)[None, :]  # i + j: which anti-diagonal a pixel is on
diagonal_skewed = torch.where(skewed.isnan(), float("nan"), torch.arange(8.0).expand(4, 8))  # column t holds i + j = t
fig, axes = plt.subplots(1, 2, figsize=(10, 2.6), gridspec_kw={"width_ratios": [5, 8]})
for ax, grid, colour, title in ((axes[0], small, diagonal.float(), "image (raster numbers), coloured by i + j"),
                                (axes[1], skewed, diagonal_skewed, "skewed: each column is one anti-diagonal")):
    ax.imshow(colour, cmap="Pastel1", vmin=0, vmax=8)
    for (r, c) in torch.cartesian_prod(torch.arange(grid.shape[0]), torch.arange(grid.shape[1])).tolist():
        if not math.isnan(grid[r, c]):
            ax.text(c, r, int(grid[r, c]), ha="center", va="center")
    ax.set_xticks(range(grid.shape[1]))
    ax.set_yticks(range(grid.shape[0]))
    ax.set_title(title)
plt.tight_layout()
plt.show()
print("column 3 of the skewed grid holds pixels", [int(v) for v in skewed[:, 3].tolist() if not math.isnan(v)],
      "(all with i + j = 3)")

# %% [markdown]
# **The price: sequential likelihood.** During training every pixel is known (teacher forcing), so a model could in
# principle compute all conditionals at once. The recurrences forbid it: a Row LSTM layer needs $H$ steps one after
# the other (row $i$ waits for row $i-1$), a Diagonal BiLSTM layer $H + W - 1$ steps (one per diagonal), and a
# layer stacked on top cannot start before the one below has finished. The Diagonal BiLSTM gave the best published
# binarized-MNIST result, 79.20 nats, and the Row LSTM 80.54, but both are slow to train on parallel hardware.
# `arlib.models.PixelRNN` implements the Row LSTM: a $7 \times 7$ mask-A convolution (explained next) followed by
# residual Row LSTM layers. We measure its receptive field and its speed later in the chapter.
#
# ## PixelCNN: masked convolutions
#
# The **PixelCNN**, proposed in the same paper, drops the recurrence. It is a stack of ordinary convolutions over
# the whole image, without pooling, so the output has one position per pixel, and it computes every conditional in
# **one parallel pass**. Ordinary convolutions would see the future, so each kernel is multiplied by a fixed 0/1
# **mask** that zeroes every weight reading a later pixel: the rows below the centre, and the positions right of the
# centre in the centre row. The centre itself needs care:
#
# - **Mask A**, for the **first** layer, also zeroes the centre: the input at $(i, j)$ is the pixel we are about to
#   predict, and the prediction must not see it.
# - **Mask B**, for **every later** layer, keeps the centre: the feature at $(i, j)$ computed by the layer below
#   already excludes $x_{ij}$, so reading it is safe, and it carries everything the lower layers gathered.
#
# With colours, the centre is split further. The feature maps are divided into three groups, R, G and B; at the
# centre tap, mask A lets colour group $g$ read the input colours strictly before it ($g' < g$: G reads R, B reads
# R and G, R reads nothing) and mask B the colours up to and including it ($g' \le g$). We build both masks by hand.
# (The library's are {py:func}`arlib.models.pixelcnn.raster_mask` and
# {py:class}`arlib.models.pixelcnn.MaskedConv2d`.)

# %%
def causal_mask(k: int, kind: str) -> torch.Tensor:
    """The k × k spatial mask: 1 above the centre row and left of the centre; the centre only for mask B."""
    mask = torch.zeros(k, k)
    mask[: k // 2] = 1
    mask[k // 2, : k // 2] = 1
    if kind == "B":
        mask[k // 2, k // 2] = 1
    return mask


def colour_of(n_channels: int, n_colours: int) -> torch.Tensor:
    """The colour group of each of n_channels feature maps: contiguous blocks, R first."""
    return torch.arange(n_channels) * n_colours // n_channels


def full_mask(c_in: int, c_out: int, k: int, kind: str, n_colours: int = 1) -> torch.Tensor:
    """The (c_out, c_in, k, k) mask of a masked convolution, colour groups at the centre tap."""
    mask = causal_mask(k, "A").expand(c_out, c_in, k, k).clone()
    g_in, g_out = colour_of(c_in, n_colours)[None, :], colour_of(c_out, n_colours)[:, None]
    mask[:, :, k // 2, k // 2] = (g_in < g_out).float() if kind == "A" else (g_in <= g_out).float()
    return mask


same = all(torch.equal(full_mask(c_in, c_out, k, kind, colours), raster_mask(c_in, c_out, (k, k), kind, colours))
           for c_in, c_out, k, kind, colours in [(1, 16, 7, "A", 1), (16, 16, 3, "B", 1), (3, 12, 5, "A", 3),
                                                 (12, 12, 3, "B", 3), (12, 6, 1, "B", 3)])
print("our masks == arlib.models.pixelcnn.raster_mask for five layer shapes:", same)

fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), gridspec_kw={"width_ratios": [1, 1, 0.8, 0.8]})
for ax, kind in zip(axes[:2], "AB", strict=True):
    mask = causal_mask(5, kind)
    ax.imshow(mask, cmap="Blues", vmin=0, vmax=1.3)
    for r, c in torch.cartesian_prod(torch.arange(5), torch.arange(5)).tolist():
        ax.text(c, r, int(mask[r, c]), ha="center", va="center", color="white" if mask[r, c] else "black")
    ax.add_patch(Rectangle((1.5, 1.5), 1, 1, fill=False, edgecolor="#d62728", lw=2.5))
    ax.set_title(f"mask {kind}, 5 × 5 (centre in red)")
    ax.set_xticks([])
    ax.set_yticks([])
for ax, kind in zip(axes[2:], "AB", strict=True):
    centre_tap = full_mask(3, 3, 1, kind, 3)[:, :, 0, 0]
    ax.imshow(centre_tap, cmap="Blues", vmin=0, vmax=1.3)
    ax.set_xticks(range(3), ["R", "G", "B"])
    ax.set_yticks(range(3), ["R", "G", "B"])
    ax.set_xlabel("input colour")
    ax.set_ylabel("output colour")
    ax.set_title(f"mask {kind} at the centre")
plt.tight_layout()
plt.show()

# %% [markdown]
# The two left panels are the spatial masks: the upper half plus the left half of the centre row, and for mask B
# the centre as well. The two right panels are the centre taps between colour groups: mask A is strictly
# lower-triangular (R sees nothing of its own pixel), mask B includes the diagonal.
#
# A masked convolution is then one line: multiply the weights by the mask and convolve, with zero padding so that
# the output keeps the image's size. We apply ours and `arlib`'s `MaskedConv2d` (a $7 \times 7$ mask-A layer with 16
# output channels, as in the first layer of the PixelCNN) to a digit, with the same weights:

# %%
def masked_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A 'same'-size convolution whose kernel is multiplied by a 0/1 mask."""
    return F.conv2d(x, weight * mask, bias, padding=mask.shape[-1] // 2)


torch.manual_seed(SEED)
layer = MaskedConv2d(raster_mask(1, 16, (7, 7), "A"))
inputs = x_test[:4].float() * 2 - 1  # pixels {0, 1} -> network inputs {-1, +1}, as ImageModel.scale does
with torch.no_grad():
    ours = masked_conv(inputs, layer.weight, layer.bias, full_mask(1, 16, 7, "A"))
    print("our masked convolution == arlib's MaskedConv2d:", torch.allclose(ours, layer(inputs), atol=1e-6))
    changed = inputs.clone()
    changed[:, :, 14, 14] *= -1  # flip pixel (14, 14)
    moved = (masked_conv(changed, layer.weight, layer.bias, full_mask(1, 16, 7, "A")) - ours).abs().amax((0, 1)) > 0
print("outputs that change when pixel (14, 14) is flipped: rows", sorted(set(moved.nonzero()[:, 0].tolist())),
      "| any at or before (14, 14) in raster order:", bool(moved.flatten()[: 14 * 28 + 15].any()))

# %% [markdown]
# Flipping pixel $(14, 14)$ changes only outputs at later positions: those to its right in row 14 and those in the
# three rows below, within the kernel's reach. One layer is autoregressive; a stack of mask-A and mask-B layers
# stays so, because each layer keeps "position $(i, j)$ depends on inputs before $(i, j)$ only".
#
# With colours the same check can be done on the colour order. A tiny PixelCNN on $3 \times 5 \times 5$ images,
# random weights: for the prediction of each colour of the centre pixel, which inputs at the centre pixel itself
# carry a nonzero gradient? (The gradient method is explained with the blind spot below.)

# %%
torch.manual_seed(SEED)
rgb_model = PixelCNN((3, 5, 5), n_categories=4, hidden_channels=6, n_layers=3, first_kernel_size=3)
print("prediction of   sees R, G, B of its own pixel")
for c, name in enumerate("RGB"):
    seen = rgb_model.receptive_field_map(2, 2, channel=c)[:, 2, 2] > 0
    print(f"  {name} at (2, 2)    {[int(s) for s in seen.tolist()]}")

# %% [markdown]
# Red is predicted from earlier pixels only, green also from the red value of its own pixel, blue from red and
# green: the factorisation $p(R)\,p(G \mid R)\,p(B \mid R, G)$, enforced by the masks.
#
# **The PixelCNN network.** The paper's layout, which `arlib.models.PixelCNN(image_shape, n_categories,
# hidden_channels, n_layers)` follows, is
#
# 1. a $7 \times 7$ convolution with mask A (a large first kernel gives a wide context from the start);
# 2. $n_\text{layers} - 1$ residual layers $h \leftarrow h + \mathrm{conv}_{3 \times 3}^{B}\big(\mathrm{ReLU}(h)\big)$;
# 3. a $1 \times 1$ mask-B convolution of $\mathrm{ReLU}(h)$ giving $K$ logits per channel (the paper uses two
#    ReLU + $1 \times 1$ layers at the end, and a sigmoid output for binarized MNIST, which is our 2-way softmax).
#
# **Training is parallel**: one pass over a batch of images gives all $H \cdot W \cdot C$ conditionals, and the loss
# is the summed cross-entropy $-\sum_{c,i,j} \log p(x_{c,ij} \mid \cdot)$, exactly as for MADE in chapter 6.
# **Sampling is not**: pixel $(i, j)$ must be drawn before the network can compute the conditional of $(i, j+1)$, so
# a sample takes $H \cdot W \cdot C$ passes (784 for a digit).
#
# ## The blind spot, measured with gradients
#
# Which inputs does the prediction at $(i, j)$ actually depend on? A direct way to find out is to differentiate:
# if $\partial\, \text{logits}_{ij} / \partial x_{ab}$ is nonzero for some input, the prediction depends on pixel
# $(a, b)$; if it is exactly zero for every input, no path through the network connects them. `receptive_field_map`
# computes $\big|\partial (\text{logits}_{ij})^2 / \partial x\big|$ summed over 32 random input images (random, so
# that no path is silent by accident).
#
# Stack masked $3 \times 3$ layers and watch the field grow. A mask-B kernel reaches one pixel further left, and one
# row further up; it reaches one pixel further **right only by also going one row up** (its right column exists
# only in the row above the centre). After $L$ layers the field should be the square of radius $L$ above and left of
# the target; instead a wedge of pixels up and to the right is never reached, although they come earlier in raster
# order: the **blind spot**. We use $3 \times 3$ kernels throughout (also in the first layer) to make the wedge
# plain, and compare with the gated PixelCNN (next section) with the same kernels and depth.

# %%
def nominal_field(shape: tuple[int, int], row: int, col: int, reach: int) -> torch.Tensor:
    """The earlier pixels within `reach`: the rows above (± reach columns) and the pixels left in the row."""
    box = torch.zeros(shape, dtype=torch.bool)
    box[max(0, row - reach): row, max(0, col - reach): col + reach + 1] = True
    box[row, max(0, col - reach): col] = True
    return box


def field_panel(ax, seen: torch.Tensor, box: torch.Tensor, pixel: tuple[int, int], title: str) -> None:
    """Seen pixels dark blue, blind pixels of the nominal field orange, the target red."""
    picture = torch.zeros(seen.shape)
    picture[box & ~seen] = 1
    picture[seen] = 2
    picture[pixel] = 3
    ax.imshow(picture, cmap=ListedColormap(["white", "#fdae6b", "#3182bd", "#d62728"]), vmin=0, vmax=3)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


toy_shape, toy_pixel, depths = (1, 10, 13), (8, 6), [1, 2, 3, 4]
fig, axes = plt.subplots(2, len(depths), figsize=(2.8 * len(depths), 5.4))
blind_counts = {"PixelCNN": [], "gated PixelCNN": []}
for col, n_layers in enumerate(depths):
    torch.manual_seed(SEED)
    toys = {"PixelCNN": PixelCNN(toy_shape, 2, 8, n_layers, kernel_size=3, first_kernel_size=3),
            "gated PixelCNN": GatedPixelCNN(toy_shape, 2, 8, n_layers, kernel_size=3)}
    box = nominal_field(toy_shape[1:], *toy_pixel, reach=n_layers)
    for row, (name, toy) in enumerate(toys.items()):
        seen = toy.receptive_field_map(*toy_pixel)[0] > 0
        assert not (seen & ~box).any()  # never outside the nominal field (and never the future)
        blind_counts[name].append(int((box & ~seen).sum()))
        field_panel(axes[row, col], seen, box, toy_pixel,
                    f"{name}, {n_layers} layer{'s' if n_layers > 1 else ''}\n{blind_counts[name][-1]} blind pixels")
plt.suptitle("receptive field of the prediction at the red pixel (blue: seen, orange: earlier and within reach, "
             "but never seen)", fontsize=10)
plt.tight_layout()
plt.show()
print("blind pixels per depth:", blind_counts)
glue("blind_pixels_4_layers", blind_counts["PixelCNN"][-1])

# %% [markdown]
# With one layer both models see the same 4 pixels. From two layers on, the PixelCNN misses a growing triangle above
# and to the right ({glue:text}`blind_pixels_4_layers` pixels after four layers), and more layers never fill it in:
# every path to those pixels would have to step right more often than up. The gated PixelCNN sees its whole nominal
# field at every depth. In a real PixelCNN the first kernel is $7 \times 7$, which moves the wedge three columns to
# the right but does not close it (we will see it in the trained model below). The paper's Row LSTM has a related
# gap (its triangle), and only the Diagonal BiLSTM sees the full context.
#
# ### Explore: any pixel, any depth
#
# Choose the predicted pixel and the number of layers; the two panels are the figure above for that choice.
# **Try** the pixel near the right edge at 5 layers, and the second row at any depth.
# **Notice** that the PixelCNN's wedge is cut off by the right border (pixels near it lose little), that in the
# second row there is only one row above to miss, and that however deep you go the gated model's orange count
# stays at zero.

# %%
from arlib.widgets import explore

PIXELS = {"(8, 6) middle": (8, 6), "(8, 11) near the right edge": (8, 11),
          "(1, 6) second row": (1, 6)}


def field_view(pixel: str, n_layers: int):
    """Receptive fields of the toy PixelCNN and gated PixelCNN at one pixel."""
    target = PIXELS[pixel]
    torch.manual_seed(SEED)
    toys = {"PixelCNN": PixelCNN(toy_shape, 2, 8, n_layers, kernel_size=3,
                                 first_kernel_size=3),
            "gated PixelCNN": GatedPixelCNN(toy_shape, 2, 8, n_layers,
                                            kernel_size=3)}
    box = nominal_field(toy_shape[1:], *target, reach=n_layers)
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.9))
    for ax, (name, toy) in zip(axes, toys.items(), strict=True):
        seen = toy.receptive_field_map(*target)[0] > 0
        field_panel(ax, seen, box, target,
                    f"{name}, {n_layers} layers\n"
                    f"{int((box & ~seen).sum())} blind pixels")
    fig.tight_layout()
    return fig


explore(field_view, pixel=list(PIXELS), n_layers=[1, 2, 3, 5],
        description="pixel and depth -> receptive field, PixelCNN against gated")

# %% [markdown]
#
# ## The gated PixelCNN: two stacks and gates
#
# *Conditional Image Generation with PixelCNN Decoders* fixed the blind spot by splitting the masked kernel into
# two stacks of feature maps that are computed side by side (here with $k \times k$ kernels and
# $r = \lfloor k/2 \rfloor$):
#
# - the **vertical stack** $v$ looks only at **rows above**: a $k \times k$ kernel whose lower part is cut off. In
#   the first layer it covers the $r$ rows above the centre; in later layers it also covers the centre row, which is
#   safe because $v$ there already depends on rows above only. Nothing restricts it to the left, so after $L$
#   layers $v_{ij}$ sees the full block of rows $i - Lr, \dots, i-1$, columns $j - Lr, \dots, j + Lr$: no wedge.
# - the **horizontal stack** $h$ looks at the **current row**, left of the centre, with a $1 \times k$ kernel (its
#   centre masked like mask A in the first layer, mask B later), and receives $v$ at the same position through a
#   $1 \times 1$ convolution. It adds the pixels to the left of $(i, j)$ that $v$ cannot see.
#
# The horizontal stack feeds the output; the vertical stack never reads the horizontal one (that would leak the
# current row into "rows above"). The ReLU units are replaced by **gated** units, as in the LSTM,
#
# $$
# y = \tanh(W_{f} * x) \odot \sigma(W_{g} * x),
# $$
#
# where each convolution produces twice the channels, half for the "filter" $f$ and half for the "gate" $g$. The
# horizontal stack also has a residual connection, $h \leftarrow h + W_r\, y_h$ (from the second layer on). In
# `arlib`, `GatedPixelCNN(image_shape, n_categories, hidden_channels, n_layers, n_classes=None, kernel_size=3)`
# implements this, with a $1 \times 1$ mask-B output layer as in the PixelCNN.
#
# ## The three models on binarized MNIST
#
# Three models trained on binarized MNIST (digits as $1 \times 28 \times 28$ images) ship with the book. On a CPU we
# load them; a model that is not (yet) shipped is replaced by a small stand-in trained on this page for a few
# seconds, and the output says so. On a GPU (`QUICK = False`) the page trains larger models from scratch in the
# paper's layout: PixelCNN and gated PixelCNN with 64 channels and 12 layers, and a Row LSTM PixelRNN with 7 layers
# of 16 units, the size of the paper's best binarized-MNIST model (a Diagonal BiLSTM).

# %%
SHAPE = (1, 28, 28)
MODELS = {  # label: (shipped name, class, GPU size, stand-in size)
    "PixelCNN": ("pixelcnn-binarized-mnist", PixelCNN, dict(hidden_channels=GPU_CHANNELS, n_layers=GPU_LAYERS),
                 dict(hidden_channels=16, n_layers=4)),
    "gated PixelCNN": ("gated-pixelcnn-binarized-mnist", GatedPixelCNN,
                       dict(hidden_channels=GPU_CHANNELS, n_layers=GPU_LAYERS), dict(hidden_channels=16, n_layers=4)),
    "PixelRNN (Row LSTM)": ("pixelrnn-binarized-mnist", PixelRNN, dict(hidden_channels=16, n_layers=7),
                            dict(hidden_channels=16, n_layers=1)),
}
models, histories, shipped = {}, {}, {}
for label, (name, cls, gpu_size, standin_size) in MODELS.items():
    shipped[label] = name in pretrained.available()
    if not QUICK:
        arlib.seed(SEED)
        model = cls(SHAPE, 2, **gpu_size)
        histories[label] = train.fit(model, x_train[:TRAIN_IMAGES], x_valid[:VALID_IMAGES], epochs=EPOCHS,
                                     batch_size=64, lr=1e-3,
                                     patience=3, seed=SEED, device=device,
                                     checkpoint=f"{CHECKPOINTS}/08_{name.split('-binarized')[0]}.pt")
        print(f"{label}: trained here, {gpu_size}, {histories[label].epochs} epochs, best validation NLL "
              f"{histories[label].best_valid_nll:.2f}")
    elif shipped[label]:
        model = pretrained.load(name, device)
        meta = pretrained.info(name)
        if "history" in meta:
            histories[label] = train.History(**meta["history"])
        print(f"{label}: shipped {name} {meta['config']}, trained with {meta['command']!r} in "
              f"{meta['train_seconds'] / 60:.0f} min; its sidecar records test NLL {meta['metrics']['test_nll']:.2f}")
    else:
        arlib.seed(SEED)
        model = cls(SHAPE, 2, **standin_size)
        train.fit(model, x_train[: STANDIN_STEPS * 32], epochs=1, batch_size=32, lr=3e-3, seed=SEED, device=device)
        print(f"{label}: {name} is not shipped, so a small stand-in {standin_size} was trained here for "
              f"{STANDIN_STEPS} Adam steps of 32 digits: its numbers and samples are only an illustration")
    models[label] = model.eval()
    glue(f"{name.split('-binarized')[0].replace('-', '_')}_params", model.n_parameters())
print({label: f"{model.n_parameters():,} parameters" for label, model in models.items()})

# %% [markdown]
# Learning curves, where they were recorded (the shipped models' sidecars keep the training and validation NLL of
# every epoch; the stand-ins have none):

# %%
curves = {label: history for label, history in histories.items() if len(history.valid_nll) > 1}
if curves:
    ax = plot.loss_curves(curves)
    ax.set_title("binarized MNIST: training (dashed) and validation (solid) NLL")
    plt.show()
else:
    print("no learning curves recorded for these models")

# %% [markdown]
# Before using the models, one more check of our understanding: a PixelCNN written by hand with *our* masks and
# `masked_conv`, reading the weights of the PixelCNN above, must give the same log-likelihood as the library:
# inputs scaled to $\pm 1$, a mask-A layer, residual mask-B layers with ReLU, $1 \times 1$ logits and the
# cross-entropy summed over the 784 pixels.

# %%
def our_pixelcnn_log_prob(model: PixelCNN, x: torch.Tensor) -> torch.Tensor:
    """log p(x) of binary (B, 1, 28, 28) images, computed from model's weights with our own masks."""
    hidden, k1, k = model.first.weight.shape[0], model.first.weight.shape[-1], model.config["kernel_size"]
    mask_a, mask_b, mask_out = (full_mask(1, hidden, k1, "A").to(x.device), full_mask(hidden, hidden, k, "B").to(x.device),
                                full_mask(hidden, 2, 1, "B").to(x.device))
    h = masked_conv(x.float() * 2 - 1, model.first.weight, model.first.bias, mask_a)  # inputs scaled to ±1
    for conv in model.convs:
        h = h + masked_conv(F.relu(h), conv.weight, conv.bias, mask_b)
    logits = masked_conv(F.relu(h), model.out.weight, model.out.bias, mask_out)  # (B, 2, H, W)
    return -F.cross_entropy(logits, x[:, 0].long(), reduction="none").sum((1, 2))


pixelcnn = models["PixelCNN"]
with torch.no_grad():
    x_check = x_test[:16].to(device)
    print("our hand-written PixelCNN == PixelCNN.log_prob:",
          torch.allclose(our_pixelcnn_log_prob(pixelcnn, x_check), pixelcnn.log_prob(x_check), atol=1e-3))

# %% [markdown]
# ### What one pass computes
#
# One forward pass over a test digit gives all 784 conditionals $p(x_{ij} = 1 \mid x_{<ij})$ at once. Plotted as an
# image, they show what the model expects at each pixel given everything before it; next to them is the **surprise**
# $-\log p(x_{ij} \mid x_{<ij})$ of the value that actually occurred, whose sum is the digit's NLL.

# %%
gated = models["gated PixelCNN"]
with torch.no_grad():
    example = x_test[subset[:3]].to(device)
    p_ink = torch.softmax(gated.logits(example), dim=1)[:, 1, 0].cpu()  # (3, 28, 28): p(x_ij = 1 | x_<ij)
    surprise = F.cross_entropy(gated.logits(example), example.long(), reduction="none")[:, 0].cpu()
    total = gated.log_prob(example).cpu()
print("sum of the per-pixel surprise == -log_prob:", torch.allclose(surprise.sum((1, 2)), -total, atol=1e-3))
fig, axes = plt.subplots(3, 3, figsize=(7, 7.2))
for k in range(3):
    axes[k, 0].imshow(example[k, 0].cpu(), cmap="gray_r")
    axes[k, 1].imshow(p_ink[k], cmap="gray_r", vmin=0, vmax=1)
    im = axes[k, 2].imshow(surprise[k], cmap="magma_r", vmin=0, vmax=5)
    axes[k, 0].set_ylabel(f"NLL {-total[k]:.1f} nats")
    for ax in axes[k]:
        ax.set_xticks([])
        ax.set_yticks([])
for ax, title in zip(axes[0], ["test digit", "$p(x_{ij} = 1 \\mid x_{<ij})$", "surprise (nats)"], strict=True):
    ax.set_title(title)
fig.colorbar(im, ax=axes[:, 2], shrink=0.6)
plt.show()

# %% [markdown]
# For a trained model the probability map is a blurred, slightly "ahead of time" version of the digit: where a stroke
# has started, the model expects it to continue downwards. The surprise is concentrated where a stroke **begins** (the
# first ink pixel of the digit, a new stroke appearing in a row) and along stroke **edges**, where it is unclear
# whether the line is one pixel wider; the blank background costs almost nothing.
#
# ### Receptive fields of the trained models
#
# The same gradient measurement on the three binarized-MNIST models, at pixel $(20, 14)$, on a logarithmic colour
# scale (white: exactly zero).

# %%
def reach(model) -> int | None:
    """How far (in rows up, and columns either way) a convolutional model's field could extend; None for PixelRNN."""
    config = model.config
    if isinstance(model, PixelCNN):
        return config["first_kernel_size"] // 2 + (config["n_layers"] - 1) * (config["kernel_size"] // 2)
    if isinstance(model, GatedPixelCNN):
        return config["n_layers"] * (config["kernel_size"] // 2)
    return None


probe = (20, 14)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
for ax, (label, model) in zip(axes, models.items(), strict=True):
    grad = model.receptive_field_map(*probe)[0].cpu()
    shown = torch.where(grad > 0, grad.clamp_min(1e-30).log10(), torch.tensor(float("nan")))
    ax.imshow(shown, cmap="viridis")
    ax.add_patch(Rectangle((probe[1] - 0.5, probe[0] - 0.5), 1, 1, color="#d62728"))
    title = f"{label}\n{int((grad > 0).sum())} pixels seen"
    if reach(model) is not None:
        box = nominal_field((28, 28), *probe, reach(model))
        ax.add_patch(Rectangle((probe[1] - reach(model) - 0.5, probe[0] - reach(model) - 0.5), 2 * reach(model) + 1,
                               reach(model) + 1, fill=False, edgecolor="0.4", ls="--"))
        title += f", {int((box & (grad == 0)).sum())} blind within reach {reach(model)}"
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
plt.suptitle("log10 |gradient| of the prediction at the red pixel (dashed: the rows and columns within reach)",
             fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# The PixelCNN's field is the wedge predicted above, widened by the $7 \times 7$ first layer: the pixels up and to
# the right beyond it are invisible however deep the network. The gated PixelCNN sees a full rectangle above the
# pixel and the row to its left. The Row LSTM sees the triangle that widens upwards, all the way to the top of the
# image (the recurrence carries information over any number of rows), with a blind region at the sides of the rows
# just above. The colours also show that the gradients are largest close to the target: nearby pixels matter most.
#
# ## Likelihoods: our models beside the published table
#
# The PixelRNN paper's binarized-MNIST table (test NLL in nats per image; ≈ marks values that are estimates for
# latent-variable models, ≤ an upper bound) is cited below, followed by what we measure on this page. Every model is
# scored on the same {glue:text}`n_test` test digits, drawn at random (the test file is ordered in long runs of
# similar digits, so its first images would be a biased sample), with one standard error; chapter 4's NADE and
# chapter 6's MADE are scored on the same digits, and their full-test-set numbers from the sidecars are printed too.

# %%
glue("n_test", N_TEST)


def nll_per_image(model, x: torch.Tensor) -> torch.Tensor:
    """-log p(x) in nats for every image, batch by batch, on the CPU in float64."""
    return -train.log_probs(model, x, 100)


scores = {label: nll_per_image(model, x_test[subset]) for label, model in models.items()}
for label, name in (("NADE (chapter 4)", "nade-binarized-mnist"), ("MADE, 1 mask (chapter 6)", "made-binarized-mnist")):
    baseline = pretrained.load(name, device)
    scores[label] = nll_per_image(baseline, x_test[subset].view(-1, 784))  # these models read flat 784-vectors
    glue(f"{name.split('-')[0]}_params", baseline.n_parameters())
full_test = {"NADE (chapter 4)": pretrained.info("nade-binarized-mnist")["metrics"]["test_nll"],
             "MADE, 1 mask (chapter 6)": pretrained.info("made-binarized-mnist")["metrics"]["test_nll"]}
for label in models:
    if QUICK and shipped[label]:
        full_test[label] = pretrained.info(MODELS[label][0])["metrics"]["test_nll"]
    elif not QUICK and N_TEST == len(x_test):  # trained on this page and scored on every test digit
        full_test[label] = scores[label].mean().item()

published = [("DBM 2hl", "≈ 84.62"), ("DBN 2hl", "≈ 84.55"), ("NADE", "88.33"),
             ("EoNADE 2hl (128 orderings)", "85.10"), ("EoNADE-5 2hl (128 orderings)", "84.68"), ("DLGM", "≈ 86.60"),
             ("DLGM 8 leapfrog steps", "≈ 85.51"), ("DARN 1hl", "≈ 84.13"), ("MADE 2hl (32 masks)", "86.64"),
             ("DRAW", "≤ 80.97"), ("PixelCNN", "81.30"), ("Row LSTM", "80.54"),
             ("Diagonal BiLSTM (1 layer, h = 32)", "80.75"), ("Diagonal BiLSTM (7 layers, h = 16)", "79.20")]
print("published (van den Oord, Kalchbrenner & Kavukcuoglu, 2016), test NLL in nats:")
for model_name, value in published:
    print(f"  {model_name:38s} {value:>8s}")
print(f"\nmeasured on this page, {N_TEST} random test digits (± one standard error); full test set where recorded:")
print(f"  {'model':38s} {'NLL':>8s} {'± se':>6s} {'bits/pixel':>11s} {'full test':>10s}")
for label, nll in scores.items():
    mean, se = nll.mean().item(), (nll.std() / math.sqrt(len(nll))).item()
    full = f"{full_test[label]:10.2f}" if label in full_test else f"{'—':>10s}"
    print(f"  {label:38s} {mean:8.2f} {se:6.2f} {mean / (784 * math.log(2)):11.4f} {full}")
for label, key in (("PixelCNN", "pixelcnn"), ("gated PixelCNN", "gated"), ("PixelRNN (Row LSTM)", "pixelrnn"),
                   ("NADE (chapter 4)", "nade_subset"), ("MADE, 1 mask (chapter 6)", "made_subset")):
    glue(f"{key}_test_nll", round(scores[label].mean().item(), 2))
best = min(models, key=lambda label: scores[label].mean().item())
print(f"\nlowest NLL among the three image models here: {best}")

# %% [markdown]
# On these digits the PixelCNN scores {glue:text}`pixelcnn_test_nll` nats, the gated PixelCNN
# {glue:text}`gated_test_nll` and the Row LSTM PixelRNN {glue:text}`pixelrnn_test_nll`, against
# {glue:text}`nade_subset_test_nll` for NADE and {glue:text}`made_subset_test_nll` for MADE (the first line of each
# model's output above says whether it is a shipped model or a stand-in; a stand-in's number says little). The
# shipped image models were trained for a few epochs on two CPU cores, with far fewer channels and layers than the
# published ones, so they are not expected to reach 80 nats. They are also much smaller than NADE and MADE:
# {glue:text}`pixelcnn_params`, {glue:text}`gated_pixelcnn_params` and {glue:text}`pixelrnn_params` parameters
# against {glue:text}`nade_params` and {glue:text}`made_params`, because a convolution uses the same few weights at
# every position of the image, so the comparison is as much about efficiency as about the best number. The published
# table tells the story at full scale: the image models (PixelCNN, Row LSTM, Diagonal BiLSTM) beat every model that
# treats the digit as a flat vector (NADE, EoNADE, MADE, DARN, the deep belief and Boltzmann machines); only DRAW, a
# latent-variable model that itself draws through a moving spatial window, is in the same range. The model that sees
# the whole context, the Diagonal BiLSTM, is best.
#
# ## Samples
#
# Sampling runs the network 784 times per image, each time drawing one pixel from its conditional and writing it
# into the input. (`arlib` only runs the rows up to the current one, since rows below cannot matter, and draws all
# the uniform random numbers up front, so a sample is a fixed function of the generator's seed.)

# %%
samples = {}
for label, model in models.items():
    samples[label] = model.sample(N_SAMPLES, generator=torch.Generator().manual_seed(SEED)).cpu()
n_cols = min(N_SAMPLES, 4 if N_SAMPLES <= 8 else 8)
fig, axes = plt.subplots(1, len(samples), figsize=(4.2 * len(samples), 4.2 * math.ceil(N_SAMPLES / n_cols) / n_cols + 0.6))
for ax, (label, images) in zip(axes, samples.items(), strict=True):
    plot.show_images(images, n_cols=n_cols, ax=ax, title=label)
plt.show()

# %% [markdown]
# Pixels are never revised once drawn, so the picture of a sample after row $r$ is simply its first $r$ rows. The
# animation replays the gated PixelCNN's samples one row per frame (grey: not drawn yet). Press play.

# %% tags=["nbval-ignore-output"]
frames = []
for row in range(1, 29):
    drawn = (torch.arange(28) < row).float().view(1, 1, 28, 1)
    frames.append([plot.image_grid(samples["gated PixelCNN"] * drawn + 0.3 * (1 - drawn), n_cols=n_cols)])
anim = plot.animate_frames(frames, ["gated PixelCNN, row by row"], interval=120, shape=tuple(frames[0][0].shape))
HTML(plot.animation_html(anim))

# %% [markdown]
# Models of the size shipped here typically draw strokes with the thickness and curvature of handwriting, and
# some recognisable digits. Their receptive fields are local (a few pixels around the target for the convolutional
# models, the upward triangle for the Row LSTM), so global shape is where they fall short: nothing makes the end of
# a stroke agree with a decision taken ten rows higher. The published models, with many more layers, draw
# convincing digits.
#
# ## Completing half-images
#
# An autoregressive model can continue any prefix. Keep the top 14 rows of a test digit, and sample rows 14 to 27
# from the model, conditioned on them: `complete(x, n_rows=14)` starts the sampling loop at pixel $14 \cdot 28$
# instead of 0. Each digit is completed {glue:text}`completions` times with the gated PixelCNN.

# %%
glue("completions", COMPLETIONS)
originals = x_test[subset[:N_COMPLETE]]
half = originals.float().clone()
half[:, :, 14:] = 0.3  # grey: hidden from the model
with torch.no_grad():
    completed = gated.complete(originals.repeat(COMPLETIONS, 1, 1, 1), 14,
                               generator=torch.Generator().manual_seed(SEED)).cpu()
same_top = torch.equal(completed[:, :, :14], originals.repeat(COMPLETIONS, 1, 1, 1)[:, :, :14].long())
print("the given top halves are unchanged:", same_top)
grid = torch.cat([originals.float(), half, completed.float()])
fig, ax = plt.subplots(figsize=(1.2 * N_COMPLETE + 1, 1.2 * (COMPLETIONS + 2) + 0.4))
plot.show_images(grid, n_cols=N_COMPLETE, ax=ax)
ax.set_title("row 1: test digits; row 2: what the model is given;\nbelow: completions", fontsize=10)
plt.show()

# %% [markdown]
# The completions continue the strokes that cross row 14, and different random draws finish the same top half in
# different ways: an upper loop may become a 9 or an 8, an open arc a 3 or a 5. This is sampling from the exact
# conditional $p(x_\text{bottom} \mid x_\text{top})$ of the model; for an autoregressive model that is easy only
# because the given part comes first in the ordering (completing a *left* half would need a model with a
# column-wise ordering).
#
# ## Class-conditional models
#
# To draw a digit of a chosen class we model $p(x \mid y)$. The lectures' recipe: wherever a layer computes
# $W x + w_0$, compute $W x + A\, c$ instead, where $c$ is a vector describing the condition and $A$ is learned. For
# a class label, $c$ is the one-hot vector of $y$, so $A c$ is simply the column of $A$ for class $y$: a learned
# **bias per class and per channel**, added at every position of the image (broadcast spatially), in every layer.
# The gated PixelCNN adds it inside both gates,
#
# $$
# y = \tanh(W_f * x + V_f\, c) \odot \sigma(W_g * x + V_g\, c),
# $$
#
# so the label can switch features on and off everywhere. `GatedPixelCNN(..., n_classes=10)` stores the columns
# $V c$ of every layer in an embedding table; `log_prob(x, y)` and `sample(n, y)` take the labels.
#
# Binarized MNIST has no labels, so the conditional model is trained on MNIST itself, with its labels
# (`data.load("thresholded_mnist")`: the first 55,000 training digits to train, the last 5,000 to validate, the
# 10,000 test digits to report). MNIST's pixels are grey levels 0 to 255; we **binarize by thresholding** at 127
# (a pixel is ink if it is darker than mid-grey). This is not Larochelle's binarized MNIST, whose pixels were
# *sampled* with probability equal to their grey level, so thresholded digits have cleaner edges and their NLLs
# are not comparable with the table above. On a CPU the chapter loads the shipped model (trained by
# `scripts/train_classical.py gated-pixelcnn-conditional`, the same size as the unconditional gated PixelCNN);
# on a GPU it trains a larger one here.

# %%
x_cond = {}
for split in ("test",) if QUICK else ("train", "valid", "test"):  # the CPU path only evaluates
    ink, digit_labels = data.load("thresholded_mnist", split)
    x_cond[split] = (ink.view(-1, 1, 28, 28).long(), digit_labels)
if QUICK:
    conditional = pretrained.load(COND_NAME, device)
    cond_meta = pretrained.info(COND_NAME)
    print(f"shipped {COND_NAME} {cond_meta['config']}, trained with {cond_meta['command']!r} in "
          f"{cond_meta['train_seconds'] / 60:.0f} min; its sidecar records test NLL "
          f"{cond_meta['metrics']['test_nll']:.2f} nats and accuracy {cond_meta['metrics']['test_accuracy']:.3f}")
else:
    arlib.seed(SEED)
    conditional = GatedPixelCNN(SHAPE, 2, COND_HIDDEN, COND_LAYERS, n_classes=10)
    cond_train = tuple(part[:TRAIN_IMAGES] for part in x_cond["train"])
    cond_valid = tuple(part[:VALID_IMAGES] for part in x_cond["valid"])
    cond_history = train.fit(conditional, cond_train, cond_valid, epochs=EPOCHS, batch_size=64, lr=1e-3,
                             patience=3, seed=SEED, device=device, checkpoint=f"{CHECKPOINTS}/08_conditional.pt")
    print(f"trained here: {cond_history.epochs} epochs, best validation NLL {cond_history.best_valid_nll:.2f}")
conditional.eval()
print(f"class-conditional gated PixelCNN, {conditional.n_parameters():,} parameters")

# %%
classes = torch.arange(10).repeat(N_PER_CLASS)
with torch.no_grad():
    drawn = conditional.sample(len(classes), y=classes, generator=torch.Generator().manual_seed(SEED)).cpu()
real = torch.stack([x_cond["test"][0][x_cond["test"][1] == c][0] for c in range(10)])
ax = plot.show_images(torch.cat([real, drawn]), n_cols=10, shape=(28, 28))
ax.set_title("top row: a test digit of each class; below: samples given y = 0, 1, ..., 9 (one column per class)",
             fontsize=9)
plt.show()

# %% [markdown]
# Each column is drawn with a different label; the label's biases steer the strokes towards that class. The
# shipped model is small (five layers of 3 × 3 kernels, so each pixel sees only about five rows above it): local
# strokes are right, and some classes come out clearly while others show only the right kind of stroke, because
# no pixel can see the whole digit it is completing. Because the model gives
# the exact likelihood $p(x \mid y)$ for every label, it also **classifies**, by Bayes' rule with equal class
# frequencies: $p(y \mid x) \propto p(x \mid y)$, so we pick $\hat{y} = \arg\max_y \log p(x \mid y)$. That needs ten
# likelihood evaluations per digit, and it checks that the label really changes the model.

# %%
pick = torch.randperm(len(x_cond["test"][1]), generator=torch.Generator().manual_seed(SEED))[:N_COND_TEST]
x_held, y_held = x_cond["test"][0][pick], x_cond["test"][1][pick]
log_p = torch.stack([train.log_probs(conditional, (x_held, torch.full_like(y_held, c)), 100)
                     for c in range(10)], 1)
predicted = log_p.argmax(1)
accuracy = (predicted == y_held).float().mean().item()
cond_nll = -log_p.gather(1, y_held[:, None]).mean().item()
wrong_nll = -(log_p.sum(1) - log_p.gather(1, y_held[:, None])[:, 0]).mean().item() / 9
glue("cond_accuracy", round(accuracy, 3))
glue("cond_nll", round(cond_nll, 2))
glue("cond_wrong_nll", round(wrong_nll, 2))
print(f"{len(y_held)} test digits: NLL {cond_nll:.2f} nats with the true label, {wrong_nll:.2f} with a wrong one (average); "
      f"generative classifier accuracy {accuracy:.3f} (chance 0.1)")
confusion = torch.zeros(10, 10)
confusion.index_put_((y_held, predicted), torch.ones(len(y_held)), accumulate=True)
fig, ax = plt.subplots(figsize=(4, 3.6))
ax.imshow(confusion, cmap="Blues")
ax.set_xlabel("predicted class")
ax.set_ylabel("true class")
ax.set_xticks(range(10))
ax.set_yticks(range(10))
ax.set_title("argmax_y log p(x | y) on test digits", fontsize=10)
plt.show()

# %% [markdown]
# With the true label the held-out digits cost {glue:text}`cond_nll` nats, with a wrong label
# {glue:text}`cond_wrong_nll` on average, and the likelihood alone classifies a fraction {glue:text}`cond_accuracy`
# of them correctly. A density model is a poor classifier compared with
# a network trained to classify (most of its capacity goes into pixels that say nothing about the class), but the
# experiment shows that the per-class biases carry real information.
#
# ## Likelihood-based anomaly detection
#
# A density model trained on clean data assigns a number to any input. **PixelDefend** (Song et al., 2018) used a
# PixelCNN this way against adversarial examples: images perturbed, often invisibly, so that a classifier changes its
# answer. Such images turned out to be much *less likely* under the PixelCNN than clean images, so a low $p(x)$ flags
# them (PixelDefend then moves the input back towards high likelihood before classifying it).
#
# We try the idea with the PixelCNN on {glue:text}`n_anomaly` clean test digits against three corrupted copies of
# the same digits: **noisy** (each pixel flipped with probability {glue:text}`noise_rate`), **shifted** (the digit
# moved 3 pixels down and 3 right) and **patched** (an $8 \times 8$ square in the centre inverted). The anomaly score
# is the NLL. How well does a threshold on it separate clean from corrupted? The **ROC curve** plots, for every
# threshold, the fraction of corrupted inputs flagged (true positives) against the fraction of clean ones flagged
# (false positives); the **area under it** (AUC) is the probability that a random corrupted input scores higher than
# a random clean one, so we compute it directly from all pairs (ties count one half): 1 is perfect separation,
# 0.5 is chance.

# %%
def roc_auc(clean: torch.Tensor, odd: torch.Tensor) -> float:
    """P(score of a corrupted input > score of a clean input), ties counted one half."""
    difference = odd[:, None] - clean[None, :]
    return ((difference > 0).double().mean() + 0.5 * (difference == 0).double().mean()).item()


def roc_curve(clean: torch.Tensor, odd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """False- and true-positive rates for every threshold 'flag if score >= t', from strictest to loosest."""
    thresholds = torch.cat([torch.tensor([float("inf")]), torch.cat([clean, odd]).unique().flip(0)])
    fpr = (clean[None, :] >= thresholds[:, None]).double().mean(1)
    tpr = (odd[None, :] >= thresholds[:, None]).double().mean(1)
    return fpr, tpr


glue("n_anomaly", N_ANOMALY)
glue("noise_rate", NOISE)
clean_digits = x_test[subset[:N_ANOMALY]]
flip = torch.rand(clean_digits.shape, generator=torch.Generator().manual_seed(SEED)) < NOISE
patched = clean_digits.clone()
patched[:, :, 10:18, 10:18] = 1 - patched[:, :, 10:18, 10:18]
corrupted = {"noisy": clean_digits ^ flip.to(clean_digits.dtype), "shifted": clean_digits.roll((3, 3), dims=(2, 3)),
             "patched": patched}
anomaly_scores = {"clean": nll_per_image(pixelcnn, clean_digits)}
anomaly_scores.update({kind: nll_per_image(pixelcnn, x) for kind, x in corrupted.items()})
aucs = {kind: roc_auc(anomaly_scores["clean"], anomaly_scores[kind]) for kind in corrupted}
for kind, auc in aucs.items():
    fpr, tpr = roc_curve(anomaly_scores["clean"], anomaly_scores[kind])
    area = torch.trapezoid(tpr, fpr).item()
    print(f"{kind:8s}: mean NLL {anomaly_scores[kind].mean():7.2f} (clean {anomaly_scores['clean'].mean():.2f}), "
          f"AUC {auc:.3f}  (area under the ROC curve by the trapezoid rule: {area:.3f})")
    glue(f"anomaly_auc_{kind}", round(auc, 3))
glue("anomaly_auc", round(aucs["noisy"], 3))

fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), gridspec_kw={"width_ratios": [1.2, 2.4, 1.3]})
examples = torch.stack([clean_digits[0], *(x[0] for x in corrupted.values())])
plot.show_images(examples, n_cols=2, ax=axes[0], title="clean, noisy / shifted, patched")
bins = torch.linspace(min(s.min() for s in anomaly_scores.values()).item(),
                      max(s.max() for s in anomaly_scores.values()).item(), 40).numpy()
for kind, values in anomaly_scores.items():
    axes[1].hist(values.numpy(), bins=bins, alpha=0.55, label=kind)
axes[1].set_xlabel("NLL under the PixelCNN (nats)")
axes[1].set_ylabel("digits")
axes[1].legend()
for kind in corrupted:
    fpr, tpr = roc_curve(anomaly_scores["clean"], anomaly_scores[kind])
    axes[2].plot(fpr, tpr, label=f"{kind} (AUC {aucs[kind]:.2f})")
axes[2].plot([0, 1], [0, 1], "k:", lw=1)
axes[2].set_xlabel("false-positive rate (clean flagged)")
axes[2].set_ylabel("true-positive rate")
axes[2].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Flipped pixels are a strong signal: an isolated ink pixel in the blank background is something the model has
# essentially never seen, and each costs several nats (AUC {glue:text}`anomaly_auc_noisy`). The inverted patch
# breaks strokes and fills a block with ink (AUC {glue:text}`anomaly_auc_patched`). The shifted digit is the
# interesting case (AUC {glue:text}`anomaly_auc_shifted`): a convolutional model applies the same conditionals at
# every position, so a shifted digit is almost as likely as the original; what separation remains comes from
# effects of position (the zero padding at the image border, digits pushed against the edge or, by the roll,
# wrapped around it). "Unlikely" is measured by what the model finds improbable, not by what a person would call
# anomalous.
#
# There is a well-known trap in the other direction. Likelihood rewards **simplicity**: an image with little
# ink has few pixels that can surprise the model. The blank image is the extreme case:

# %%
blank = torch.zeros(1, 1, 28, 28, dtype=torch.long)
blank_nll = nll_per_image(pixelcnn, blank).item()
more_likely = (anomaly_scores["clean"] > blank_nll).double().mean().item()
glue("blank_nll", round(blank_nll, 2))
glue("blank_beats", round(more_likely, 3))
print(f"blank image: NLL {blank_nll:.2f} nats; fraction of clean test digits with a higher NLL: {more_likely:.3f}")

# %% [markdown]
# The empty image, which no one would call a digit, costs {glue:text}`blank_nll` nats, and a fraction
# {glue:text}`blank_beats` of the real test digits are *less* likely than it. Nalisnick et al. (2019) found the same
# effect at scale: models trained on CIFAR-10 give higher likelihood to the simpler SVHN house numbers. A likelihood
# threshold is a useful detector of corruptions that add structure the model finds improbable (noise, adversarial
# patterns), not a general test of "is this a typical input".
#
# ## The sequential cost of PixelRNN
#
# How much does the recurrence cost? The number of steps that must run one after another in one likelihood
# evaluation (a convolution layer is one step, however large the image; a Row LSTM layer is one step per row; a
# Diagonal BiLSTM layer one per diagonal), and in one sample (every pixel needs a full pass):

# %%
def sequential_steps(model) -> int:
    """Dependent steps in one likelihood evaluation of a 28 × 28 image."""
    config = model.config
    if isinstance(model, PixelRNN):
        return 1 + 28 * config["n_layers"] + 1  # mask-A conv, H rows per Row LSTM layer, 1 × 1 output
    return config["n_layers"] + 1  # PixelCNN: mask-A conv and n_layers − 1 residual convs; gated: n_layers; + output


rows = [(label, sequential_steps(model)) for label, model in models.items()]
rows.append(("Diagonal BiLSTM, 7 layers (paper)", 1 + 7 * (28 + 28 - 1) + 2))
print(f"{'model':36s} {'likelihood':>11s} {'one sample':>11s}")
for label, steps in rows:
    print(f"{label:36s} {steps:11d} {steps * 784:11,d}")


# %%
def seconds(fn, repeats: int = 3) -> float:
    """Best wall-clock time of a few calls of fn()."""
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


batch = x_test[subset[:TIMING_BATCH]].to(device)
timings = {}
with torch.no_grad():
    for label, model in models.items():
        timings[label] = [seconds(lambda m=model: m.log_prob(batch[:1])),
                          seconds(lambda m=model: m.log_prob(batch))]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
bar_labels = list(timings)
for ax, k, title in ((axes[0], 0, "one digit"), (axes[1], 1, f"a batch of {TIMING_BATCH} digits")):
    ax.bar(range(len(bar_labels)), [1000 * timings[label][k] for label in bar_labels], color=["C0", "C1", "C2"])
    ax.set_xticks(range(len(bar_labels)), bar_labels, fontsize=8)
    ax.set_ylabel("milliseconds per log_prob")
    ax.set_title(title)
ratio = timings["PixelRNN (Row LSTM)"][0] / timings["PixelCNN"][0]
fig.suptitle(f"likelihood time on {device.type} ({torch.get_num_threads()} thread(s)): for one digit the PixelRNN "
             f"takes {ratio:.1f}× the PixelCNN's time (measured when this page was built)", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# The step counts are the structural fact: the Row LSTM has 28 dependent steps per layer where a convolution layer
# has one, and the Diagonal BiLSTM 55. What that costs in seconds depends on the hardware. On a GPU, a convolution
# over the whole image is one short burst of parallel work, while a row step is a tiny computation that cannot start
# before the previous one ends, so the recurrent model wastes most of the device; this is why the PixelRNN was slow to
# train and why the PixelCNN was proposed. On a single CPU thread almost everything runs one operation after another
# anyway, and the wall-clock time mostly reflects the amount of arithmetic and the per-operation overhead, which the
# figure shows for these particular sizes (timings vary from run to run, so they appear only in the figure). Sampling
# is sequential for all three: 784 passes per digit, which is why every sample on this page is drawn in small
# numbers.
#
# ## Summary
#
# - An image is a sequence in raster order, colours within a pixel:
#   $p(x) = \prod_{ij} p(x^R_{ij} \mid x_{<ij})\, p(x^G_{ij} \mid x_{<ij}, x^R_{ij})\, p(x^B_{ij} \mid x_{<ij}, x^R_{ij}, x^G_{ij})$,
#   each factor a 256-way softmax (a Bernoulli for binarized MNIST).
# - **PixelRNN**: the Row LSTM computes one row of LSTM states at a time from the row above (a triangular context);
#   the Diagonal BiLSTM skews the image and runs along diagonals in both directions, seeing the whole context. Both
#   need $H$ or $H + W - 1$ dependent steps per layer even to evaluate a likelihood.
# - **PixelCNN**: convolutions with **mask A** (first layer, centre excluded) and **mask B** (later layers, centre
#   included; colour groups $g' < g$ and $g' \le g$ at the centre). We built both by hand and matched `arlib`'s
#   masked convolution and a whole PixelCNN exactly. One parallel pass scores every pixel; sampling takes one pass
#   per pixel.
# - **Blind spot**: gradients show that stacked masked $3 \times 3$ kernels never reach a wedge up and to the right
#   ({glue:text}`blind_pixels_4_layers` pixels after four layers in our toy); the **gated PixelCNN**'s vertical and
#   horizontal stacks see the full field, with gated $\tanh \odot \sigma$ units.
# - On {glue:text}`n_test` binarized-MNIST test digits: PixelCNN {glue:text}`pixelcnn_test_nll`, gated PixelCNN
#   {glue:text}`gated_test_nll`, Row LSTM {glue:text}`pixelrnn_test_nll` nats (NADE {glue:text}`nade_subset_test_nll`,
#   MADE {glue:text}`made_subset_test_nll`); published: PixelCNN 81.30, Row LSTM 80.54, Diagonal BiLSTM 79.20.
# - Completions continue the top half of a digit by sampling the bottom half from the model's exact conditional.
# - A **class-conditional** model adds a learned per-class bias $V c$ to every layer; ours draws digits of a chosen
#   class and classifies held-out digits with accuracy {glue:text}`cond_accuracy` through $\arg\max_y p(x \mid y)$.
# - Likelihood flags corrupted inputs (noise: AUC {glue:text}`anomaly_auc`), the PixelDefend idea, but it is blind to
#   changes the model is invariant to (shifts) and favours simple images (the blank image beats a fraction
#   {glue:text}`blank_beats` of real digits).
#
# ## Exercises
#
# 1. **Masks for colours.** With `full_mask`, build the masks of a PixelCNN for RGB images with 12 hidden channels,
#    and verify with `receptive_field_map` on a random `PixelCNN((3, 6, 6), 4, 12, 3)` that the blue prediction at a
#    pixel sees the red and green values of that pixel but the red prediction does not.
# 2. **Closing the wedge by hand.** Compute on paper the receptive field of a PixelCNN with a $5 \times 5$ mask-A
#    layer followed by $L$ $3 \times 3$ mask-B layers, then check it with gradients. How many blind pixels are there
#    for a prediction in the middle of a $28 \times 28$ image?
# 3. **Completing other parts.** `complete` can only keep the first rows. How would you complete the left half of a
#    digit with the models of this chapter? (Hint: transpose the images and train on the transposed digits.)
# 4. **A cheaper sampler.** The prediction at $(i, j)$ depends only on the rows $i - R, \dots, i$ for a receptive
#    field of height $R$. Write a sampler that runs the gated PixelCNN on that band of rows only, check that it draws
#    exactly the same samples as `sample` for the same generator, and time it.
# 5. **Better anomaly scores.** Use the conditional model's $\max_y \log p(x \mid y)$ or a score normalised by the
#    number of ink pixels, and compare the AUCs for the shifted digits and the blank image with the NLL score.
