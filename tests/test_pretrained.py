"""Shipped weights: save/load round trip, integrity check, and every sidecar's metric re-measured."""

from __future__ import annotations

import pytest
import torch

from arlib import evaluation, pretrained, train
from arlib.models import IndependentBernoulli


def test_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("ARLIB_PRETRAINED", str(tmp_path))
    model = IndependentBernoulli(6)
    with torch.no_grad():
        model.logits.copy_(torch.arange(6.0) - 3)
    pretrained.save("toy", model, {"test_nll": 1.0}, "python make_toy.py", train_seconds=0.5, dataset="toy")
    assert pretrained.available() == ["toy"]
    loaded = pretrained.load("toy")
    assert torch.equal(loaded.logits, model.logits) and not loaded.training
    meta = pretrained.info("toy")
    assert meta["command"] == "python make_toy.py" and meta["n_parameters"] == 6 and meta["dataset"] == "toy"


def test_half_precision_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("ARLIB_PRETRAINED", str(tmp_path))
    model = IndependentBernoulli(6)
    pretrained.save("toy", model, {}, "cmd", half=True)
    assert pretrained.load("toy").logits.dtype == torch.float32
    assert pretrained.info("toy")["weights_dtype"] == "float16"


def test_damaged_weights_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ARLIB_PRETRAINED", str(tmp_path))
    pretrained.save("toy", IndependentBernoulli(6), {}, "cmd")
    (tmp_path / "toy.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="does not match the sha256"):
        pretrained.load("toy")
    with pytest.raises(ValueError, match="no pretrained model 'nope'.*available: \\['toy'\\]"):
        pretrained.load("nope")


@pytest.mark.parametrize("name", pretrained.available())
def test_shipped_model_reproduces_its_recorded_metric(name):
    meta = pretrained.info(name)
    assert meta["command"].startswith("python ")
    key = evaluation.headline_metric(name)
    tolerance = 0.01 if key == "test_nll" else 0.001  # nats per example / nats per character
    assert evaluation.measure(name) == pytest.approx(meta["metrics"][key], abs=tolerance)


def test_shipped_weights_stay_small():
    total = sum(p.stat().st_size for p in pretrained.directory().glob("*.pt"))
    assert total < 30 * 2**20


def test_retrain_follows_the_sidecar_recipe(tmp_path, monkeypatch):
    from arlib import text
    from arlib.models import CharRNN

    monkeypatch.setenv("ARLIB_PRETRAINED", str(tmp_path))
    tokens = text.CharTokenizer("ab ").encode("ab abb a " * 30)
    recipe = dict(iters=12, lr=3e-3, min_lr=3e-4, warmup=2, weight_decay=0.1, betas=[0.9, 0.99], grad_clip=1.0,
                  eval_every=4, keep_best=True)
    pretrained.save("toy-rnn", CharRNN(3, 8, n_layers=2, dropout=0.1), {}, "python toy.py", extra={"recipe": recipe})

    def batch(generator):
        return text.random_blocks(tokens, 8, 4, generator)

    def loss(model, x):
        return train.token_loss(model, x)

    def valid(model):
        return text.shakespeare_loss(model, tokens, 8, n_blocks=10)["loss"]

    # the recipe as recorded, and a shortened run (a chapter's GPU path at tiny sizes) that keeps the schedule's
    # proportions and writes a checkpoint
    for steps, warmup, options in ((12, 2, {}), (6, 1, {"steps": 6, "checkpoint": tmp_path / "c.pt"})):
        retrained = evaluation.retrain("toy-rnn", batch, loss, evaluate=valid, seed=2, **options)
        torch.manual_seed(2)
        direct = CharRNN(3, 8, n_layers=2, dropout=0.1)
        train.fit_steps(direct, batch, loss, steps=steps, lr=3e-3, min_lr=3e-4, warmup=warmup, weight_decay=0.1,
                        betas=(0.9, 0.99), grad_clip=1.0, evaluate=valid, eval_every=4, keep_best=True, seed=2)
        for (name, a), (_, b) in zip(direct.state_dict().items(), retrained.state_dict().items(), strict=True):
            assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="keep_best needs an evaluate"):
        evaluation.retrain("toy-rnn", batch, loss)
    assert (tmp_path / "c.pt").exists()
