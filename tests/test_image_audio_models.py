"""PixelCNN, GatedPixelCNN, PixelRNN and WaveNet at toy sizes, and the μ-law.

Exact normalisation by enumerating every image / every sequence, the autoregressive property and the
receptive fields by gradients (the PixelCNN blind spot measured, and its absence in the gated model),
cached against naive WaveNet generation, samples against log_prob by chi-square, clear errors on bad
input, and the μ-law round trip.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from arlib.models import GatedPixelCNN, PixelCNN, PixelRNN, WaveNet, mu_law_decode, mu_law_encode
from tests.helpers import chi_square_pvalue

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster; conftest seeds each test


def perturbed(model, seed: int, scale: float = 1.0):
    """The model in float64 with every parameter moved randomly (masked weights stay masked in the forward pass)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return model.double().eval()


def all_images(shape: tuple[int, int, int], k: int) -> torch.Tensor:
    """Every image of the given (C, H, W) shape with values in {0, ..., k − 1}: (k^n, C, H, W) int64."""
    n = math.prod(shape)
    return torch.tensor(list(itertools.product(range(k), repeat=n)), dtype=torch.long).view(-1, *shape)


def index_of(x: torch.Tensor, k: int) -> torch.Tensor:
    """Row index of each example in all_images / all_sequences (first flat entry most significant)."""
    flat = x.reshape(x.shape[0], -1)
    return (flat * k ** torch.arange(flat.shape[1] - 1, -1, -1)).sum(1)


def raster_index(shape: tuple[int, int, int]) -> torch.Tensor:
    """Position of each (c, i, j) in the generation order: rows, then columns, then channels within a pixel."""
    C, H, W = shape
    c, i, j = torch.meshgrid(torch.arange(C), torch.arange(H), torch.arange(W), indexing="ij")
    return (i * W + j) * C + c


IMAGE_MODELS = ["pixelcnn", "pixelcnn-k7", "gated", "gated-conditional", "pixelrnn", "pixelrnn-diagonal"]


def image_model(name: str, shape: tuple[int, int, int], k: int, seed: int = 0):
    hidden = 6 if shape[0] == 3 else 4
    make = {
        "pixelcnn": lambda: PixelCNN(shape, k, hidden, 3, first_kernel_size=3),
        "pixelcnn-k7": lambda: PixelCNN(shape, k, hidden, 2),
        "gated": lambda: GatedPixelCNN(shape, k, hidden, 3),
        "gated-conditional": lambda: GatedPixelCNN(shape, k, hidden, 2, n_classes=3),
        "pixelrnn": lambda: PixelRNN(shape, k, hidden, 2, first_kernel_size=3),
        "pixelrnn-diagonal": lambda: PixelRNN(shape, k, hidden, 2, first_kernel_size=3, recurrence="diagonal"),
    }[name]
    torch.manual_seed(seed)
    return perturbed(make(), 100 + seed, 0.7)


def labels_for(model, batch: int, label: int = 1):
    return None if model.n_classes is None else torch.full((batch,), label)


# ---------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("shape,k", [((1, 3, 3), 2), ((3, 1, 2), 2), ((1, 2, 2), 3)])
@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_probabilities_of_all_images_sum_to_one(name, shape, k):
    model = image_model(name, shape, k)
    x = all_images(shape, k)
    for label in range(model.n_classes or 1):
        log_p = model.log_prob(x, labels_for(model, len(x), label))
        assert log_p.shape == (len(x),) and log_p.dtype == torch.float64
        assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-5), (name, label)
        assert log_p.max() - log_p.min() > 1.0  # far from uniform
    if model.n_classes:
        assert not torch.allclose(model.log_prob(x, labels_for(model, len(x), 0)), log_p)  # the label matters


def test_float_pixels_with_integral_values_are_accepted():
    model = image_model("pixelcnn", (3, 1, 2), 2)
    x = all_images((3, 1, 2), 2)
    for dtype in (torch.float32, torch.float64, torch.int32, torch.uint8, torch.bool):
        torch.testing.assert_close(model.log_prob(x.to(dtype)), model.log_prob(x))


# ---------------------------------------------------------------------------- autoregressive property
@pytest.mark.parametrize("shape", [(1, 4, 4), (3, 3, 3)])
@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_each_prediction_sees_only_earlier_pixels_and_channels(name, shape):
    model = image_model(name, shape, 3)
    order = raster_index(shape)
    C, H, W = shape
    for c, i, j in itertools.product(range(C), range(H), range(W)):
        grad = model.receptive_field_map(i, j, c)
        assert grad.shape == shape
        later = order >= order[c, i, j]
        assert (grad[later] == 0).all(), (name, c, i, j)  # exactly zero: the masks cut every path
        if order[c, i, j] > 0:
            assert (grad[~later] > 0).any(), (name, c, i, j)
        if c > 0:  # the earlier colours of the same pixel are seen (mask B lets them through)
            assert (grad[:c, i, j] > 0).all(), (name, c, i, j)


def pixelcnn_reach(shape, i, j, n_layers, first_kernel):
    """Where PixelCNN's prediction at (i, j) can look: a k × k mask-A layer (r = k // 2), then 3 × 3 mask-B layers.

    A mask-B kernel moves one column right only while moving one row up, so row i − a is reached from
    column j − (r + L − 1) to column j + r + min(a − 1, L − 1); the row itself to the left of j.
    """
    _, H, W = shape
    reach, r = n_layers - 1 + first_kernel // 2, first_kernel // 2
    seen = torch.zeros(shape, dtype=torch.bool)
    seen[0, i, max(0, j - reach): j] = True
    for a in range(1, min(reach, i) + 1):
        seen[0, i - a, max(0, j - reach): j + r + min(a - 1, n_layers - 1) + 1] = True
    return seen


def nominal_field(shape, i, j, reach):
    """The square of radius ``reach`` above (i, j) and the ``reach`` pixels left of it."""
    box = torch.zeros(shape, dtype=torch.bool)
    box[0, max(0, i - reach): i, max(0, j - reach): j + reach + 1] = True
    box[0, i, max(0, j - reach): j] = True
    return box


@pytest.mark.parametrize("first_kernel,n_layers,shape,pixel", [(3, 4, (1, 6, 8), (5, 3)), (7, 2, (1, 6, 9), (5, 4))])
def test_pixelcnn_blind_spot_is_measured(first_kernel, n_layers, shape, pixel):
    torch.manual_seed(1)
    model = perturbed(PixelCNN(shape, 2, 4, n_layers, first_kernel_size=first_kernel), 1)
    seen = model.receptive_field_map(*pixel) > 0
    expected = pixelcnn_reach(shape, *pixel, n_layers, first_kernel)
    assert torch.equal(seen, expected)
    box = nominal_field(shape, *pixel, n_layers - 1 + first_kernel // 2)
    blind = box & ~seen  # earlier in raster order, inside the nominal receptive field, yet never seen
    assert blind.any() and not (seen & ~box).any()
    i, j = pixel
    assert not seen[0, i - 1, j + first_kernel // 2 + 1]  # just above and to the right


@pytest.mark.parametrize("kernel,n_layers,shape", [(3, 3, (1, 7, 7)), (5, 2, (1, 7, 9)), (3, 2, (3, 4, 5))])
def test_gated_pixelcnn_sees_every_earlier_pixel_in_its_field(kernel, n_layers, shape):
    torch.manual_seed(2)
    model = perturbed(GatedPixelCNN(shape, 2, 6, n_layers, n_classes=2, kernel_size=kernel), 2)
    C, H, W = shape
    reach = n_layers * (kernel // 2)
    for i, j in [(H - 1, W // 2), (H - 2, 1), (H - 1, W - 1)]:
        for c in range(C):
            seen = model.receptive_field_map(i, j, c) > 0
            box = nominal_field((1, H, W), i, j, reach).expand(C, H, W).clone()
            box[:c, i, j] = True  # and the earlier colours of the pixel itself
            assert torch.equal(seen, box), (i, j, c)
    # a PixelCNN with the same kernels and layers sees part of that field only: its blind spot
    torch.manual_seed(3)
    pixelcnn = perturbed(PixelCNN(shape, 2, 6, n_layers, kernel_size=kernel, first_kernel_size=kernel), 3)
    seen = pixelcnn.receptive_field_map(H - 1, W // 2) > 0
    box = nominal_field((1, H, W), H - 1, W // 2, reach).expand(C, H, W)
    assert not (seen & ~box).any() and (box & ~seen).any()


# ---------------------------------------------------------------------------- samples vs log_prob
@pytest.mark.parametrize("shape,k", [((1, 2, 2), 2), ((3, 1, 1), 3)])
@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_image_samples_follow_log_prob(name, shape, k):
    model = image_model(name, shape, k, seed=3)
    gen = torch.Generator().manual_seed(4)
    samples = model.sample(20000, y=2, generator=gen) if model.n_classes else model.sample(20000, generator=gen)
    assert samples.shape == (20000, *shape) and samples.dtype == torch.long
    x = all_images(shape, k)
    observed = torch.bincount(index_of(samples, k), minlength=len(x)).numpy()
    expected = model.log_prob(x, labels_for(model, len(x), 2)).exp().detach().numpy()
    assert chi_square_pvalue(observed, expected) > 1e-3, name


@pytest.mark.parametrize("name", ["pixelcnn", "gated-conditional", "pixelrnn"])
def test_completions_follow_the_conditional_distribution(name):
    shape, k = (1, 2, 2), 2
    model = image_model(name, shape, k, seed=5)
    top = torch.tensor([[[[1, 0], [0, 0]]]]).expand(20000, *shape)
    y = labels_for(model, 20000, 0)
    completed = model.complete(top, 1, generator=torch.Generator().manual_seed(6), y=y)
    assert torch.equal(completed[:, :, 0], top[:, :, 0])
    x = all_images(shape, k)[8:12]  # the four images whose first row is (1, 0)
    observed = torch.bincount(index_of(completed, k) - 8, minlength=4).numpy()
    expected = model.log_prob(x, labels_for(model, 4, 0)).exp().detach().numpy()
    assert chi_square_pvalue(observed, expected) > 1e-3
    assert torch.equal(model.complete(top[:3], 2, y=labels_for(model, 3, 0)), top[:3])  # nothing left to draw


def test_sampling_is_a_function_of_the_generator_and_labels():
    model = image_model("gated-conditional", (1, 3, 3), 2)
    a = model.sample(50, y=1, generator=torch.Generator().manual_seed(0))
    b = model.sample(50, y=torch.full((50,), 1), generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert not torch.equal(a, model.sample(50, y=0, generator=torch.Generator().manual_seed(0)))
    unconditional = image_model("gated", (1, 3, 3), 2)
    with pytest.raises(TypeError):  # sample's options, the generator included, are passed by name
        unconditional.sample(5, torch.Generator().manual_seed(1))


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("method", ["log_prob", "nll", "logits"])
def test_bad_images_are_refused_clearly(name, method):
    model = image_model(name, (1, 3, 3), 2)
    fn = getattr(model, method)

    def call(x):
        return fn(x, labels_for(model, x.shape[0]) if x.dim() else None)

    call(torch.zeros(2, 1, 3, 3, dtype=torch.int32))
    for bad in (torch.zeros(2, 1, 3, 4), torch.zeros(2, 3, 3, 3), torch.zeros(1, 3, 3), torch.zeros(2, 9)):
        with pytest.raises(ValueError, match=r"shape \(B, 1, 3, 3\).*got shape"):
            call(bad)
    for value, match in [(2, r"values in \[0, 2\).*got values in \[0, 2\]"), (-1, r"got values in \[-1, 0\]")]:
        x = torch.zeros(2, 1, 3, 3, dtype=torch.long)
        x[1, 0, 2, 1] = value
        with pytest.raises(ValueError, match=match):
            call(x)
    with pytest.raises(ValueError, match="non-integer"):
        call(torch.full((2, 1, 3, 3), 0.5))
    with pytest.raises(ValueError, match="not a torch.Tensor"):
        fn([[0, 1]])


def test_bad_labels_and_arguments_are_refused():
    conditional, plain = image_model("gated-conditional", (1, 2, 2), 2), image_model("pixelcnn", (1, 2, 2), 2)
    x = torch.zeros(3, 1, 2, 2)
    for y, match in [(None, "got NoneType"), (torch.zeros(2, dtype=torch.long), r"\(B,\) = \(3,\).*got shape"),
                     (torch.zeros(3), "got dtype"), (torch.full((3,), 3), r"\[0, 3\).*got values in \[3, 3\]")]:
        with pytest.raises(ValueError, match=match):
            conditional.log_prob(x, y)
    with pytest.raises(ValueError, match="got NoneType"):
        conditional.sample(2)
    with pytest.raises(ValueError, match="unconditional"):
        plain.log_prob(x, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="n_rows"):
        plain.complete(x, 3)
    with pytest.raises(ValueError, match="positive integer n"):
        plain.sample(0)
    for make, match in [(lambda: PixelCNN((3, 4, 4), 2, 4, 2), "multiple of the 3"),
                        (lambda: PixelCNN((4, 4), 2, 4, 2), r"\(C, H, W\)"),
                        (lambda: GatedPixelCNN((1, 4, 4), 1, 4, 2), "n_categories"),
                        (lambda: PixelRNN((1, 4, 4), 2, 4, 0), "n_layers"),
                        (lambda: PixelCNN((1, 4, 4), 2, 4, 2, kernel_size=4), "odd"),
                        (lambda: GatedPixelCNN((1, 4, 4), 2, 4, 2, n_classes=0), "n_classes"),
                        (lambda: WaveNet(4, 4, []), "dilations")]:
        with pytest.raises(ValueError, match=match):
            make()


# ---------------------------------------------------------------------------- parameters and config
def test_masked_weights_are_not_counted():
    torch.manual_seed(0)
    model = PixelCNN((1, 5, 5), 2, 4, 1, first_kernel_size=3)
    assert model.n_parameters() == (4 * 4 + 4) + (2 * 4 + 2)  # mask A keeps 4 of 9 taps; the 1 × 1 output
    assert (model.first.weight * (1 - model.first.mask) == 0).all()


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_config_rebuilds_the_model(name):
    model = image_model(name, (3, 2, 2), 2)
    rebuilt = type(model)(**json.loads(json.dumps(model.config))).double()
    rebuilt.load_state_dict(model.state_dict())
    x = all_images((3, 2, 2), 2)[::97]
    y = labels_for(model, len(x))
    torch.testing.assert_close(rebuilt.log_prob(x, y), model.log_prob(x, y))


# ---------------------------------------------------------------------------- WaveNet
def all_sequences(length: int, k: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(k), repeat=length)), dtype=torch.long)


def wavenet(dilations, seed: int = 0, k: int = 3):
    torch.manual_seed(seed)
    return perturbed(WaveNet(k, 4, dilations), 200 + seed, 0.7)


@pytest.mark.parametrize("dilations", [[1], [1, 2], [1, 2, 4, 1]])
def test_wavenet_probabilities_of_all_sequences_sum_to_one(dilations):
    model = wavenet(dilations)
    for length in (1, 2, 4):
        log_p = model.log_prob(all_sequences(length, 3))
        assert log_p.shape == (3**length,) and log_p.dtype == torch.float64
        assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-5), (dilations, length)
    assert log_p.max() - log_p.min() > 1.0


def test_wavenet_receptive_field_is_one_plus_the_sum_of_dilations():
    model = wavenet([1, 2, 4])
    assert model.receptive_field == 8
    x = torch.randint(0, 3, (5, 14), generator=torch.Generator().manual_seed(0))
    base = model.logits(x).detach()
    for s in range(14):
        changed = x.clone()
        changed[:, s] = (changed[:, s] + 1) % 3
        moved = (model.logits(changed).detach() - base).abs().amax((0, 2)) > 0
        expected = torch.zeros(14, dtype=torch.bool)
        expected[s + 1: s + 1 + model.receptive_field] = True  # x_s is seen by the next 8 predictions only
        assert torch.equal(moved, expected), s


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_wavenet_cached_and_naive_generation_agree(dtype):
    model = wavenet([1, 2, 4, 1, 2], seed=1).to(dtype)
    length = 3 * model.receptive_field
    cached, logits = model.sample(20, length=length, generator=torch.Generator().manual_seed(7), return_logits=True)
    naive, naive_logits = model.sample(20, length=length, generator=torch.Generator().manual_seed(7), use_cache=False,
                                         return_logits=True)
    assert cached.shape == (20, length) and cached.dtype == torch.long
    assert torch.equal(cached, naive)
    tolerance = 1e-10 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(logits, naive_logits, atol=tolerance, rtol=0)
    torch.testing.assert_close(logits, model.logits(cached), atol=tolerance, rtol=0)  # teacher forcing agrees


def test_wavenet_samples_follow_log_prob():
    model = wavenet([1, 2], seed=2)
    samples = model.sample(20000, length=4, generator=torch.Generator().manual_seed(8))
    observed = torch.bincount(index_of(samples, 3), minlength=81).numpy()
    expected = model.log_prob(all_sequences(4, 3)).exp().detach().numpy()
    assert chi_square_pvalue(observed, expected) > 1e-3


def test_wavenet_refuses_bad_codes():
    model = wavenet([1, 2])
    with pytest.raises(ValueError, match=r"values in \[0, 3\).*got values in \[0, 3\]"):
        model.log_prob(torch.tensor([[0, 1, 3]]))
    with pytest.raises(ValueError, match="got dtype"):
        model.log_prob(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"shape \(B, T\)"):
        model.log_prob(torch.zeros(2, 3, 1, dtype=torch.long))


# ---------------------------------------------------------------------------- μ-law
def test_mu_law_round_trip():
    a = torch.linspace(-1, 1, 20001)
    codes = mu_law_encode(a)
    assert codes.dtype == torch.long and codes.min() == 0 and codes.max() == 255
    assert (codes.diff() >= 0).all()  # monotone
    back = mu_law_decode(codes)
    assert back.dtype == torch.float32 and back.abs().max() <= 1
    assert ((back - a).abs() <= 1e-4 + 0.025 * a.abs()).all()  # fine steps near 0, coarse ones near ±1
    assert torch.equal(mu_law_encode(mu_law_decode(torch.arange(256))), torch.arange(256))
    assert torch.equal(mu_law_encode(mu_law_decode(torch.arange(16), 16), 16), torch.arange(16))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        mu_law_encode(torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="floating-point"):
        mu_law_encode(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 256\)"):
        mu_law_decode(torch.tensor([0, 256]))


def test_classify_is_the_label_of_highest_likelihood():
    model = perturbed(GatedPixelCNN((1, 4, 4), 2, 4, 2, n_classes=3), 5)
    x = torch.randint(0, 2, (7, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    by_class = torch.stack([model.log_prob(x, torch.full((7,), c)) for c in range(3)], 1)
    assert torch.equal(model.classify(x, batch_size=3), by_class.argmax(1))
    with pytest.raises(ValueError, match="unconditional"):
        GatedPixelCNN((1, 4, 4), 2, 4, 2).classify(x)


@pytest.mark.parametrize("shape", [(1, 5, 6), (3, 4, 4)])
def test_diagonal_bilstm_sees_every_earlier_pixel(shape):
    """Unlike the Row LSTM's triangle and the PixelCNN's blind spot: the whole context, nothing later."""
    model = image_model("pixelrnn-diagonal", shape, 2)
    C, H, W = shape
    for i, j in [(H - 1, 1), (H - 1, W - 1), (2, 0)]:
        seen = model.receptive_field_map(i, j, channel=C - 1) > 0  # (C, H, W) for the last channel's prediction
        expected = torch.zeros(C, H, W, dtype=torch.bool)
        expected[:, :i] = True  # every channel of every earlier pixel
        expected[:, i, :j] = True
        expected[: C - 1, i, j] = True  # and the earlier channels of this pixel
        assert torch.equal(seen, expected), (i, j, seen)


def test_sequential_steps_rows_against_diagonals():
    row = PixelRNN((1, 28, 28), 2, 4, 3)
    diagonal = PixelRNN((1, 28, 28), 2, 4, 3, recurrence="diagonal")
    assert row.sequential_steps() == 3 * 28 and diagonal.sequential_steps() == 3 * (2 * 28 - 1)
    with pytest.raises(ValueError, match="recurrence must be 'row' or 'diagonal'"):
        PixelRNN((1, 4, 4), 2, 4, 1, recurrence="zigzag")
