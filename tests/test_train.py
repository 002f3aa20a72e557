"""The trainer: the loss falls, the best weights are kept, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import math

import pytest
import torch

from arlib import train
from arlib.models import DiscretizedLogisticMixture, IndependentBernoulli


@pytest.fixture
def toy_data():
    generator = torch.Generator().manual_seed(0)
    probs = torch.linspace(0.05, 0.95, 16)
    x = torch.bernoulli(probs.expand(600, 16), generator=generator)
    return x[:500], x[500:]


def test_loss_falls_and_reaches_the_closed_form_optimum(toy_data):
    x_train, x_valid = toy_data
    model = IndependentBernoulli(16)
    history = train.fit(model, x_train, x_valid, epochs=30, batch_size=50, lr=0.1, progress=False)
    assert history.train_nll[-1] < history.train_nll[0] - 1.0
    optimum = train.evaluate(IndependentBernoulli(16).fit_closed_form(x_train, pseudo_count=0), x_train).nll
    assert train.evaluate(model, x_train).nll == pytest.approx(optimum, abs=0.05)
    assert history.best_epoch is not None and len(history.seconds) == 30


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(toy_data, tmp_path):
    x_train, x_valid = toy_data
    kwargs = dict(batch_size=32, lr=0.05, seed=3, progress=False)
    torch.manual_seed(0)
    straight = DiscretizedLogisticMixture(20, 3)
    x20 = (x_train.sum(1, keepdim=True)).long()
    v20 = (x_valid.sum(1, keepdim=True)).long()
    reference = train.fit(straight, x20, v20, epochs=6, **kwargs)

    torch.manual_seed(0)
    interrupted = DiscretizedLogisticMixture(20, 3)
    checkpoint = tmp_path / "run.pt"
    train.fit(interrupted, x20, v20, epochs=3, checkpoint=checkpoint, **kwargs)  # "killed" after 3 epochs
    torch.manual_seed(123)  # a different global state must not matter
    resumed = DiscretizedLogisticMixture(20, 3)  # a fresh process would rebuild the model
    history = train.fit(resumed, x20, v20, epochs=6, checkpoint=checkpoint, **kwargs)

    assert history.train_nll == reference.train_nll and history.valid_nll == reference.valid_nll
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_decay_epochs_extend_a_run_without_changing_its_start(toy_data, tmp_path):
    x_train, x_valid = toy_data
    x20, v20 = x_train.sum(1, keepdim=True).long(), x_valid.sum(1, keepdim=True).long()
    kwargs = dict(batch_size=32, lr=0.05, seed=3, progress=False)

    def run(**extra) -> tuple[train.History, DiscretizedLogisticMixture]:
        torch.manual_seed(0)
        model = DiscretizedLogisticMixture(20, 3)
        return train.fit(model, x20, v20, **kwargs, **extra), model

    constant, _ = run(epochs=5)
    decayed, straight = run(epochs=5, decay_epochs=2, min_lr=0.0)
    assert decayed.train_nll[:3] == constant.train_nll[:3]  # the decay touches only the last two epochs
    assert decayed.train_nll[3:] != constant.train_nll[3:]

    checkpoint = tmp_path / "run.pt"
    run(epochs=3, checkpoint=checkpoint)  # the constant-rate run, then extended by two decay epochs
    extended, resumed = run(epochs=5, decay_epochs=2, min_lr=0.0, checkpoint=checkpoint)
    assert extended.train_nll == decayed.train_nll and extended.valid_nll == decayed.valid_nll
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="decay_epochs"):
        run(epochs=2, decay_epochs=3)


def test_best_weights_are_restored_and_patience_stops(toy_data):
    x_train, x_valid = toy_data
    model = IndependentBernoulli(16)
    # a learning rate this large makes the validation NLL bounce; the best epoch's weights must come back
    history = train.fit(model, x_train, x_valid, epochs=40, batch_size=10, lr=3.0, patience=3, progress=False)
    assert train.evaluate(model, x_valid).nll == pytest.approx(history.best_valid_nll, rel=1e-6)
    if history.stopped_early:
        assert history.epochs - history.best_epoch == 3


def test_evaluate_reports_bits_per_dimension(toy_data):
    _, x_valid = toy_data
    result = train.evaluate(IndependentBernoulli(16), x_valid)  # p = 1/2 everywhere: 1 bit per pixel
    assert result.nll == pytest.approx(16 * math.log(2))
    assert result.bits_per_dim == pytest.approx(1.0)


def test_fit_with_conditioning_tuple_passes_extra_tensors(toy_data):
    class Conditional(IndependentBernoulli):
        def _log_prob(self, x, label):
            assert label.shape == (x.shape[0],)
            return super()._log_prob(x)

    x_train, _ = toy_data
    labels = torch.arange(len(x_train)) % 10
    history = train.fit(Conditional(16), (x_train, labels), epochs=1, batch_size=64, lr=0.1, progress=False)
    assert history.epochs == 1


def test_fit_and_fit_steps_train_on_arlib_device_by_default(toy_data, monkeypatch):
    """No caller can forget the GPU: without ``device=`` both loops ask arlib.device() and move the model there."""
    from arlib import utils

    asked = []

    def device():
        asked.append(True)
        return torch.device("meta")  # a device no model starts on, so the move shows

    monkeypatch.setattr(utils, "device", device)
    x_train, _ = toy_data
    for run in (lambda m: train.fit(m, x_train, epochs=1, batch_size=50, lr=0.1, progress=False),
                lambda m: train.fit_steps(m, lambda g: x_train[:50], lambda net, x: net.nll(x), steps=1,
                                          lr=0.1, progress=False)):
        model = IndependentBernoulli(16)
        with pytest.raises((NotImplementedError, RuntimeError)):  # meta tensors cannot be trained: moved first
            run(model)
        assert model.logits.device.type == "meta"
    assert len(asked) == 2
