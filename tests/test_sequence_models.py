"""CharRNN (every cell) and GPT at toy sizes, the tokenizer and the text datasets.

Exact normalisation by enumerating every sequence, causality by changing one token, the key/value cache
against full recomputation (inside and past block_size), samples against log_prob by chi-square,
clear errors on bad tokens and over-long input, and the names/Shakespeare splits.
"""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from arlib import pretrained, text
from arlib.models import GPT, CharRNN
from tests.helpers import chi_square_pvalue

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster; conftest seeds each test


def all_sequences(length: int, vocab: int) -> torch.Tensor:
    """Every sequence in {0, ..., vocab − 1}^length, (vocab^length, length) int64, first token most significant."""
    return torch.tensor(list(itertools.product(range(vocab), repeat=length)), dtype=torch.long)


def index_of(x: torch.Tensor, vocab: int) -> torch.Tensor:
    return (x * vocab ** torch.arange(x.shape[1] - 1, -1, -1)).sum(1)


def perturbed(model, seed: int, scale: float = 1.0):
    """The model in float64 with every parameter moved randomly, so the distribution is far from uniform."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return model.double().eval()


CELLS = ["rnn", "lstm", "gru"]


def models(vocab: int, block_size: int = 5):
    """(name, model) for every cell type of CharRNN and two GPTs, perturbed, float64."""
    return [
        *[(f"charrnn-{cell}", perturbed(CharRNN(vocab, 6, n_layers=2, cell=cell), i)) for i, cell in enumerate(CELLS)],
        ("charrnn-rnn-1layer", perturbed(CharRNN(vocab, 5, cell="rnn"), 3)),
        ("gpt", perturbed(GPT(vocab, block_size, n_layers=2, n_head=2, n_embd=8), 4)),
        ("gpt-1head", perturbed(GPT(vocab, block_size, n_layers=1, n_head=1, n_embd=6), 5)),
    ]


N_MODELS = 6


# ---------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("vocab", [2, 3])
@pytest.mark.parametrize("case", range(N_MODELS))
def test_probabilities_of_all_sequences_sum_to_one(case, vocab):
    name, model = models(vocab)[case]
    for length in (1, 2, 5):  # T up to block_size
        log_p = model.log_prob(all_sequences(length, vocab))
        assert log_p.shape == (vocab**length,) and log_p.dtype == torch.float64
        assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-5), (name, length)
    assert log_p.max() - log_p.min() > 1.0, name  # the perturbed model is far from uniform


@pytest.mark.parametrize("case", range(N_MODELS))
def test_log_prob_is_the_sum_of_the_token_log_probs_of_the_logits(case):
    name, model = models(3)[case]
    x = all_sequences(4, 3)
    logits = model.logits(x)
    assert logits.shape == (81, 4, 3)
    token = torch.log_softmax(logits, -1).gather(-1, x.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(model.token_log_probs(x), token)
    torch.testing.assert_close(model.log_prob(x), token.sum(1))
    assert model.nll(x).item() == pytest.approx(-token.sum(1).mean().item())


# ---------------------------------------------------------------------------- causality
@pytest.mark.parametrize("case", range(N_MODELS))
def test_changing_token_j_changes_no_logit_at_positions_up_to_j(case):
    name, model = models(3, block_size=7)[case]
    x = torch.randint(0, 3, (16, 7), generator=torch.Generator().manual_seed(case))
    base = model.logits(x)
    for j in range(7):
        changed = x.clone()
        changed[:, j] = (changed[:, j] + 1) % 3
        new = model.logits(changed)
        torch.testing.assert_close(new[:, : j + 1], base[:, : j + 1], atol=1e-12, rtol=0, msg=f"{name}, token {j}")
        if j < 6:
            assert (new[:, j + 1] - base[:, j + 1]).abs().max() > 1e-4, (name, j)


# ---------------------------------------------------------------------------- cache vs recomputation
@pytest.mark.parametrize("length", [1, 4, 6, 13])
def test_cached_generation_gives_the_logits_of_full_recomputation(length):
    block = 6
    model = perturbed(GPT(3, block, n_layers=2, n_head=2, n_embd=8), 6)
    cached, cached_logits = model.sample(9, length=length, generator=torch.Generator().manual_seed(length),
                                         return_logits=True)
    plain, plain_logits = model.sample(9, length=length, generator=torch.Generator().manual_seed(length),
                                       use_cache=False, return_logits=True)
    assert cached.shape == (9, length) and cached.dtype == torch.long
    assert torch.equal(cached, plain)
    torch.testing.assert_close(cached_logits, plain_logits, atol=1e-12, rtol=0)
    # teacher forcing on the samples gives the same logits, up to block_size ...
    inside = min(length, block)
    torch.testing.assert_close(cached_logits[:, :inside], model.logits(cached[:, :inside]), atol=1e-12, rtol=0)
    # ... and past it, each token is predicted from the start token and the block_size - 1 tokens before it
    for t in range(block, length):
        window = model.logits(cached[:, t - block + 1: t + 1])[:, -1]
        torch.testing.assert_close(cached_logits[:, t], window, atol=1e-12, rtol=0)


def test_cache_accepts_several_new_positions_at_once():
    model = perturbed(GPT(3, 9, n_layers=2, n_head=2, n_embd=8), 14)
    tokens = torch.cat([torch.full((4, 1), model.start_token), torch.randint(0, 3, (4, 8))], dim=1)
    full, _ = model._forward(tokens)
    pieces, cache, offset = [], None, 0
    for size in (1, 3, 2, 3):  # the start token, then chunks that attend to the cache and causally to each other
        out, cache = model._forward(tokens[:, offset:offset + size], offset, cache)
        pieces.append(out)
        offset += size
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-12, rtol=0)


def test_cache_and_recomputation_draw_the_same_samples_in_float32():
    model = GPT(5, 8, n_layers=2, n_head=2, n_embd=16)
    perturbed(model, 7).float()
    for kw in ({}, {"temperature": 0.7}, {"top_k": 2}):
        a = model.sample(50, length=12, generator=torch.Generator().manual_seed(0), **kw)
        b = model.sample(50, length=12, generator=torch.Generator().manual_seed(0), use_cache=False, **kw)
        assert torch.equal(a, b), kw


@pytest.mark.parametrize("cell", CELLS)
def test_charrnn_step_by_step_logits_equal_teacher_forcing(cell):
    model = perturbed(CharRNN(4, 5, n_layers=2, cell=cell), 8)
    x, logits = model.sample(6, length=20, generator=torch.Generator().manual_seed(1), return_logits=True)
    torch.testing.assert_close(logits, model.logits(x), atol=1e-12, rtol=0)


# ---------------------------------------------------------------------------- samples vs log_prob
@pytest.mark.parametrize("case", [0, 1, 2, 4])
def test_samples_follow_log_prob(case):
    name, model = models(3)[case]
    samples = model.sample(20000, length=4, generator=torch.Generator().manual_seed(case))
    assert samples.shape == (20000, 4) and samples.dtype == torch.long
    observed = torch.bincount(index_of(samples, 3), minlength=81).numpy()
    expected = model.log_prob(all_sequences(4, 3)).exp().detach().numpy()
    assert chi_square_pvalue(observed, expected) > 1e-3, name


@pytest.mark.parametrize("kw", [{"temperature": 0.6}, {"temperature": 1.5, "top_k": 2}])
def test_temperature_and_top_k_sample_the_tempered_conditionals(kw):
    model = perturbed(GPT(3, 4, n_layers=1, n_head=2, n_embd=8), 9)
    x = all_sequences(3, 3)
    logits = model.logits(x) / kw["temperature"]
    if "top_k" in kw:
        kth = logits.topk(kw["top_k"], -1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    log_p = torch.log_softmax(logits, -1).gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(1)
    samples = model.sample(20000, length=3, generator=torch.Generator().manual_seed(2), **kw)
    observed = torch.bincount(index_of(samples, 3), minlength=27).numpy()
    probs = log_p.exp().detach().numpy()
    if "top_k" in kw:
        assert observed[probs == 0].sum() == 0
        observed, probs = observed[probs > 0], probs[probs > 0]
    assert chi_square_pvalue(observed, probs) > 1e-3


def test_top_k_one_is_greedy_decoding():
    model = perturbed(GPT(4, 6, n_layers=1, n_head=2, n_embd=8), 10)
    x, logits = model.sample(5, length=6, generator=torch.Generator().manual_seed(0), top_k=1, return_logits=True)
    assert torch.equal(x, logits.argmax(-1)) and (x == x[0]).all()


@pytest.mark.parametrize("make", [lambda: GPT(3, 6, n_layers=1, n_head=1, n_embd=8, dropout=0.5),
                                  lambda: CharRNN(3, 8, n_layers=2, cell="lstm", dropout=0.5)])
def test_sampling_uses_eval_mode_and_restores_training(make):
    model = make().train()
    x = torch.randint(0, 3, (4, 6))
    assert not torch.equal(model.logits(x), model.logits(x))  # dropout is on in training mode
    a, logits = model.sample(4, length=6, generator=torch.Generator().manual_seed(0), return_logits=True)
    assert model.training
    torch.testing.assert_close(logits, model.eval().logits(a))


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make", [lambda: GPT(3, 5, 1, 1, 4), lambda: CharRNN(3, 4, cell="gru")])
@pytest.mark.parametrize("method", ["log_prob", "logits", "token_log_probs", "nll"])
def test_bad_tokens_are_refused_clearly(make, method):
    fn = getattr(make(), method)
    fn(torch.zeros(2, 5, dtype=torch.int32))  # any integer dtype is fine
    with pytest.raises(ValueError, match=r"values in \[0, 3\).*got values in \[0, 3\]"):
        fn(torch.tensor([[0, 1, 3]]))
    with pytest.raises(ValueError, match=r"got values in \[-1, 1\]"):
        fn(torch.tensor([[0, 1, -1]]))
    for bad in (torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool)):
        with pytest.raises(ValueError, match=r"an integer dtype.*got dtype"):
            fn(bad)
    for bad in (torch.zeros(3, dtype=torch.long), torch.zeros(2, 3, 1, dtype=torch.long),
                torch.zeros(2, 0, dtype=torch.long)):
        with pytest.raises(ValueError, match=r"shape \(B, T\).*got shape"):
            fn(bad)
    with pytest.raises(ValueError, match="not a torch.Tensor"):
        fn([[0, 1]])


def test_over_long_input_names_block_size():
    model = GPT(3, 5, 1, 1, 4)
    model.log_prob(torch.zeros(2, 5, dtype=torch.long))
    for method in ("log_prob", "logits", "token_log_probs", "nll"):
        with pytest.raises(ValueError, match=r"T = 6, longer than block_size = 5"):
            getattr(model, method)(torch.zeros(2, 6, dtype=torch.long))
    assert CharRNN(3, 4).log_prob(torch.zeros(2, 50, dtype=torch.long)).shape == (2,)  # an RNN has no limit


def test_bad_arguments_are_refused():
    model = GPT(3, 5, 1, 1, 4)
    for kw, match in [({"length": 0}, "length"), ({"temperature": 0.0}, "temperature"), ({"top_k": 0}, "top_k")]:
        with pytest.raises(ValueError, match=match):
            model.sample(2, **kw)
    with pytest.raises(ValueError, match="positive integer n"):
        model.sample(0)
    with pytest.raises(ValueError, match="cell"):
        CharRNN(3, 4, cell="transformer")
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        CharRNN(3, 4, dropout=1.0)
    with pytest.raises(ValueError, match="multiple of n_head"):
        GPT(3, 5, 1, 3, 8)
    with pytest.raises(TypeError, match="nats per token"):
        _ = model.n_dims


# ---------------------------------------------------------------------------- config and storage
@pytest.mark.parametrize("make", [lambda: GPT(4, 6, 2, 2, 8, dropout=0.1),
                                  lambda: CharRNN(4, 5, 2, "rnn", dropout=0.2)])
def test_config_rebuilds_the_model_and_pretrained_round_trips(make, tmp_path, monkeypatch):
    model = perturbed(make(), 11).float()
    rebuilt = type(model)(**json.loads(json.dumps(model.config)))
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()
    x = model.sample(5, length=6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(rebuilt.log_prob(x), model.log_prob(x))
    monkeypatch.setenv("ARLIB_PRETRAINED", str(tmp_path))
    tokenizer = text.CharTokenizer("abcd")
    pretrained.save("toy", model, {}, "python toy.py", extra={"tokenizer": tokenizer.to_dict()})
    torch.testing.assert_close(pretrained.load("toy").log_prob(x), model.log_prob(x))
    assert text.CharTokenizer.from_dict(pretrained.info("toy")["tokenizer"]).itos == tokenizer.itos


def test_gpt_ties_the_output_layer_to_the_token_embeddings():
    model = GPT(5, 4, 1, 1, 8)
    assert model.wte.weight.shape == (6, 8)  # the vocabulary plus the start token
    assert sum(p.numel() for p in model.parameters()) == model.n_parameters()
    assert not any(p.shape == (5, 8) for p in model.parameters())  # no separate output matrix


# ---------------------------------------------------------------------------- tokenizer and data
def test_tokenizer_round_trip():
    sample = "First Citizen:\nBefore we proceed any further, hear me speak."
    tokenizer = text.CharTokenizer.from_text(sample)
    tokens = tokenizer.encode(sample)
    assert tokens.dtype == torch.long and tokens.shape == (len(sample),)
    assert tokenizer.decode(tokens) == sample == tokenizer.decode(tokens.tolist())
    assert tokenizer.itos == sorted(set(sample)) and tokenizer.stoi["F"] == tokenizer.itos.index("F")
    again = text.CharTokenizer.from_dict(json.loads(json.dumps(tokenizer.to_dict())))
    assert again.itos == tokenizer.itos and again.vocab_size == len(set(sample))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tokenizer.encode("Zebra")
    with pytest.raises(ValueError, match=r"tokens in \[0, "):
        tokenizer.decode([0, tokenizer.vocab_size])
    with pytest.raises(ValueError, match="1-D"):
        tokenizer.decode(tokens.view(1, -1))


def test_names_split_is_fixed_and_ends_every_name():
    train, test, tokenizer = text.names_split()
    train2, test2, _ = text.names_split()
    assert train.names == train2.names and test.names == test2.names
    assert torch.equal(train.tokens, train2.tokens)
    assert (len(train), len(test)) == (28829, 3204)
    assert sorted(train.names + test.names) == sorted(text.data.load("names"))
    assert text.names_split(seed=1)[1].names != test.names
    assert tokenizer.vocab_size == 27 and tokenizer.itos[0] == text.END
    for split in (train, test):
        assert split.tokens.shape == (len(split), 16) and split.tokens.dtype == torch.long
    for i in (0, 1, 2, 100):
        name, row, length = test.names[i], test.tokens[i], int(test.lengths[i])
        assert length == len(name) + 1 and tokenizer.decode(row[:length]) == name + "."
        assert (row[length:] == 0).all()


def test_hold_out_carves_the_last_names_of_a_split():
    train, _, tokenizer = text.names_split()
    fit, valid = text.hold_out(train, 1000, tokenizer)
    assert fit.names + valid.names == train.names and len(valid) == 1000
    assert torch.equal(torch.cat([fit.tokens, valid.tokens]), train.tokens)
    assert torch.equal(torch.cat([fit.lengths, valid.lengths]), train.lengths)
    for n in (0, len(train)):
        with pytest.raises(ValueError, match="n must be in"):
            text.hold_out(train, n, tokenizer)


def test_names_loss_scores_each_name_and_its_end_token_only():
    _, test, tokenizer = text.names_split()
    model = perturbed(GPT(27, 16, 1, 2, 8), 12)
    tokens, lengths = test.batch(torch.arange(6))
    assert tokens.shape[1] == int(lengths.max())
    direct = torch.stack([-model.log_prob(tokenizer.encode(test.names[i] + ".")[None])[0] for i in range(6)])
    torch.testing.assert_close(text.names_nll(model, tokens, lengths), direct)
    uniform = CharRNN(27, 4)
    with torch.no_grad():
        for p in uniform.parameters():
            p.zero_()
    assert text.names_loss(uniform, test) == pytest.approx(torch.log(torch.tensor(27.0)).item())


def test_shakespeare_split_and_random_blocks():
    train, valid, tokenizer = text.shakespeare_split()
    assert tokenizer.vocab_size == 65 and len(train) == 1003854 and len(valid) == 111540
    assert tokenizer.decode(train[:14]) == "First Citizen:"
    blocks = text.random_blocks(valid, 8, 5, torch.Generator().manual_seed(0))
    again = text.random_blocks(valid, 8, 5, torch.Generator().manual_seed(0))
    assert blocks.shape == (5, 8) and torch.equal(blocks, again)
    whole = tokenizer.decode(valid)
    assert all(tokenizer.decode(row) in whole for row in blocks)
    with pytest.raises(ValueError, match="block_size"):
        text.random_blocks(valid[:4], 5, 2)
    model = perturbed(CharRNN(65, 8), 13)
    result = text.shakespeare_loss(model, valid, 8, n_blocks=30, batch_size=7)
    log_p = model.token_log_probs(text.random_blocks(valid, 8, 30, torch.Generator().manual_seed(0)))
    assert result["loss"] == pytest.approx(-log_p.mean().item())
    assert result["loss_in_context"] == pytest.approx(-log_p[:, 1:].mean().item())
