"""The base class contract, on the models of chapters 1-2: IndependentBernoulli, Histogram, mixture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from arlib.models import AutoregressiveModel, DiscretizedLogisticMixture, Histogram, IndependentBernoulli
from tests.helpers import all_binary, chi_square_pvalue


def random_bernoulli(n: int, seed: int = 0) -> IndependentBernoulli:
    model = IndependentBernoulli(n)
    with torch.no_grad():
        model.logits.copy_(torch.randn(n, generator=torch.Generator().manual_seed(seed)) * 2)
    return model


def test_independent_bernoulli_normalises_exactly():
    model = random_bernoulli(8)
    log_p = model.log_prob(all_binary(8))
    assert log_p.shape == (256,)
    assert torch.logsumexp(log_p.double(), 0).exp().item() == pytest.approx(1.0, abs=1e-5)


def test_independent_bernoulli_samples_match_log_prob():
    model = random_bernoulli(4, seed=1)
    samples = model.sample(40000, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (40000, 4)
    index = (samples * torch.tensor([8.0, 4.0, 2.0, 1.0])).sum(1).long()
    observed = torch.bincount(index, minlength=16).numpy()
    assert chi_square_pvalue(observed, model.log_prob(all_binary(4)).exp().detach()) > 1e-3
    # and the test can fail: a different model's probabilities are rejected
    other = random_bernoulli(4, seed=2).log_prob(all_binary(4)).exp().detach()
    assert chi_square_pvalue(observed, other) < 1e-6


def test_conditionals_ignore_the_past():
    model = random_bernoulli(6)
    x = all_binary(6)[17:18]
    for j in range(6):
        flipped = x.clone()
        flipped[0, j] = 1 - flipped[0, j]
        assert torch.equal(model.conditionals(x), model.conditionals(flipped))


def test_closed_form_fit_is_the_smoothed_mean():
    x = torch.tensor([[1, 0], [1, 1], [1, 0]], dtype=torch.uint8)
    model = IndependentBernoulli(2).fit_closed_form(x, pseudo_count=1.0)
    assert torch.sigmoid(model.logits).tolist() == pytest.approx([4 / 5, 2 / 5])


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (torch.zeros(3, 7), "got shape (3, 7)"),
        (torch.zeros(8), "got shape (8,)"),
        (torch.full((2, 8), 2.0), "got values in [2, 2]"),
        (torch.full((2, 8), -1), "got values in [-1, -1]"),
        (torch.full((2, 8), 0.5), "got non-integer values"),
        (torch.zeros(2, 8, dtype=torch.complex64), "got dtype torch.complex64"),
        (np.zeros((2, 8)), "got ndarray, not a torch.Tensor"),
    ],
)
def test_bad_input_raises_clear_value_error(bad, fragment):
    model = IndependentBernoulli(8)
    with pytest.raises(ValueError) as error:
        model.log_prob(bad)
    message = str(error.value)
    assert "IndependentBernoulli expects x of shape (B, 8) with values in {0, 1}" in message
    assert fragment in message


def test_any_numeric_dtype_is_accepted():
    model = random_bernoulli(3)
    x = torch.tensor([[0, 1, 1]])
    expected = model.log_prob(x.float())
    for dtype in (torch.uint8, torch.int64, torch.bool, torch.float64):
        assert torch.allclose(model.log_prob(x.to(dtype)), expected)


def test_sample_rejects_bad_n():
    with pytest.raises(ValueError, match="positive integer n"):
        IndependentBernoulli(3).sample(0)


def test_config_is_recorded_for_rebuilding():
    assert IndependentBernoulli(5).config == {"n_dims": 5}
    assert DiscretizedLogisticMixture(10, n_components=3).config == {"n_values": 10, "n_components": 3}


def test_nll_is_mean_negative_log_prob():
    model = random_bernoulli(8)
    x = all_binary(8)[:10]
    assert model.nll(x).item() == pytest.approx(-model.log_prob(x).mean().item())


def test_base_class_is_abstract():
    with pytest.raises(TypeError):
        AutoregressiveModel()


@pytest.mark.parametrize("model", [
    Histogram(7, pseudo_count=0.5).fit_counts(torch.tensor([[0], [3], [3], [6]])),
    DiscretizedLogisticMixture(7, n_components=2),
])
def test_discrete_models_normalise_and_sample_by_inverse_cdf(model):
    values = torch.arange(7).unsqueeze(1)
    probs = model.log_prob(values).exp().detach()
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-6)
    samples = model.sample(50000, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (50000, 1) and samples.dtype == torch.int64
    observed = torch.bincount(samples[:, 0], minlength=7).numpy()
    assert chi_square_pvalue(observed, probs) > 1e-3


def test_histogram_counts_and_rejects_out_of_range():
    model = Histogram(4).fit_counts(torch.tensor([[1], [1], [2], [3]]))
    assert model.probs().tolist() == pytest.approx([0, 0.5, 0.25, 0.25])
    assert model.log_prob(torch.tensor([[0]])).item() == float("-inf")
    with pytest.raises(ValueError, match=r"integer values in \[0, 4\).*got values in \[4, 4\]"):
        model.log_prob(torch.tensor([[4]]))
