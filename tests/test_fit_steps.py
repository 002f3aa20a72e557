"""The step-based trainer: the schedule, a falling loss, and a resumed run equal to an uninterrupted one."""

from __future__ import annotations

import math

import pytest
import torch

from arlib import text, train
from arlib.models import GPT, CharRNN


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TOKENS = text.CharTokenizer("ab ").encode("ab ab abb ab a " * 40)  # a toy "text" with structure


def batch(generator):
    return text.random_blocks(TOKENS, 8, 6, generator)


def loss(model, x):
    return train.token_loss(model, x)


def valid(model):
    return text.shakespeare_loss(model, TOKENS, 8, n_blocks=40)["loss"]


def test_cosine_schedule():
    assert train.cosine_lr(0, 1.0, 100, warmup=9) == pytest.approx(0.1)
    assert train.cosine_lr(9, 1.0, 100, warmup=9) == pytest.approx(1.0)
    assert train.cosine_lr(100, 1.0, 100, warmup=10, min_lr=0.1) == pytest.approx(0.1)
    assert train.cosine_lr(55, 1.0, 100, warmup=10, min_lr=0.0) == pytest.approx(0.5)
    assert train.cosine_lr(500, 1.0, 100, min_lr=0.1) == pytest.approx(0.1)
    assert train.cosine_lr(50, 1.0, 100) == 1.0


def test_loss_falls_and_the_history_records_every_evaluation():
    torch.manual_seed(0)
    model = CharRNN(3, 16, cell="gru")
    history = train.fit_steps(model, batch, loss, steps=60, lr=0.03, min_lr=0.003, warmup=5, weight_decay=0.1,
                              evaluate=valid, eval_every=25, progress=False)
    assert history.steps == [25, 50, 60] and history.step == 60 and len(history.valid_loss) == 3
    assert history.valid_loss[-1] < math.log(3) - 0.4 and history.seconds > 0
    assert history.lr[-1] == pytest.approx(train.cosine_lr(59, 0.03, 60, 5, 0.003))
    assert not model.training


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    kwargs = dict(lr=3e-3, min_lr=3e-4, warmup=3, weight_decay=0.1, evaluate=valid, eval_every=5, seed=4,
                  progress=False)
    torch.manual_seed(0)
    straight = GPT(3, 8, 1, 2, 16, dropout=0.2)  # dropout: the global random state must be restored too
    reference = train.fit_steps(straight, batch, loss, steps=20, **kwargs)

    torch.manual_seed(0)
    interrupted = GPT(3, 8, 1, 2, 16, dropout=0.2)
    checkpoint = tmp_path / "run.pt"
    calls = []

    def dying_batch(generator):  # the process is "killed" while drawing the 13th batch
        calls.append(1)
        if len(calls) == 13:
            raise KeyboardInterrupt
        return batch(generator)

    with pytest.raises(KeyboardInterrupt):
        train.fit_steps(interrupted, dying_batch, loss, steps=20, checkpoint=checkpoint, **kwargs)
    assert torch.load(checkpoint, weights_only=False)["history"]["step"] == 10  # steps 11 and 12 are lost
    torch.manual_seed(123)  # a different global state must not matter
    resumed = GPT(3, 8, 1, 2, 16, dropout=0.2)  # a fresh process rebuilds the model
    history = train.fit_steps(resumed, batch, loss, steps=20, checkpoint=checkpoint, **kwargs)

    assert history.train_loss == reference.train_loss and history.valid_loss == reference.valid_loss
    assert history.steps == reference.steps == [5, 10, 15, 20]
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_keep_best_restores_the_weights_of_the_lowest_validation_loss_even_after_a_resume(tmp_path):
    scripted = iter([3.0, 1.0, 2.0, 4.0] * 2)  # validation losses at steps 5, 10, 15, 20 (both runs)
    snapshots: dict[int, dict] = {}

    def scripted_valid(model):
        snapshots[len(snapshots) + 1] = {k: v.clone() for k, v in model.state_dict().items()}
        return next(scripted)

    kwargs = dict(lr=3e-3, evaluate=scripted_valid, eval_every=5, keep_best=True, seed=4, progress=False)
    torch.manual_seed(0)
    model = CharRNN(3, 8)
    history = train.fit_steps(model, batch, loss, steps=20, **kwargs)
    assert history.best_step == 10 and history.steps == [5, 10, 15, 20]
    best = snapshots[2]
    assert not torch.equal(snapshots[4]["head.weight"], best["head.weight"])  # training went on after step 10
    for name, value in model.state_dict().items():
        assert torch.equal(value, best[name]), name

    snapshots.clear()
    calls = []

    def dying_batch(generator):  # "killed" while drawing the 18th batch: the checkpoint is from step 15
        calls.append(1)
        if len(calls) == 18:
            raise KeyboardInterrupt
        return batch(generator)

    torch.manual_seed(0)
    checkpoint = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        train.fit_steps(CharRNN(3, 8), dying_batch, loss, steps=20, checkpoint=checkpoint, **kwargs)
    scripted = iter([4.0])  # the resumed run evaluates only step 20
    resumed = CharRNN(3, 8)
    assert train.fit_steps(resumed, batch, loss, steps=20, checkpoint=checkpoint, **kwargs).best_step == 10
    for name, value in resumed.state_dict().items():
        assert torch.equal(value, best[name]), name
    with pytest.raises(ValueError, match="evaluate"):
        train.fit_steps(CharRNN(3, 8), batch, loss, steps=2, lr=1e-3, keep_best=True, progress=False)
