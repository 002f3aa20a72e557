"""FVSBN, NADE (binary, categorical, order-agnostic), RNADE and MADE at toy sizes.

Exact normalisation by enumeration, the autoregressive property by flipping inputs, samples against
log_prob by chi-square / KS tests, bad input, fast-vs-naive NADE, masks and masked weights.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from arlib.models import FVSBN, MADE, NADE, RNADE, CategoricalNADE, DeepNADE
from arlib.models.nade import BLOCK, running_hidden


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def all_values(n: int, k: int = 2) -> torch.Tensor:
    values = torch.tensor(list(itertools.product(range(k), repeat=n)))
    return values.float() if k == 2 else values


def perturbed(model, seed: int = 0, scale: float = 1.0):
    """The model in float64 with every parameter moved randomly away from its initial value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return model.double()


def index_of(x: torch.Tensor, k: int = 2) -> torch.Tensor:
    """Row index of each sample in all_values(n, k) (first dimension most significant)."""
    n = x.shape[1]
    return (x.long() * (k ** torch.arange(n - 1, -1, -1))).sum(1)


OA_ORDER = {4: [2, 0, 3, 1], 6: [3, 0, 5, 1, 4, 2]}


def binary_models(n: int):
    """(name, model, log_prob keyword arguments) for every binary variant."""
    return [
        ("fvsbn", perturbed(FVSBN(n), 1), {}),
        ("nade", perturbed(NADE(n, 5), 2), {}),
        ("nade-oa", perturbed(DeepNADE(n, 7, n_layers=2), 3, 0.5), {}),
        ("nade-oa-order", perturbed(DeepNADE(n, 7), 4, 0.5), {"order": OA_ORDER[n]}),
        ("made", perturbed(MADE(n, [10, 9]), 5), {"mask_index": 0}),
        ("made-random-1", perturbed(MADE(n, [12, 12], n_masks=3, order="random"), 6), {"mask_index": 1}),
        ("made-direct", perturbed(MADE(n, [10], n_masks=2, order="random", direct=True), 22), {"mask_index": 1}),
    ]


# ---------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("case", range(7))
def test_binary_models_normalise_exactly(case):
    name, model, kw = binary_models(6)[case]
    log_p = model.log_prob(all_values(6), **kw)
    assert log_p.shape == (64,) and log_p.dtype == torch.float64
    assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-5), name


def test_made_every_mask_set_and_the_ensemble_normalise():
    model = perturbed(MADE(7, [15, 15], n_masks=4, order="random", seed=3), 7)
    x = all_values(7)
    for k in range(4):
        assert torch.logsumexp(model.log_prob(x, mask_index=k), 0).item() == pytest.approx(0.0, abs=1e-5)
    assert torch.logsumexp(model.log_prob_ensemble(x), 0).item() == pytest.approx(0.0, abs=1e-5)
    direct = torch.stack([model.log_prob(x, mask_index=k).exp() for k in range(4)]).mean(0).log()
    torch.testing.assert_close(model.log_prob_ensemble(x), direct)


@pytest.mark.parametrize("order_agnostic", [False, True])
def test_categorical_nade_normalises(order_agnostic):
    model = perturbed((DeepNADE if order_agnostic else CategoricalNADE)(4, 5, n_categories=3), 8, 0.7)
    x = all_values(4, 3)
    kw = {"order": [2, 0, 3, 1]} if order_agnostic else {}
    assert torch.logsumexp(model.log_prob(x, **kw), 0).item() == pytest.approx(0.0, abs=1e-5)
    assert model.sample(5).dtype == torch.long


@pytest.mark.parametrize("kw", [{}, {"uniform_weights": True}, {"n_components": 1}, {"activation": "relu"}])
def test_rnade_one_dimension_integrates_to_one(kw):
    model = perturbed(RNADE(1, 4, **{"n_components": 3, **kw}), 9, 0.3)
    grid = torch.linspace(-25, 25, 20001, dtype=torch.float64)
    density = model.log_prob(grid.unsqueeze(1)).exp().detach()
    assert torch.trapezoid(density, grid).item() == pytest.approx(1.0, abs=1e-3)


def test_rnade_two_dimensions_integrate_to_one():
    model = perturbed(RNADE(2, 5, 2), 10, 0.3)
    axis = torch.linspace(-15, 15, 601, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    density = model.log_prob(grid).exp().detach().view(601, 601)
    total = torch.trapezoid(torch.trapezoid(density, axis, dim=1), axis)
    assert total.item() == pytest.approx(1.0, abs=1e-3)


# ---------------------------------------------------------------------------- autoregressive property
def ar_cases():
    n = 7
    made = perturbed(MADE(n, [14, 14], n_masks=2, order="random", seed=1), 11)
    direct = perturbed(MADE(n, [6], n_masks=2, order="random", seed=2, direct=True), 23)
    return [
        ("fvsbn", perturbed(FVSBN(n), 12), lambda m, x: m.conditionals(x), list(range(n)), 2),
        ("nade", perturbed(NADE(n, 6), 13), lambda m, x: m.conditionals(x), list(range(n)), 2),
        ("nade-k3", perturbed(CategoricalNADE(n, 6, n_categories=3), 14), lambda m, x: m.conditionals(x),
         list(range(n)), 3),
        ("nade-oa", perturbed(DeepNADE(n, 8), 15, 0.5),
         lambda m, x: m.conditionals(x, order=[6, 2, 0, 4, 1, 5, 3]), [6, 2, 0, 4, 1, 5, 3], 2),
        ("made-0", made, lambda m, x: m.conditionals(x, mask_index=0), made.order(0).tolist(), 2),
        ("made-1", made, lambda m, x: m.conditionals(x, mask_index=1), made.order(1).tolist(), 2),
        ("made-direct", direct, lambda m, x: m.conditionals(x, mask_index=1), direct.order(1).tolist(), 2),
    ]


@pytest.mark.parametrize("case", range(7))
def test_conditionals_only_look_at_the_past(case):
    name, model, conditionals, order, k = ar_cases()[case]
    gen = torch.Generator().manual_seed(case)
    x = torch.randint(0, k, (16, len(order)), generator=gen)
    x = x.float() if k == 2 else x
    base = conditionals(model, x).detach()
    some_later_change = False
    for p, j in enumerate(order):
        flipped = x.clone()
        flipped[:, j] = (flipped[:, j] + 1) % k
        new = conditionals(model, flipped).detach()
        past = order[: p + 1]
        torch.testing.assert_close(new[:, past], base[:, past], atol=1e-6, rtol=0, msg=f"{name}, dim {j}")
        some_later_change |= bool((new[:, order[p + 1 :]] - base[:, order[p + 1 :]]).abs().max() > 1e-3) \
            if p + 1 < len(order) else False
    assert some_later_change, name


# ---------------------------------------------------------------------------- samples vs log_prob
@pytest.mark.parametrize("case", range(7))
def test_binary_samples_match_log_prob(case):
    name, model, kw = binary_models(4)[case]
    samples = model.sample(20000, generator=torch.Generator().manual_seed(case), **kw)
    assert samples.shape == (20000, 4)
    observed = torch.bincount(index_of(samples), minlength=16).numpy()
    expected = model.log_prob(all_values(4), **kw).exp().detach().numpy() * 20000
    assert stats.chisquare(observed, expected).pvalue > 1e-3, name


def test_categorical_samples_match_log_prob():
    model = perturbed(CategoricalNADE(3, 5, n_categories=3), 16, 0.7)
    samples = model.sample(20000, generator=torch.Generator().manual_seed(0))
    observed = torch.bincount(index_of(samples, 3), minlength=27).numpy()
    expected = model.log_prob(all_values(3, 3)).exp().detach().numpy() * 20000
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_rnade_samples_match_the_integrated_cdf():
    model = perturbed(RNADE(1, 4, 3), 17, 0.3)
    grid = torch.linspace(-25, 25, 20001, dtype=torch.float64)
    density = model.log_prob(grid.unsqueeze(1)).exp().detach()
    cdf = torch.cat([torch.zeros(1, dtype=torch.float64),
                     torch.cumulative_trapezoid(density, grid)]).numpy()
    samples = model.sample(20000, generator=torch.Generator().manual_seed(0))[:, 0].numpy()
    assert stats.kstest(samples, lambda t: np.interp(t, grid.numpy(), cdf)).pvalue > 1e-3


# ---------------------------------------------------------------------------- bad input
def methods():
    nade = NADE(5, 4)
    made = MADE(5, [8], n_masks=2)
    fvsbn = FVSBN(5)
    oa = DeepNADE(5, 4)
    return [
        (fvsbn, "log_prob"), (fvsbn, "conditionals"), (fvsbn, "logits"), (fvsbn, "nll"),
        (nade, "log_prob"), (nade, "conditionals"), (nade, "nll"), (nade, "log_prob_naive"),
        (oa, "log_prob"), (oa, "conditionals"), (oa.train(), "nll"),
        (made, "log_prob"), (made, "conditionals"), (made, "logits"), (made, "log_prob_ensemble"),
        (made, "nll"),
    ]


@pytest.mark.parametrize("case", range(16))
def test_every_method_rejects_bad_input(case):
    model, method = methods()[case]
    fn = getattr(model, method)
    with pytest.raises(ValueError, match=r"shape \(B, 5\)"):
        fn(torch.zeros(3, 6))
    with pytest.raises(ValueError, match=r"shape \(B, 5\)"):
        fn(torch.zeros(5))
    for bad in (2.0, 0.5, -1.0):
        with pytest.raises(ValueError):
            fn(torch.full((3, 5), bad))


def test_categorical_and_real_inputs_are_checked():
    nade = CategoricalNADE(4, 3, n_categories=3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        nade.log_prob(torch.full((2, 4), 3))
    with pytest.raises(ValueError):
        nade.log_prob_naive(torch.full((2, 4), 1.5))
    rnade = RNADE(3, 4, 2)
    for bad in (torch.zeros(2, 4), torch.ones(2, 3, dtype=torch.long), torch.full((2, 3), math.inf)):
        with pytest.raises(ValueError, match=r"shape \(B, 3\)"):
            rnade.log_prob(bad)
        with pytest.raises(ValueError):
            rnade.mixture(bad)
    with pytest.raises(ValueError, match="permutation"):
        DeepNADE(4, 3).log_prob(torch.zeros(2, 4), order=[0, 1, 1, 2])
    with pytest.raises(ValueError, match="order_agnostic"):
        NADE(4, 3).log_prob(torch.zeros(2, 4), order=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="mask_index"):
        MADE(4, [5], n_masks=2).log_prob(torch.zeros(2, 4), mask_index=2)
    with pytest.raises(ValueError, match="permutation"):
        MADE(3, [5], order=[0, 2])


# ---------------------------------------------------------------------------- NADE: fast vs naive
@pytest.mark.parametrize("k", [2, 3])
def test_nade_fast_log_prob_and_gradients_equal_the_naive_ones(k):
    n = 2 * BLOCK + 5  # several blocks, the last one partial
    model = perturbed(NADE(n, 6, fused=True) if k == 2 else CategoricalNADE(n, 6, k, fused=True), 18, 0.5)
    x = torch.randint(0, k, (9, n), generator=torch.Generator().manual_seed(0))
    x = x.float() if k == 2 else x
    fast, naive = model.log_prob(x), model.log_prob_naive(x)
    torch.testing.assert_close(fast, naive, atol=1e-4, rtol=0)
    grads_fast = torch.autograd.grad(fast.sum(), list(model.parameters()))
    grads_naive = torch.autograd.grad(naive.sum(), list(model.parameters()))
    for a, b in zip(grads_fast, grads_naive, strict=True):
        torch.testing.assert_close(a, b, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_running_hidden_gradcheck(activation):
    gen = torch.Generator().manual_seed(1)
    n, B, d = BLOCK + 3, 3, 2
    X = torch.randn(n, B, 2, generator=gen, dtype=torch.float64)
    W, c, V = (torch.randn(*s, generator=gen, dtype=torch.float64, requires_grad=True)
               for s in [(n, 2, d), (d,), (n, 3, d)])
    assert torch.autograd.gradcheck(lambda W, c, V: running_hidden(X, W, c, V, activation, fused=True), (W, c, V))
    # the plain-autograd path (taken when x needs a gradient) gives the same values
    torch.testing.assert_close(running_hidden(X.requires_grad_(), W, c, V, activation),
                               running_hidden(X.detach(), W, c, V, activation, fused=True))


def test_reused_activation_buffer_is_safe():
    model = NADE(20, 4, fused=True)
    x = torch.randint(0, 2, (3, 20)).float()
    first = model.nll(x)
    first.backward(retain_graph=True)
    model.nll(x).backward()  # reuses the buffer the first graph saved
    with pytest.raises(RuntimeError, match="inplace"):
        first.backward()
    assert len(model._spare) == 1
    model.eval()
    assert model._spare == []  # leaving training frees the buffer


@pytest.mark.parametrize("k", [2, 3])
def test_nade_fast_and_naive_sampling_agree(k):
    model = perturbed(NADE(10, 5) if k == 2 else CategoricalNADE(10, 5, k), 19, 0.5)
    fast, probs = model.sample(200, generator=torch.Generator().manual_seed(3), return_probs=True)
    naive, naive_probs = model.sample_naive(200, generator=torch.Generator().manual_seed(3), return_probs=True)
    assert torch.equal(fast, naive)
    torch.testing.assert_close(probs, naive_probs)
    assert probs.shape == ((200, 10) if k == 2 else (200, 10, k))
    # the probabilities returned are the conditionals of the samples
    conditionals = model.conditionals(fast)
    torch.testing.assert_close(probs, conditionals.detach())


def test_order_agnostic_training_loss_is_unbiased():
    torch.manual_seed(0)
    model = perturbed(DeepNADE(3, 6), 20, 0.7).train()
    x = torch.tensor([[1.0, 0.0, 1.0]])
    exact = np.mean([-model.log_prob(x, order=list(o)).item() for o in itertools.permutations(range(3))])
    estimate = model.nll(x.expand(40000, 3)).item()
    assert estimate == pytest.approx(exact, abs=0.02)
    assert model.eval().nll(x).item() == pytest.approx(-model.log_prob(x).item())


# ---------------------------------------------------------------------------- parameters and masks
def test_fvsbn_parameter_count():
    for n in (1, 5, 784):
        assert FVSBN(n).n_parameters() == n * (n + 1) // 2


@pytest.mark.parametrize("order", [None, "random", [1, 2, 0, 4, 3, 5]])
def test_made_degrees_and_masks(order):
    n, hidden = 6, [9, 7, 8]
    model = MADE(n, hidden, n_masks=3, order=order, seed=4)
    for k in range(3):
        degrees, masks, o = model.degrees(k), model.masks(k), model.order(k)
        position = torch.empty(n, dtype=torch.long)
        position[o] = torch.arange(1, n + 1)
        assert torch.equal(degrees[0], position)
        for prev, m in zip(degrees[:-1], degrees[1:], strict=True):
            assert m.min() >= prev.min() and m.max() <= n - 1 and m.min() >= 1
        assert [tuple(m.shape) for m in masks] == list(zip([*hidden, n], [n, *hidden], strict=True))
        connectivity = masks[0]
        for m in masks[1:]:
            connectivity = m @ connectivity  # paths from input j to output i
        in_order = connectivity[o][:, o]
        assert torch.equal(in_order, in_order.tril(-1) * (in_order > 0))  # strictly lower-triangular
    if order is not None and order != "random":
        assert model.order(0).tolist() == order
    union = [model.masks(k) for k in range(3)]
    expected = sum(int(torch.stack(ms).amax(0).sum()) for ms in zip(*union, strict=True)) + sum(hidden) + n
    assert model.n_parameters() == expected


def test_made_without_hidden_layers_is_a_masked_linear_layer():
    model = perturbed(MADE(5, []), 21)
    assert torch.logsumexp(model.log_prob(all_values(5)), 0).item() == pytest.approx(0.0, abs=1e-5)
    assert model.n_parameters() == 5 * 6 // 2


def test_masked_weights_stay_exactly_zero_under_adam_weight_decay():
    torch.manual_seed(0)
    x = torch.randint(0, 2, (32, 6)).float()
    fvsbn, made = FVSBN(6), MADE(6, [10], n_masks=3, order="random").train()
    for model in (fvsbn, made):
        opt = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=0.1)
        for _ in range(5):
            opt.zero_grad()
            model.nll(x).backward()
            opt.step()
    assert (fvsbn.weight[fvsbn.mask == 0] == 0).all() and (fvsbn.weight[fvsbn.mask == 1] != 0).any()
    for layer, linear in enumerate(made.layers):
        union = getattr(made, f"mask{layer}").amax(0)
        assert (linear.weight[union == 0] == 0).all()
    assert int(made.mask_counter) == 5 % 3
    made.eval().nll(x)
    assert int(made.mask_counter) == 5 % 3


@pytest.mark.parametrize("make", [lambda: FVSBN(4), lambda: CategoricalNADE(4, 3, n_categories=3),
                                  lambda: DeepNADE(4, 3, n_layers=2),
                                  lambda: RNADE(4, 3, 2, uniform_weights=True),
                                  lambda: MADE(4, [6, 6], n_masks=2, order=[3, 1, 0, 2], seed=7)])
def test_config_rebuilds_the_model(make):
    model = perturbed(make(), 22, 0.3).float()
    rebuilt = type(model)(**json.loads(json.dumps(model.config)))
    rebuilt.load_state_dict(model.state_dict())
    x = model.sample(6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(rebuilt.log_prob(x), model.log_prob(x))


def test_saved_state_holds_no_masks_and_reloads_them():
    made = perturbed(MADE(5, [8], n_masks=3, order="random", seed=3), 9).float()
    state = made.state_dict()
    assert not any(key.startswith("mask") and key != "mask_counter" for key in state)
    assert "mask" not in FVSBN(5).state_dict()
    other = MADE(5, [8], n_masks=3, order="random", seed=4)  # different draws until the state is loaded
    other.load_state_dict(state)
    for k in range(3):
        for a, b in zip(other.masks(k), made.masks(k), strict=True):
            assert torch.equal(a, b)
    x = made.sample(8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(other.log_prob_ensemble(x), made.log_prob_ensemble(x))


def test_made_direct_connections_are_masked_counted_and_saved(tmp_path):
    """The direct input->output term keeps only A_ij with m(x_j) < m(x_i), counts those, and round-trips."""
    model = MADE(5, [8], n_masks=2, order="random", seed=3, direct=True)
    for k in range(2):
        degree = model.degrees(k)[0]
        torch.testing.assert_close(model.mask_direct[k], (degree[:, None] > degree[None, :]).float())
    assert model.n_parameters() == MADE(5, [8], n_masks=2, order="random", seed=3).n_parameters() \
        + int(model.mask_direct.amax(0).sum())
    assert bool((model.direct.weight[model.mask_direct.amax(0) == 0] == 0).all())  # never-used weights are 0
    torch.save(model.state_dict(), tmp_path / "made.pt")
    loaded = MADE(5, [8], n_masks=2, order="random", seed=3, direct=True)
    loaded.load_state_dict(torch.load(tmp_path / "made.pt"))
    x = torch.randint(0, 2, (4, 5)).float()
    torch.testing.assert_close(loaded.log_prob(x, mask_index=1), model.log_prob(x, mask_index=1))
    assert model.config["direct"] is True
