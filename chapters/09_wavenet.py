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
QUICK = not torch.cuda.is_available()  # CPU: shipped weights, short demos. GPU: train the WaveNet from scratch.
TRAIN_STEPS = 150 if QUICK else 2500   # steps trained here: CPU stand-in (only if no wavenet-fsdd is shipped); GPU: full model
TEST_CLIPS = 30 if QUICK else 300      # test clips re-scored here (a seeded random subset; 300 is the whole split)
GENERATE_SECONDS = 0.4 if QUICK else 2.0  # seconds of audio per generated clip (8,000 samples per second)
N_GENERATED = 2 if QUICK else 4        # generated clips, and continued real clips
PROMPT_SECONDS = 0.05                  # prompt of a continuation: this much of a real word after its onset (+ 50 ms before)
TIMING_LENGTHS = [80, 160, 320, 640]   # generated lengths (samples) in the naive-vs-cached timing
DIAGRAM_DILATIONS = [1, 2, 4, 8]       # the small dilated stack drawn in the receptive-field diagram
CHECKPOINTS = "checkpoints"             # GPU path: training checkpoints, resumed when the cell is re-run

# %% [markdown]
# # 9. WaveNet
#
# A second of telephone-quality speech is 8,000 numbers, one air-pressure reading every 125 microseconds. WaveNet
# (van den Oord, Dieleman et al., 2016) models such a **raw waveform** $x_1, x_2, \dots, x_T$ exactly like the
# models of the previous chapters model pixels or characters, by the chain rule,
#
# $$
# p(x_1, \dots, x_T) = \prod_{t=1}^{T} p(x_t \mid x_1, \dots, x_{t-1}),
# $$
#
# one sample at a time. Two things make audio hard. The sequences are long (a spoken digit is thousands of
# samples), and the structure lives at many time scales at once: a pitch period lasts a few milliseconds (tens of
# samples), a syllable a tenth of a second (hundreds). WaveNet is PixelCNN's idea applied in one dimension: a stack
# of **causal convolutions**, whose reach is stretched cheaply by **dilation**.
#
# This chapter
#
# 1. loads the Free Spoken Digit Dataset (8 kHz recordings of the digits 0 to 9) and quantises the audio to 256
#    classes with the **μ-law**, measuring what the quantisation costs;
# 2. writes a causal convolution in a few lines and checks it against `arlib.models.WaveNet`;
# 3. shows how dilations make the receptive field grow as $2^d$ with depth, in a diagram computed from the layer
#    configuration and verified on the model;
# 4. assembles the WaveNet layer (gated activation, residual and skip connections) by hand and matches the library;
# 5. scores a WaveNet trained on spoken digits in bits per sample against two counting baselines;
# 6. generates audio you can play on this page, and times fast generation with **queues** against naive
#    recomputation.
#
# ## Spoken digits at 8 kHz
#
# The Free Spoken Digit Dataset holds 3,000 short recordings: six speakers each say every digit 50 times. By the
# dataset's convention, takes 0 to 4 of every speaker and digit are the test split, the other 45 the training split.
# `arlib.data.load("fsdd", split)` returns a list of `(waveform, digit, speaker)`, with waveforms as float tensors in
# $[-1, 1]$ at 8,000 samples per second.
# (API: {py:func}`arlib.data.load`, {py:class}`arlib.models.WaveNet`.)

# %%
import math
import time
from collections import deque

import matplotlib.pyplot as plt
import torch.nn.functional as F
from IPython.display import Audio, display

import arlib
from arlib import data, pretrained, train
from arlib.book import glue
from arlib.models import WaveNet, mu_law_decode, mu_law_encode
from arlib.models.common import draw

generator = arlib.seed(SEED)
if QUICK:  # CPU demo: small models, where one thread is fastest and reproducible
    torch.set_num_threads(1)
device = arlib.device()
RATE = 8000  # samples per second

train_set, test_set = data.load("fsdd", "train"), data.load("fsdd", "test")
train_seconds_of_audio = sum(len(w) for w, _, _ in train_set) / RATE
glue("n_train_clips", len(train_set))
glue("n_test_clips", len(test_set))
glue("train_minutes", round(train_seconds_of_audio / 60, 1))
print(f"train: {len(train_set)} clips, {train_seconds_of_audio / 60:.1f} minutes; test: {len(test_set)} clips, "
      f"{sum(len(w) for w, _, _ in test_set) / RATE / 60:.1f} minutes; speakers: {sorted({s for _, _, s in test_set})}")

clip, digit, speaker = test_set[0]
print(f"test clip 0: the digit {digit} said by {speaker}, {len(clip)} samples = {len(clip) / RATE:.3f} s, "
      f"values in [{clip.min():.3f}, {clip.max():.3f}]")

fig, axes = plt.subplots(1, 2, figsize=(12, 2.6), gridspec_kw={"width_ratios": [2, 1]})
seconds = torch.arange(len(clip)) / RATE
axes[0].plot(seconds, clip, lw=0.5)
axes[0].set_xlabel("time (s)")
axes[0].set_title(f"a test clip: '{digit}' by {speaker}")
zoom = slice(len(clip) // 2, len(clip) // 2 + 200)  # 25 ms from the middle of the word
axes[1].plot(seconds[zoom] * 1000, clip[zoom], ".-", lw=0.8, ms=3)
axes[1].set_xlabel("time (ms)")
axes[1].set_title("200 samples (25 ms): one dot per sample")
plt.tight_layout()
plt.show()
display(Audio(clip.numpy(), rate=RATE))

# %% [markdown]
# Zoomed in, speech is a smooth, nearly periodic curve: each sample is close to a simple function of the few
# before it, which is why a good autoregressive model can predict it well. The repeating pattern, a few
# milliseconds long, is the pitch period of the voice.
#
# ## μ-law quantisation: 256 classes
#
# WaveNet predicts each sample with a **softmax** over a finite set of values, as PixelCNN does for 256 grey levels.
# A categorical distribution makes no assumption about the shape of $p(x_t \mid x_{<t})$ (it can be skewed or have
# several modes), but the recordings are 16-bit, and a softmax over 65,536 values would be large and slow to learn.
# So the amplitude $a \in [-1, 1]$ is first compressed by the **μ-law** and then quantised to $\mu + 1 = 256$
# levels,
#
# $$
# f(a) = \operatorname{sign}(a)\, \frac{\ln(1 + \mu |a|)}{\ln(1 + \mu)}, \qquad
# \text{code} = \operatorname{round}\!\Big(\frac{f(a) + 1}{2}\, \mu\Big) \in \{0, \dots, 255\}, \qquad \mu = 255,
# $$
#
# and decoded with the inverse, $a = \operatorname{sign}(f)\,\big((1 + \mu)^{|f|} - 1\big) / \mu$, applied to the
# centre $f = 2\,\text{code}/\mu - 1$ of the code's bin. The logarithm spends the 256 levels unevenly: fine steps
# near 0, where speech spends most of its time, and coarse ones near $\pm 1$, where a large error is small
# relative to the signal. (The telephone network has used this companding since the 1970s.) We write it in three
# lines and compare with `arlib.models.mu_law_encode`.
# (API: {py:func}`arlib.models.mu_law_encode`,
# {py:func}`arlib.models.mu_law_decode`.)

# %%
MU = 255


def mu_law_codes(a: torch.Tensor) -> torch.Tensor:
    """Amplitudes in [-1, 1] -> codes 0..255: compress with f(a), then round to one of 256 levels."""
    f = torch.sign(a) * torch.log1p(MU * a.abs()) / math.log1p(MU)
    return ((f + 1) / 2 * MU).round().long()


def mu_law_values(code: torch.Tensor) -> torch.Tensor:
    """Codes 0..255 -> the amplitude at the centre of each code's bin (the inverse of f)."""
    f = code.double() * 2 / MU - 1
    return torch.sign(f) * ((1 + MU) ** f.abs() - 1) / MU


test_audio = torch.cat([w for w, _, _ in test_set]).double()  # every test sample, one long vector
ours = mu_law_codes(test_audio)
print("our codes == arlib's mu_law_encode on all", f"{len(test_audio):,}", "test samples:",
      torch.equal(ours, mu_law_encode(test_audio.float())))
print("our decoding == arlib's mu_law_decode:", torch.allclose(mu_law_values(torch.arange(256)).float(),
                                                              mu_law_decode(torch.arange(256))))

uniform_codes = ((test_audio + 1) / 2 * MU).round().long()  # 256 evenly spaced levels on [-1, 1], for comparison
uniform_back = uniform_codes.double() * 2 / MU - 1
mu_back = mu_law_values(ours)


def snr_db(signal: torch.Tensor, error: torch.Tensor) -> float:
    """Signal-to-noise ratio 10 log10(Σ signal² / Σ error²) in decibels."""
    return 10 * math.log10(signal.pow(2).sum().item() / error.pow(2).sum().item())


mu_snr, uniform_snr = snr_db(test_audio, mu_back - test_audio), snr_db(test_audio, uniform_back - test_audio)
glue("mulaw_snr_db", round(mu_snr, 1))
glue("uniform_snr_db", round(uniform_snr, 1))


def top5_share(codes: torch.Tensor) -> float:
    """The fraction of samples that fall on the 5 most frequent codes."""
    return torch.bincount(codes, minlength=256).sort(descending=True).values[:5].sum().item() / len(codes)


glue("median_abs", round(test_audio.abs().median().item(), 4))
glue("mulaw_top5_percent", round(100 * top5_share(ours)))
glue("uniform_top5_percent", round(100 * top5_share(uniform_codes)))
print(f"quantisation to 256 levels of the test audio: μ-law SNR {mu_snr:.1f} dB, uniform SNR {uniform_snr:.1f} dB")
print(f"median |a| = {test_audio.abs().median():.4f}; share of the samples on the 5 most used codes: "
      f"μ-law {top5_share(ours):.0%}, uniform {top5_share(uniform_codes):.0%}")

a = torch.linspace(-1, 1, 2001, dtype=torch.float64)
fig, axes = plt.subplots(1, 3, figsize=(14, 3.2))
axes[0].plot(a, torch.sign(a) * torch.log1p(MU * a.abs()) / math.log1p(MU), label="μ-law, μ = 255")
axes[0].plot(a, a, "--", label="no companding")
axes[0].set_xlabel("amplitude a")
axes[0].set_ylabel("f(a)")
axes[0].set_title("the companding curve")
axes[0].legend()
levels = mu_law_values(torch.arange(256))
centres = (levels[1:] + levels[:-1]) / 2
axes[1].semilogy(centres, levels.diff(), label="μ-law")
axes[1].axhline(2 / MU, color="C1", ls="--", label="uniform")
axes[1].set_xlabel("amplitude a")
axes[1].set_ylabel("distance between levels")
axes[1].set_title("step size: fine near 0, coarse near ±1")
axes[1].legend()
axes[2].hist(ours.numpy(), bins=256, range=(0, 256), alpha=0.7, label="μ-law codes")
axes[2].hist(uniform_codes.numpy(), bins=256, range=(0, 256), alpha=0.7, label="uniform codes")
axes[2].set_yscale("log")
axes[2].set_xlabel("code")
axes[2].set_title("codes of all test samples")
axes[2].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# On the whole test split, 256 μ-law levels give a signal-to-noise ratio of {glue:text}`mulaw_snr_db` dB, against
# {glue:text}`uniform_snr_db` dB for 256 evenly spaced levels. The recordings are quiet: half of all samples have
# $|a| <$ {glue:text}`median_abs`, about one uniform step ($2/255$). The uniform quantiser therefore puts
# {glue:text}`uniform_top5_percent` % of the samples on just 5 codes, while the μ-law spreads them out (its 5 most
# used codes hold {glue:text}`mulaw_top5_percent` %). Listen: the original clip, its μ-law version, and the uniform
# one (whose hiss is the quantisation noise).

# %%
for label, values in (("original (16 bit)", clip.double()), ("μ-law, 256 levels", mu_law_values(mu_law_codes(clip))),
                      ("uniform, 256 levels", ((clip.double() + 1) / 2 * MU).round() * 2 / MU - 1)):
    print(label)
    display(Audio(values.numpy(), rate=RATE))

# %% [markdown]
# From now on a clip is a sequence of integer codes $x_t \in \{0, \dots, 255\}$, and $p(x_t \mid x_{<t})$ is a
# 256-way softmax: the loss is a cross-entropy, measured below in **bits per sample**. A model that knew nothing
# would pay $\log_2 256 = 8$ bits per sample.
#
# ## Causal convolutions
#
# A 1-D convolution with kernel size $k$ computes each output from $k$ neighbouring inputs. For an autoregressive
# model the output at time $t$ may use the inputs at times $\le t$ only, so the kernel must look **backwards**. The
# recipe: pad the input with $k - 1$ zeros on the **left** and none on the right, then convolve. Output $t$ then
# reads inputs $t - k + 1, \dots, t$: it is **aligned with the last input it reads**, and nothing from the future
# leaks in. (An ordinary "same" convolution pads on both sides, centres the kernel on $t$ and reads $t + 1$.) WaveNet
# uses $k = 2$, and a **dilation** $d$ spaces the two taps $d$ steps apart:
#
# $$
# y_t = W_0\, h_{t-d} + W_1\, h_t + b, \qquad h_s = 0 \text{ for } s < 1 .
# $$
#
# In code, for any kernel size: pad $(k - 1)\,d$ zeros on the left, then tap $j$ reads the input shifted by
# $(k - 1 - j)\,d$ steps.


# %%
def causal_conv(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dilation: int = 1) -> torch.Tensor:
    """Causal dilated convolution of h (B, C_in, T) with weight (C_out, C_in, k): output t reads inputs ≤ t."""
    k, T = weight.shape[-1], h.shape[-1]
    padded = F.pad(h, ((k - 1) * dilation, 0))  # zeros on the left only
    taps = [torch.einsum("oc,bct->bot", weight[:, :, j], padded[:, :, j * dilation: j * dilation + T])
            for j in range(k)]  # tap j reads h_{t - (k-1-j) d}
    return sum(taps) + bias[:, None]


impulse = torch.zeros(1, 1, 16)
impulse[0, 0, 5] = 1.0  # one input at t = 5
for d in (1, 3):
    response = causal_conv(impulse, torch.tensor([[[0.5, 1.0]]]), torch.zeros(1), dilation=d)
    print(f"dilation {d}: an input at t = 5 reaches the outputs at t =", response[0, 0].nonzero().flatten().tolist())

torch.manual_seed(SEED)
probe = WaveNet(n_categories=16, residual_channels=8, dilations=DIAGRAM_DILATIONS)
h = torch.randn(3, 8, 40)
for layer, d in zip(probe.filters, probe.dilations, strict=True):
    theirs = layer(F.pad(h, (d, 0)))  # arlib: nn.Conv1d(kernel 2, dilation d) after left padding by d
    print(f"dilation {d}: causal_conv == arlib's layer:", torch.allclose(causal_conv(h, layer.weight, layer.bias, d),
                                                                          theirs, atol=1e-6))

# %% [markdown]
# An input at time $s$ reaches the outputs at $s$ and $s + d$, never an earlier one: the convolution is causal.
# Training stays **parallel**: one convolution over a whole clip computes every output at once, exactly as the
# masked convolutions of PixelCNN do for an image (chapter 8); a causal convolution in 1-D is a masked one with the
# mask "taps at times $> t$ are zero".
#
# ## Dilations: a receptive field that grows as $2^d$
#
# Stack $L$ causal convolutions of kernel size 2 without dilation, and the last output sees $L + 1$ inputs: the
# **receptive field** grows by one sample per layer. Covering 64 ms of 8 kHz audio would take about 500 layers.
# WaveNet **doubles** the dilation from layer to layer, $d = 1, 2, 4, \dots, 2^{L-1}$: layer $l$ adds $d_l$ steps of
# reach, so the receptive field is
#
# $$
# r = 1 + \sum_{l=1}^{L} d_l = 1 + (1 + 2 + \dots + 2^{L-1}) = 2^L ,
# $$
#
# exponential in the depth, with the parameters and the computation still linear in the depth. The kernel of layer
# $l$ "touches the signal only every $2^{l-1}$ entries", but the layers below have already mixed the entries in
# between, so no input is skipped. The diagram below is computed from the list of dilations: starting from the output
# at the last time step, every node marks the two nodes it reads in the layer below ($t$ and $t - d$), down to the
# inputs.


# %%
def feeding_nodes(dilations: list[int], t: int) -> list[set[int]]:
    """For the output at time t: the set of time steps that feed it in every layer (index 0 = the inputs)."""
    active = [set() for _ in range(len(dilations) + 1)]
    active[-1] = {t}
    for layer in range(len(dilations), 0, -1):  # walk down: node s of layer l reads s and s - d_l below it
        d = dilations[layer - 1]
        active[layer - 1] = {s - j for s in active[layer] for j in (0, d) if s - j >= 0}
    return active


def draw_stack(ax, dilations: list[int], T: int, title: str) -> int:
    """Draw every connection of the stack faintly, and those that feed the last output in colour; return r."""
    active = feeding_nodes(dilations, T - 1)
    for layer, d in enumerate(dilations, start=1):
        for s in range(T):
            for j in (0, d):
                if s - j >= 0:
                    used = s in active[layer] and s - j in active[layer - 1]
                    ax.plot([s - j, s], [layer - 1, layer], color="C3" if used else "0.85", lw=1.6 if used else 0.6,
                            zorder=2 if used else 1)
    for layer in range(len(dilations) + 1):
        xs = list(range(T))
        ax.scatter(xs, [layer] * T, s=22, zorder=3, color=["C3" if s in active[layer] else "0.6" for s in xs])
    ax.set_yticks(range(len(dilations) + 1), ["input"] + [f"layer {i + 1}, d = {d}" for i, d in enumerate(dilations)])
    ax.set_xticks([0, T - 1], ["t − " + str(T - 1), "t"])
    ax.set_title(f"{title}: the output at t reads {len(active[0])} inputs", fontsize=10)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    return len(active[0])


T_diagram = 2 ** len(DIAGRAM_DILATIONS) + 4
fig, axes = plt.subplots(1, 2, figsize=(14, 3.2))
rf_plain = draw_stack(axes[0], [1] * len(DIAGRAM_DILATIONS), T_diagram, "no dilation")
rf_dilated = draw_stack(axes[1], DIAGRAM_DILATIONS, T_diagram, f"dilations {DIAGRAM_DILATIONS}")
plt.tight_layout()
plt.show()
glue("rf_plain", rf_plain)
glue("rf_dilated", rf_dilated)
print(f"{len(DIAGRAM_DILATIONS)} layers: receptive field {rf_plain} without dilation, {rf_dilated} with dilations "
      f"{DIAGRAM_DILATIONS} (1 + Σ d = {1 + sum(DIAGRAM_DILATIONS)})")

# %% [markdown]
# With {glue:text}`rf_plain` inputs against {glue:text}`rf_dilated` for the same number of layers and weights, the
# dilated stack reads $2^L$ inputs. The diagram was drawn from the configuration; the model must agree. In `arlib`
# the network reads a learned start token followed by $x_1, \dots, x_{T-1}$ (the inputs shifted by one, as in every
# sequence model of this book), so its output at time $t$ is the prediction of $x_t$ and its receptive field covers
# the $r$ samples $x_{t-r}, \dots, x_{t-1}$ before it. We change one sample at a time in a random sequence and record
# which samples move the prediction of the last one.

# %%
T_check = 40
x_check = torch.randint(16, (1, T_check), generator=generator)
with torch.no_grad():
    base = probe.logits(x_check)[0, -1]
    moves = []
    for s in range(T_check):
        changed = x_check.clone()
        changed[0, s] = (changed[0, s] + 1) % 16
        moves.append(bool((probe.logits(changed)[0, -1] - base).abs().max() > 0))
seen = [s for s in range(T_check) if moves[s]]
print(f"the prediction of x_{T_check} moves when one of x_{seen[0] + 1}..x_{seen[-1] + 1} changes: "
      f"{len(seen)} samples; probe.receptive_field = {probe.receptive_field}")
print("the same samples as the diagram's inputs:",
      seen == sorted(s - 1 for s in feeding_nodes(DIAGRAM_DILATIONS, T_check - 1)[0]))

# %% [markdown]
# ### Explore: design a dilation schedule
#
# Pick a schedule of dilations and see which inputs feed the last output (the same drawing as above, over 34
# time steps). **Try** `2, 4, 8, 16`, which starts above 1, and `8, 4, 2, 1`, the doubling block upside down.
# **Notice** that a schedule starting above 1 reads only every other sample, so it has holes however long its
# reach, while the reversed block reads exactly what the doubling block reads: the order of the layers does not
# change the set of paths, only how long each intermediate signal is.

# %%
from arlib.widgets import explore

SCHEDULES = {"1, 2, 4, 8": [1, 2, 4, 8], "1, 1, 1, 1": [1, 1, 1, 1],
             "2, 4, 8, 16": [2, 4, 8, 16], "8, 4, 2, 1": [8, 4, 2, 1],
             "1, 3, 9": [1, 3, 9], "1, 2, 4, 8, 16": [1, 2, 4, 8, 16],
             "1, 2, 1, 2, 1, 2": [1, 2, 1, 2, 1, 2]}


def schedule_view(schedule: str):
    """The connections that feed the last output, for one dilation schedule."""
    dilations = SCHEDULES[schedule]
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(dilations) + 1.4))
    read = draw_stack(ax, dilations, 34, f"dilations {schedule}")
    reach = 1 + sum(dilations)
    holes = min(reach, 34) - read
    ax.set_xlabel(f"reach {reach} samples (1 + Σ d); inputs read {read}; "
                  f"holes inside the reach: {holes}")
    fig.tight_layout()
    return fig


explore(schedule_view, schedule=list(SCHEDULES),
        description="dilation schedule -> which inputs feed the last output")

# %% [markdown]
# Real WaveNets repeat the doubling block several times, $1, 2, \dots, 512, 1, 2, \dots, 512, \dots$ in the paper:
# each block adds $2^{L} - 1$ samples of reach and the repetition adds depth (capacity). The model of this chapter
# uses two blocks of $1, 2, \dots, 128$: 16 layers, a receptive field of $1 + 2 \times 255 = 511$ samples, 64 ms at
# 8 kHz. Without dilation the same 16 layers would see 17 samples, about 2 ms.

# %%
depths = torch.arange(1, 17)
fig, ax = plt.subplots(figsize=(6.5, 3.2))
ax.semilogy(depths, depths + 1, "o-", label="no dilation: L + 1")
ax.semilogy(depths, 2.0 ** depths, "o-", label="dilations 1, 2, 4, ...: 2^L")
two_blocks = [1 + sum(([2**i for i in range(8)] * 2)[:L]) for L in depths.tolist()]
ax.semilogy(depths, two_blocks, "o-", label="two blocks of 1, ..., 128")
ax.set_xlabel("number of layers L (kernel size 2)")
ax.set_ylabel("receptive field (samples)")
ax.set_title("receptive field against depth; 8 samples = 1 ms at 8 kHz", fontsize=10)
ax.legend()
plt.show()

# %% [markdown]
# ## The WaveNet layer: gated activations, residual and skip connections
#
# Each of WaveNet's layers wraps its dilated causal convolution in three devices, borrowed from the gated PixelCNN
# and from residual networks. With $h$ the layer's input ($R$ channels) and $*$ a causal convolution:
#
# $$
# z = \tanh(W_f * h) \odot \sigma(W_g * h), \qquad h \leftarrow h + W_\text{res}\, z, \qquad
# s \leftarrow s + W_\text{skip}\, z .
# $$
#
# - **Gated activation.** The convolution outputs $2R$ channels, a *filter* half and a *gate* half; the sigmoid
#   gate, between 0 and 1, decides how much of each filter value passes, as the gates of an LSTM do. The paper
#   found this works better for audio than a ReLU.
# - **Residual connection.** The layer adds a $1 \times 1$ projection of $z$ to its input instead of replacing it,
#   so a deep stack starts close to the identity and trains easily.
# - **Skip connection.** Every layer also adds a projection of $z$ to a running sum $s$, so the output head hears
#   all time scales directly, from the first layer (2 samples) to the last (the whole receptive field).
#
# The head turns $s$ into 256 logits per time step, $\operatorname{softmax}(W_2\, \mathrm{ReLU}(W_1\,
# \mathrm{ReLU}(s)))$, all $1 \times 1$ convolutions. We compute a whole WaveNet by hand with `causal_conv` and
# compare its logits with `arlib`'s, for the small random `probe` of the receptive-field check.


# %%
def conv1x1(z: torch.Tensor, conv: torch.nn.Conv1d) -> torch.Tensor:
    """A 1 × 1 convolution: the same linear map at every time step."""
    return torch.einsum("oc,bct->bot", conv.weight[:, :, 0], z) + conv.bias[:, None]


def wavenet_logits(model: WaveNet, x: torch.Tensor) -> torch.Tensor:
    """Logits (B, T, K) for codes x (B, T), computed with our causal_conv; row t scores x_t from x_<t."""
    start = torch.full((len(x), 1), model.start_token)
    h = model.embed(torch.cat([start, x[:, :-1]], dim=1)).transpose(1, 2)  # (B, R, T): start token, x_1, ...
    skip = 0
    for d, filt, res, sk in zip(model.dilations, model.filters, model.residual, model.skip, strict=True):
        filter_half, gate_half = causal_conv(h, filt.weight, filt.bias, d).chunk(2, dim=1)
        z = torch.tanh(filter_half) * torch.sigmoid(gate_half)  # gated activation
        h = h + conv1x1(z, res)  # residual connection
        skip = skip + conv1x1(z, sk)  # skip connection
    hidden = conv1x1(torch.relu(skip), model.head[1])
    return conv1x1(torch.relu(hidden), model.head[3]).transpose(1, 2)


with torch.no_grad():
    print("hand-made WaveNet == probe.logits:", torch.allclose(wavenet_logits(probe, x_check), probe.logits(x_check),
                                                                atol=1e-5))

# %% [markdown]
# ## A WaveNet trained on spoken digits
#
# `wavenet-fsdd` has two blocks of dilations $1, \dots, 128$ with $R = 32$ channels. It was trained by
# `scripts/train_wavenet.py` on random **crops** of the training clips: a batch holds 8 crops of $r + 1000$ codes.
# In a crop taken from the middle of a clip only the last 1000 predictions count in the loss, because the first $r$
# would see the start token and zeros where the clip really continues; one crop per batch is the *beginning* of a
# clip, with every prediction counted, so the model also learns how a clip starts (where generation starts). The
# loss is the cross-entropy in bits per sample, all positions of a crop computed in one parallel pass (teacher
# forcing). The cell below loads the shipped model on a CPU and trains the same recipe from scratch on a GPU. If no
# `wavenet-fsdd` is shipped, it trains a much smaller stand-in for a few seconds and says so; its numbers are then
# only an illustration.

# %%
NAME = "wavenet-fsdd"
FULL_CONFIG = dict(n_categories=256, residual_channels=32, dilations=[2**i for i in range(8)] * 2)  # the script's
STANDIN_CONFIG = dict(n_categories=256, residual_channels=16, dilations=[2**i for i in range(7)])  # if not shipped
shipped = NAME in pretrained.available()
train_codes = [mu_law_encode(w).to(torch.uint8) for w, _, _ in train_set]
test_codes = [mu_law_encode(w).to(torch.uint8) for w, _, _ in test_set]


def crop_batch(receptive_field: int, context: int, batch_size: int = 8):
    """batch(gen) -> (codes (B, T), weights (B, T)): crops of T = r + context codes, weights 1 where counted."""
    T = receptive_field + context

    def batch(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x, weight = torch.full((batch_size, T), 128), torch.zeros(batch_size, T)
        for i, c in enumerate(torch.randint(len(train_codes), (batch_size,), generator=gen).tolist()):
            codes = train_codes[c]
            if i == 0 or len(codes) <= T:  # a clip's beginning: every prediction counts
                piece = codes[:T]
                weight[i, : len(piece)] = 1
            else:  # a window: only the predictions with a full receptive field inside it count
                offset = int(torch.randint(len(codes) - T + 1, (1,), generator=gen))
                piece = codes[offset: offset + T]
                weight[i, receptive_field:] = 1
            x[i, : len(piece)] = piece.long()
        return x, weight

    return batch


def bits_loss(model: WaveNet, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return -(model.token_log_probs(x) * weight).sum() / weight.sum() / math.log(2)  # bits per counted sample


def train_wavenet(config: dict, steps: int, context: int, checkpoint: str | None = None) -> WaveNet:
    torch.manual_seed(SEED)
    model = WaveNet(**config)
    train.fit_steps(model, crop_batch(model.receptive_field, context), bits_loss, steps=steps, lr=2e-3, min_lr=2e-4,
                    warmup=min(100, steps // 10), weight_decay=0.0, grad_clip=1.0, seed=SEED, device=device,
                    checkpoint=checkpoint)
    return model.cpu().eval()


if shipped and QUICK:
    wavenet = pretrained.load(NAME)
    meta = pretrained.info(NAME)
    print(f"loaded {NAME}: trained with {meta['command']!r} in {meta['train_seconds'] / 60:.0f} min "
          f"({meta['recipe']['iters']} steps)")
elif not QUICK:
    wavenet = train_wavenet(FULL_CONFIG, TRAIN_STEPS, context=1000, checkpoint=f"{CHECKPOINTS}/09_wavenet.pt")
    print(f"trained the full-size WaveNet on this page for {TRAIN_STEPS} steps")
else:
    wavenet = train_wavenet(STANDIN_CONFIG, TRAIN_STEPS, context=500)
    print(f"no shipped {NAME}: trained a small stand-in WaveNet here for {TRAIN_STEPS} steps (an illustration only; "
          "run `python scripts/train_wavenet.py` to make the real one)")
r = wavenet.receptive_field
glue("receptive_field", r)
glue("receptive_ms", round(1000 * r / RATE, 1))
glue("wavenet_params", wavenet.n_parameters())
print(f"{len(wavenet.dilations)} layers, {wavenet.embed.embedding_dim} channels, dilations {wavenet.dilations}")
print(f"receptive field {r} samples = {1000 * r / RATE:.1f} ms; {wavenet.n_parameters():,} parameters")

# %% [markdown]
# ### Bits per sample, against counting baselines
#
# A number of bits per sample means little on its own, so we compare with two models that simply count, on the
# training split:
#
# - **histogram** (unigram): every sample independent, $p(x_t) = $ the frequency of code $x_t$;
# - **previous code** (bigram): $p(x_t \mid x_{t-1})$ from a $256 \times 256$ table of counted pairs, a first-order
#   Markov chain that already captures that audio is smooth.
#
# Both get one extra count per cell (add-one smoothing), so that no test code has probability zero; the first sample
# of a clip is scored by the histogram. The WaveNet scores a clip exactly, by the chain rule from its first sample.
# All three are measured on the same {glue:text}`test_clips` test clips, a random subset with a fixed seed (the
# sidecar of the shipped model records all 300).

# %%
K = 256
unigram = torch.bincount(torch.cat(train_codes).long(), minlength=K).double() + 1
pairs = torch.cat([c[:-1].long() * K + c[1:].long() for c in train_codes])
bigram = torch.bincount(pairs, minlength=K * K).double().view(K, K) + 1
log2_unigram = (unigram / unigram.sum()).log2()
log2_bigram = (bigram / bigram.sum(1, keepdim=True)).log2()

order = torch.randperm(len(test_codes), generator=torch.Generator().manual_seed(SEED)).tolist()  # test clips, shuffled
subset = order[:TEST_CLIPS]
clips = [test_codes[i].long() for i in subset]
n_samples = sum(len(c) for c in clips)
with torch.no_grad():
    wavenet_bits = sum(-wavenet.token_log_probs(c[None])[0].double().sum().item() for c in clips) / n_samples
    wavenet_bits /= math.log(2)
unigram_bits = -sum(log2_unigram[c].sum().item() for c in clips) / n_samples
bigram_bits = -sum(log2_unigram[c[0]].item() + log2_bigram[c[:-1], c[1:]].sum().item() for c in clips) / n_samples
glue("test_clips", TEST_CLIPS)
glue("wavenet_test_bits", round(wavenet_bits, 3))
glue("unigram_test_bits", round(unigram_bits, 3))
glue("bigram_test_bits", round(bigram_bits, 3))
print(f"{TEST_CLIPS} test clips, {n_samples:,} samples, bits per sample: histogram {unigram_bits:.3f}, "
      f"previous code {bigram_bits:.3f}, WaveNet {wavenet_bits:.3f}")
if shipped:
    metrics = pretrained.info(NAME)["metrics"]
    glue("wavenet_test_bits_sidecar", metrics["test_bits_per_sample"])
    print(f"sidecar, all {metrics['test_samples']:,} test samples: histogram "
          f"{metrics['baseline_unigram_bits_per_sample']:.3f}, previous code "
          f"{metrics['baseline_bigram_bits_per_sample']:.3f}, WaveNet {metrics['test_bits_per_sample']:.3f}")

example = test_codes[subset[0]].long()
with torch.no_grad():
    per_sample = -wavenet.token_log_probs(example[None])[0] / math.log(2)
window = 80  # 10 ms moving average
smooth = F.avg_pool1d(per_sample[None, None], window, stride=1)[0, 0]
fig, axes = plt.subplots(1, 2, figsize=(14, 3.2), gridspec_kw={"width_ratios": [1, 2.4]})
names = ["8 bits\n(uniform)", "histogram", "previous\ncode", "WaveNet"]
values = [8.0, unigram_bits, bigram_bits, wavenet_bits]
axes[0].bar(names, values, color=["0.7", "C0", "C1", "C3"])
for i, v in enumerate(values):
    axes[0].text(i, v + 0.1, f"{v:.2f}", ha="center")
axes[0].set_ylabel("bits per test sample")
axes[0].set_title(f"{TEST_CLIPS} test clips")
t_axis = torch.arange(len(example)) / RATE
axes[1].plot(t_axis, mu_law_decode(example) * 8 / mu_law_decode(example).abs().max() + 8, lw=0.4, color="0.5",
             label="waveform (scaled)")
axes[1].plot(t_axis[window - 1:], smooth, color="C3", label="WaveNet: bits per sample (10 ms average)")
axes[1].set_xlabel("time (s)")
axes[1].set_ylabel("bits per sample")
axes[1].set_ylim(0, 16.5)
axes[1].set_title("where a test clip costs bits")
axes[1].legend(loc="upper right", fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Counting codes costs {glue:text}`unigram_test_bits` bits per sample, and knowing the previous code brings it down
# to {glue:text}`bigram_test_bits`; the WaveNet, reading {glue:text}`receptive_ms` ms of context through
# {glue:text}`wavenet_params` parameters, needs {glue:text}`wavenet_test_bits`. (The μ-law alone already makes the
# histogram cheaper than 8 bits, but not by much: it is built to use all codes.) The right panel shows where the
# bits go in one test clip: the quiet stretches before and after the word are cheap, and the loud, voiced middle,
# where the codes swing over a wide range at every pitch period, costs most.
#
# ## Generating audio, and why it needs a cache
#
# Sampling follows the chain rule: draw $x_1$ from $p(x_1)$, feed it back, draw $x_2 \sim p(x_2 \mid x_1)$, and so
# on, 8,000 times for every second of audio. Done **naively**, each step runs the whole network on the last $r$
# inputs, the receptive field, and uses only the output at the last time step: $r$ positions of work for one sample.
# Almost all of it was already computed at the previous step, because a causal network's activations at old time
# steps never change when new samples arrive.
#
# **Fast generation** (Paine et al., 2016) keeps exactly what is needed. Layer $l$, at time $t$, reads its input at
# $t$ and at $t - d_l$ (the two taps). So each layer keeps a **queue** of its last $d_l$ inputs: at every step it
# pops the input from $d_l$ steps ago, pushes the new one, and computes a single output. Every sample then costs one
# time step per layer, $O(L)$ instead of $O(r\,L)$, and the queues hold $\sum_l d_l = r - 1$ vectors in all. It is
# the same idea as the key/value cache of chapter 10, and it changes no number. Written out with the layers of the
# trained model, the loop fits in a few lines. It also lets us feed the network a **prompt**, real codes pushed
# through the queues before the first draw, which we use below to make the model continue a real recording.


# %%
@torch.no_grad()
def generate_with_queues(model: WaveNet, n: int, length: int, gen: torch.Generator,
                         prompt: torch.Tensor | None = None) -> torch.Tensor:
    """n sequences of `length` codes, each step one time step per layer; codes of `prompt` (n, P) are fed first."""
    P = 0 if prompt is None else prompt.shape[1]
    u = torch.rand(n, length - P, generator=gen)  # one uniform per drawn code (as WaveNet.sample draws them)
    R = model.embed.embedding_dim
    queues = [deque([torch.zeros(n, R, 1)] * d) for d in model.dilations]  # layer l: its last d_l inputs (zeros)
    token, codes = torch.full((n,), model.start_token), []
    for t in range(length):
        h = model.embed(token)[:, :, None]  # the newest input, one time step: (n, R, 1)
        skip = 0
        for queue, filt, res, sk in zip(queues, model.filters, model.residual, model.skip, strict=True):
            past = queue.popleft()  # this layer's input d_l steps ago
            queue.append(h)
            filter_half, gate_half = F.conv1d(torch.cat([past, h], dim=-1), filt.weight, filt.bias).chunk(2, dim=1)
            z = torch.tanh(filter_half) * torch.sigmoid(gate_half)  # the two taps W_0 past + W_1 h, gated
            h = h + res(z)
            skip = skip + sk(z)
        logits = model.head(skip)[:, :, 0]  # p(x_t | x_<t) for the next code
        token = prompt[:, t] if t < P else draw(logits, u[:, t - P])  # inverse CDF, as in every arlib sampler
        codes.append(token)
    return torch.stack(codes, dim=1)


by_hand = generate_with_queues(wavenet, 2, max(TIMING_LENGTHS), torch.Generator().manual_seed(SEED))
by_arlib = wavenet.sample(2, length=max(TIMING_LENGTHS), generator=torch.Generator().manual_seed(SEED))
print(f"our queue loop == wavenet.sample on {max(TIMING_LENGTHS)} codes, same generator seed:",
      torch.equal(by_hand, by_arlib))

# %% [markdown]
# `WaveNet.sample(..., use_cache=False)` recomputes naively; with the same generator, it must produce the same samples
# as the queues. We time both on the model above, for generated lengths up to {glue:text}`timing_max` samples, beyond
# the receptive field.

# %%
glue("timing_max", max(TIMING_LENGTHS))
timing = {True: [], False: []}
drawn = {}
for length in TIMING_LENGTHS:
    for cached in (True, False):
        start = time.perf_counter()
        drawn[cached], logits = wavenet.sample(1, length=length, generator=torch.Generator().manual_seed(SEED), use_cache=cached,
                                               return_logits=True)
        timing[cached].append(time.perf_counter() - start)
        if cached:
            cached_logits = logits
identical = torch.equal(drawn[True], drawn[False])
glue("cache_identical", int(identical))
print(f"the same {max(TIMING_LENGTHS)} samples with and without the queues: {identical}")
print("largest difference between their logits below 1e-4:", (cached_logits - logits).abs().max().item() < 1e-4)

# %% tags=["nbval-ignore-output"]
speedup = timing[False][-1] / timing[True][-1]
glue("cache_speedup", round(speedup, 1))
fig, axes = plt.subplots(1, 3, figsize=(15, 3.2))
axes[0].plot(mu_law_decode(drawn[False][0]), lw=1.8, color="C0", label="naive")
axes[0].plot(mu_law_decode(drawn[True][0]), lw=0.7, ls="--", color="C3", label="queues")
axes[0].set_xlabel("sample")
axes[0].set_title("the same generator seed: identical samples")
axes[0].legend()
for cached, label in ((False, "naive (recompute the receptive field)"), (True, "queues (one step per layer)")):
    axes[1].plot(TIMING_LENGTHS, timing[cached], "o-", label=label)
    axes[2].plot(TIMING_LENGTHS, [1000 * s / n for s, n in zip(timing[cached], TIMING_LENGTHS, strict=True)], "o-",
                 label=label)
for ax in axes[1:]:
    ax.axvline(r, color="0.6", ls=":", label=f"receptive field r = {r}")
    ax.set_xlabel("generated length (samples)")
    ax.legend(fontsize=8)
axes[1].set_ylabel("seconds")
axes[2].set_ylabel("milliseconds per sample")
fig.suptitle(f"one sequence on one CPU thread: at {max(TIMING_LENGTHS)} samples the queues are {speedup:.1f}× faster "
             "(measured when this page was built)", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# The naive cost per sample grows with the prefix until the prefix fills the receptive field, then stays at $r$
# positions per sample; with queues it is flat from the start. At {glue:text}`timing_max` samples the queues are
# about {glue:text}`cache_speedup` times faster here (timings vary between runs and machines, so they appear only in
# the figure). The gain is smaller than the ratio of arithmetic, $r$ positions against one, because for a model this
# small the fixed cost of launching a few dozen tiny operations per step dominates. For the paper's much larger
# models, generation speed was the main obstacle to using WaveNet at all; caching was the first answer, and later
# Parallel WaveNet (a non-autoregressive student trained to imitate the WaveNet) and WaveRNN went further.
#
# ## Listening to the model
#
# We generate {glue:text}`n_generated` clips of {glue:text}`generate_seconds` s each with the queues and decode the
# codes back to amplitudes with the inverse μ-law. The model is unconditional: it was never told which digit or which
# speaker to produce, so expect speech-like babble, voiced sounds with a pitch, pauses, noise, rather than words.
# We also give the model the beginning of {glue:text}`n_generated` real test words as prompts, each cut
# {glue:text}`prompt_ms` ms after the voice starts, and let it continue for {glue:text}`generate_seconds` s: with a
# voice in its receptive field, does it keep the pitch?

# %%
glue("n_generated", N_GENERATED)
glue("generate_seconds", GENERATE_SECONDS)
glue("prompt_ms", round(1000 * PROMPT_SECONDS))
n_gen, n_prompt = int(GENERATE_SECONDS * RATE), int(PROMPT_SECONDS * RATE)
generated = mu_law_decode(wavenet.sample(N_GENERATED, length=n_gen, generator=torch.Generator().manual_seed(SEED)))

prompts = []
for i in order:  # test clips in the seeded order; the prompt: 50 ms before the voice starts, then PROMPT_SECONDS
    wave = mu_law_decode(test_codes[i].long())
    loud = (wave.abs() > 0.05).nonzero().flatten()  # the voice starts at the first sample louder than 0.05
    begin = max(0, int(loud[0]) - RATE // 20) if len(loud) else len(wave)
    if begin + RATE // 20 + n_prompt <= len(wave) and len(prompts) < N_GENERATED:
        prompts.append(test_codes[i][begin: begin + RATE // 20 + n_prompt].long())
prompts = torch.stack(prompts)
continued = mu_law_decode(generate_with_queues(wavenet, N_GENERATED, prompts.shape[1] + n_gen,
                                               torch.Generator().manual_seed(SEED), prompt=prompts))
glue("generated_rms", round(generated.pow(2).mean().sqrt().item(), 4))
glue("continued_rms", round(continued[:, prompts.shape[1]:].pow(2).mean().sqrt().item(), 4))
glue("real_rms", round(mu_law_decode(torch.cat(test_codes).long()).pow(2).mean().sqrt().item(), 4))
print(f"RMS amplitude: generated {generated.pow(2).mean().sqrt():.4f}, continuations "
      f"{continued[:, prompts.shape[1]:].pow(2).mean().sqrt():.4f}, test split "
      f"{mu_law_decode(torch.cat(test_codes).long()).pow(2).mean().sqrt():.4f}")

fig, axes = plt.subplots(N_GENERATED, 2, figsize=(14, 1.5 * N_GENERATED + 0.6), sharey=True, squeeze=False)
for i in range(N_GENERATED):
    axes[i, 0].plot(torch.arange(n_gen) / RATE, generated[i], lw=0.5, color="C3")
    axes[i, 0].set_title(f"generated clip {i + 1}", fontsize=9, loc="left")
    axes[i, 1].plot(torch.arange(continued.shape[1]) / RATE, continued[i], lw=0.5, color="C3", label="model")
    axes[i, 1].plot(torch.arange(prompts.shape[1]) / RATE, continued[i, : prompts.shape[1]], lw=0.5, color="0.2",
                    label="prompt (real)")
    axes[i, 1].set_title(f"continuation {i + 1}", fontsize=9, loc="left")
axes[0, 1].legend(fontsize=8, loc="upper right")
for ax in axes[-1]:
    ax.set_xlabel("time (s)")
plt.tight_layout()
plt.show()

print("a real test clip:")
display(Audio(mu_law_decode(test_codes[subset[0]].long()).numpy(), rate=RATE))
for i in range(N_GENERATED):
    print(f"generated clip {i + 1}:")
    display(Audio(generated[i].numpy(), rate=RATE))
for i in range(N_GENERATED):
    print(f"continuation {i + 1} (the first {1000 * prompts.shape[1] / RATE:.0f} ms are real):")
    display(Audio(continued[i].numpy(), rate=RATE))

# %% [markdown]
# The players normalise loudness, so listen to the character of the sound rather than its level. Started from the
# start token, the model must invent everything, including when the voice begins, and an unconditional model trained
# on a few minutes of audio tends to spend much of its time in the quiet it has seen before and after every word. Given the
# first moments of a real word, it has a voice in its receptive field and carries it on, with its pitch, for a
# while before it drifts: {glue:text}`receptive_ms` ms of memory is enough for the pitch period, not for a word. The original WaveNet
# produced intelligible speech because it was **conditioned**:
# every layer also received features of the text to be spoken (local conditioning) and a speaker identity (global
# conditioning), added inside the gate, $z = \tanh(W_f * h + V_f c) \odot \sigma(W_g * h + V_g c)$. It was also larger
# (30 layers in the paper's example stack, a receptive field of a few hundred milliseconds at 16 kHz) and trained on
# tens of hours of speech, where this one learned from {glue:text}`train_minutes` minutes of six speakers on a CPU.
#
# ## Summary
#
# - WaveNet models raw audio sample by sample with the chain rule; each conditional is a 256-way softmax over
#   **μ-law** codes, which spend their levels where speech lives: {glue:text}`mulaw_snr_db` dB SNR against
#   {glue:text}`uniform_snr_db` dB for 256 uniform levels on the test audio.
# - A **causal convolution** pads on the left, so the output at $t$ is aligned with its last input and reads nothing
#   later; training computes every conditional in one parallel pass.
# - **Dilations** $1, 2, 4, \dots$ double the reach at every layer: $L$ layers of kernel size 2 see $2^L$ inputs
#   instead of $L + 1$ ({glue:text}`rf_dilated` against {glue:text}`rf_plain` in the diagram, which we computed
#   from the configuration and verified on the model).
# - Each layer combines a **gated activation** $\tanh \odot \sigma$, a **residual** connection and a **skip**
#   connection to the output head; we rebuilt the whole network by hand and matched `arlib`.
# - On spoken digits, the WaveNet needs {glue:text}`wavenet_test_bits` bits per sample, against
#   {glue:text}`bigram_test_bits` for a previous-code table and {glue:text}`unigram_test_bits` for a histogram.
# - Generation is sequential; **queues** of past activations make each sample cost one step per layer instead of a
#   whole receptive field, with identical samples (here about {glue:text}`cache_speedup` times faster). We wrote the
#   queue loop by hand, matched `WaveNet.sample`, and used it to continue real words from a prompt.
#
# ## Exercises
#
# 1. **Receptive fields.** Give the receptive field of dilations $1, 2, \dots, 512$ repeated three times, and of the
#    same stack with kernel size 3 (pad $2d$ on the left). Check both with `feeding_nodes` (extend it to three taps)
#    and with the perturbation test on a small model.
# 2. **μ-law with fewer classes.** Quantise the test audio to $K = 16$ and $K = 64$ codes (`mu_law_encode(a, K)`) and
#    measure the SNR. How many bits per sample does the histogram baseline need for each $K$, and why does that
#    comparison not tell you which $K$ gives better audio?
# 3. **A causal-convolution bug.** Replace the left padding in `causal_conv` by symmetric padding (`padding="same"`).
#    Which test of this chapter fails first, and what would the training loss do?
# 4. **Temperature.** Generate with `temperature=0.9` and `1.1`. How do the loudness and the bits per sample (under
#    the model at temperature 1) of the samples change?
# 5. **Conditioning on the digit.** Add a learned embedding of the digit to the gate input of every layer (global
#    conditioning, $V_f c$ and $V_g c$ above), train on one digit against all, and compare the test bits per sample
#    with and without the label.
# 6. **The cost of naive generation.** Count the multiply-adds of one naive and one cached step of `wavenet` and
#    compare their ratio with the measured speed-up. What dominates the cached step's time?
