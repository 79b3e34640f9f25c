"""The composer network: the NLL against closed forms and slow references, a tiny fit, sampling."""

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from music import midi
from music.config import ModelConfig
from music.model import BernoulliHead, Composer, NADEHead, ensemble_nll, frame_nll
from music.module import FrameAccuracy


def tiny_config(hidden: int = 8, nade_hidden: int = 6, **changes) -> ModelConfig:
    """A tiny RNN-NADE: one LSTM layer, no dropout, keys top-down, no temporal convolution."""
    base = ModelConfig("nade", hidden, 1, 0.0, nade_hidden, ("down",), context_frames=1)
    return dataclasses.replace(base, **changes)


def naive_logits(head: NADEHead, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """RNN-NADE eq. 11-12 as written: one hidden vector per key (slow, memory-hungry)."""
    contrib = x.unsqueeze(-1) * head.W  # (..., K, H): what key j adds when it sounds
    below = contrib.cumsum(-2) - contrib  # (..., K, H): sum over keys j < k
    hidden = torch.sigmoid(head.hidden_bias(h).unsqueeze(-2) + below)
    return head.visible_bias(h) + (hidden * head.V).sum(-1)  # (..., K)


def sample_slow(head: NADEHead, h, temperature: float, u: torch.Tensor, clamp=None):
    """Key-by-key NADE sampling with given uniforms u (N, K) in head order, piano-order result
    (and clamp, as in `NADEHead.sample`)."""
    b_v, a = head.visible_bias(h), head.hidden_bias(h)
    keys = []
    for i in range(head.W.shape[0]):
        logit = b_v[:, i] + torch.sigmoid(a) @ head.V[i]  # (N,)
        key = (u[:, i] < torch.sigmoid(logit / temperature)).float()
        if clamp is not None:
            given = clamp[:, head.perm[i]]
            key = torch.where(given >= 0, given.float(), key)
        a = a + key.unsqueeze(-1) * head.W[i]
        keys.append(key)
    return torch.stack(keys, -1)[:, head.inverse]  # (N, K)


def test_nll_of_a_constant_probability_matches_the_closed_form():
    torch.manual_seed(0)
    x = (torch.rand(3, 7, 88) < 0.05).float()
    p = 0.1
    logits = torch.full_like(x, math.log(p / (1 - p)))
    nll = frame_nll(logits, x)  # (3, 7)
    on = x.sum(-1)
    expected = -(on * math.log(p) + (88 - on) * math.log(1 - p))
    torch.testing.assert_close(nll, expected)
    # per-frame average over a split, as logged: 4 notes per frame on average -> the known value
    four = torch.zeros(1, 1, 88)
    four[..., [40, 44, 47, 52]] = 1
    value = frame_nll(torch.full_like(four, math.log(p / (1 - p))), four).item()
    assert abs(value - (-4 * math.log(0.1) - 84 * math.log(0.9))) < 1e-4  # 18.06 nats


def test_fast_nade_logits_match_the_textbook_formula():
    torch.manual_seed(1)
    head = NADEHead(hidden=12, n_keys=88, nade_hidden=20)
    h = torch.randn(4, 9, 12)
    x = (torch.rand(4, 9, 88) < 0.08).float()
    x[0, 0] = 0  # silent frame
    x[0, 1] = 1  # every key
    torch.testing.assert_close(head.logits(h, x), naive_logits(head, h, x), atol=1e-5, rtol=1e-5)
    # and the gradients agree too
    g1 = torch.autograd.grad(frame_nll(head.logits(h, x), x).sum(), head.W)[0]
    g2 = torch.autograd.grad(frame_nll(naive_logits(head, h, x), x).sum(), head.W)[0]
    torch.testing.assert_close(g1, g2, atol=1e-4, rtol=1e-4)


def test_nade_is_a_normalised_distribution_over_frames():
    torch.manual_seed(2)
    head = NADEHead(hidden=5, n_keys=7, nade_hidden=6)
    with torch.no_grad():
        head.W.normal_(0, 1.5)  # strong interactions between keys
        head.V.normal_(0, 1.5)
    h = torch.randn(5)
    frames = torch.tensor(list(itertools.product([0.0, 1.0], repeat=7)))  # all 128 frames
    nll = frame_nll(head.logits(h.expand(128, 5), frames), frames)
    assert abs(torch.exp(-nll).sum().item() - 1.0) < 1e-5
    # keys are not independent: the NADE differs from the product of its own marginals
    probs = torch.exp(-nll)
    marginal = (probs[:, None] * frames).sum(0)
    independent = torch.prod(frames * marginal + (1 - frames) * (1 - marginal), dim=1)
    assert (probs - independent).abs().max() > 1e-3


def test_fast_nade_sampling_draws_exactly_as_key_by_key_sampling():
    torch.manual_seed(4)
    head = NADEHead(hidden=6, n_keys=88, nade_hidden=10)
    with torch.no_grad():
        head.visible_bias.bias.fill_(-2.5)
        head.W.normal_(0, 1.0)
        head.V.normal_(0, 1.0)
    h = torch.randn(300, 6)
    torch.manual_seed(9)
    u = torch.rand(300, 88)  # the uniforms that `sample` will draw
    torch.manual_seed(9)
    fast = head.sample(h, temperature=0.8)
    assert torch.equal(fast, sample_slow(head, h, 0.8, u))
    assert 1 < fast.sum(1).mean() < 20  # a real test: frames with several notes
    greedy = head.sample(h, 1.0, greedy=True)
    assert torch.equal(greedy, sample_slow(head, h, 1.0, torch.full((300, 88), 0.5)))


def test_a_frame_is_predicted_from_the_past_only():
    torch.manual_seed(3)
    model = Composer(tiny_config(nade_hidden=4)).eval()
    x = (torch.rand(2, 6, 88) < 0.1).float()
    y = x.clone()
    y[:, 3:] = 1 - y[:, 3:]  # change the future only
    a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :3], b[:, :3])  # frames 0..2 are predicted before the change
    assert not torch.allclose(a[:, 4:], b[:, 4:])  # later ones see it


def test_temporal_convolution_sees_the_frames_it_should_and_generates_as_it_scores():
    torch.manual_seed(4)
    config = tiny_config(nade_hidden=4, context_frames=4)
    model = Composer(config).eval()
    x = (torch.rand(1, 9, 88) < 0.1).float()
    with torch.no_grad():
        model.lstm.weight_ih_l0.zero_()  # only the direct paths see the input frames
        base = model.context(x)  # position t sees frames t-1 (linear) .. t-4 (convolution)
        for back in range(1, 7):  # change the frame `back` steps before position 8 only
            y = x.clone()
            y[0, 8 - back] = 1 - y[0, 8 - back]
            changed = not torch.allclose(model.context(y)[0, 8], base[0, 8])
            assert changed == (back <= 4), back
    # step-by-step generation gives the head the same context as teacher forcing on the piece
    with torch.no_grad():
        model.lstm.weight_ih_l0.normal_(0, 0.5)
        model.conv.weight.normal_(0, 0.5)
        model.heads[0].visible_bias.bias.fill_(-1.0)  # busy frames: the paths have work to do
        seen, sample = [], model.heads[0].sample
        model.heads[0].sample = lambda h, *a, **k: seen.append(h) or sample(h, *a, **k)
        piece = model.generate(8)  # (8, 88)
        assert piece.sum() > 8
        torch.testing.assert_close(torch.cat(seen), model.context(piece[None])[0])
    with pytest.raises(ValueError, match="context_frames"):
        Composer(dataclasses.replace(config, context_frames=0))


def test_tiny_fit_learns_a_repeating_chord_progression():
    torch.manual_seed(0)
    chords = [[48, 52, 55, 60], [53, 57, 60, 65], [55, 59, 62, 67], [48, 52, 55, 64]]
    piece = torch.zeros(1, 32, 88)
    for t in range(32):
        piece[0, t, [p - 21 for p in chords[t % 4]]] = 1
    model = Composer(tiny_config(hidden=32, nade_hidden=16))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model(piece).mean().item()
    for _ in range(150):
        loss = model(piece).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert first > 12 and model(piece)[0, 4:].mean().item() < 1.0  # from ~16 nats to almost 0
    acc = FrameAccuracy()
    acc.update(model.predict(piece)[0, 4:], piece[0, 4:])
    assert acc.compute().item() > 0.95
    # it also continues the progression when it composes
    out = model.generate(8, temperature=0.5, prime=piece[0, :6])
    expected = torch.stack([piece[0, t % 4] for t in range(6, 14)])
    assert (out == expected).float().mean() > 0.98


@pytest.mark.parametrize(("patience", "halved_after"), [(0, [1, 2, 3, 4, 5, 6]), (2, [3, 6])])
def test_plateau_halves_the_rate_after_lr_patience_rounds_without_a_better_nll(
    patience, halved_after
):
    from music.module import ComposerModule

    module = ComposerModule(
        hidden=8, nade_hidden=4, lr=0.1, lr_schedule="plateau", lr_patience=patience
    )
    config = module.configure_optimizers()
    assert config["lr_scheduler"]["monitor"] == "val/nll"
    plateau, opt = config["lr_scheduler"]["scheduler"], config["optimizer"]
    plateau.step(2.0)  # the first round sets the best
    rates = []
    for _ in range(6):  # six rounds without a better val/nll
        plateau.step(2.0)
        rates.append(opt.param_groups[0]["lr"])
    expected = [0.1 * 0.5 ** sum(r <= n for r in halved_after) for n in range(1, 7)]
    assert rates == pytest.approx(expected)


def test_frame_accuracy_counts_as_bay_et_al():
    acc = FrameAccuracy()
    target = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 0]])
    pred = torch.tensor([[1, 0, 1, 0], [0, 1, 1, 0]])
    acc.update(pred, target)  # TP 3, FP 1, FN 1
    assert abs(acc.compute().item() - 3 / 5) < 1e-6


def test_generate_shapes_and_binary_values():
    torch.manual_seed(0)
    for kind in ("lstm", "nade"):
        model = Composer(tiny_config(kind=kind, layers=2, dropout=0.1, nade_hidden=4)).eval()
        out = model.generate(10, temperature=1.0)
        assert out.shape == (10, 88) and set(out.unique().tolist()) <= {0.0, 1.0}
        primed = model.generate(3, prime=torch.zeros(5, 88))
        assert primed.shape == (3, 88)


def test_bernoulli_head_ignores_the_other_keys():
    torch.manual_seed(0)
    head = BernoulliHead(6, 88)
    h = torch.randn(2, 6)
    x = (torch.rand(2, 88) < 0.5).float()
    torch.testing.assert_close(head.logits(h, x), head.logits(h, 1 - x))


def strong_head(order: str, n_keys: int = 7, seed: int = 2) -> NADEHead:
    torch.manual_seed(seed)
    head = NADEHead(hidden=5, n_keys=n_keys, nade_hidden=6, order=order)
    with torch.no_grad():
        head.W.normal_(0, 1.5)
        head.V.normal_(0, 1.5)
    return head


def all_frames(n_keys: int = 7) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n_keys)))  # (2^K, K)


@pytest.mark.parametrize("order", ["up", "down", "shuffle3"])
def test_every_note_ordering_is_a_normalised_distribution(order):
    head = strong_head(order)
    frames = all_frames()
    h = torch.randn(5).expand(len(frames), 5)
    nll = frame_nll(head.logits(h, frames), frames)
    assert abs(torch.exp(-nll).sum().item() - 1.0) < 1e-5
    if order != "up":  # another order is another model of the same frames
        up = strong_head("up")
        assert not torch.allclose(nll, frame_nll(up.logits(h, frames), frames))


@pytest.mark.parametrize("order", ["up", "down", "shuffle3"])
def test_clamped_sampling_never_changes_a_given_note(order):
    head = strong_head(order, n_keys=88)
    with torch.no_grad():
        head.visible_bias.bias.fill_(-2.0)
    h = torch.randn(400, 5)
    clamp = torch.randint(-1, 2, (400, 88)).float()  # -1 free, 0 silent, 1 sounding
    clamp[:100] = -1  # some frames entirely free
    clamp[100:200] = (torch.rand(100, 88) < 0.05).float()  # some entirely given
    torch.manual_seed(5)
    fast = head.sample(h, 0.9, clamp=clamp)
    given = clamp >= 0
    assert torch.equal(fast[given], clamp[given])
    torch.manual_seed(5)
    u = torch.rand(400, 88)  # the draws `sample` made, in the head's order
    assert torch.equal(fast, sample_slow(head, h, 0.9, u, clamp))
    assert torch.equal(head.sample(h, 1.0, greedy=True, clamp=clamp)[given], clamp[given])


def test_top_down_clamping_samples_the_exact_conditional_distribution():
    """Soprano given, lower keys drawn: the empirical distribution of the lower keys matches
    p(lower | soprano) computed by enumerating every frame."""
    head = strong_head("down")
    h = torch.randn(5)
    soprano = 4  # key 4 sounds, keys 5 and 6 are silent, keys 0..3 free
    clamp = torch.tensor([-1.0, -1, -1, -1, 1, 0, 0])
    frames = all_frames()
    consistent = frames[(frames[:, 4:] == clamp[4:]).all(1)]  # 16 frames
    p = torch.exp(-frame_nll(head.logits(h.expand(16, 5), consistent), consistent))
    exact = p / p.sum()
    torch.manual_seed(0)
    n = 40000
    drawn = head.sample(h.expand(n, 5), 1.0, clamp=clamp.expand(n, 7))
    assert (drawn[:, soprano] == 1).all() and (drawn[:, 5:] == 0).all()
    index = (drawn[:, :4] * torch.tensor([8.0, 4, 2, 1])).sum(1).long()
    order = (consistent[:, :4] * torch.tensor([8.0, 4, 2, 1])).sum(1).long()
    empirical = torch.bincount(index, minlength=16).float()[order] / n
    assert 0.5 * (empirical - exact).abs().sum() < 0.015  # total variation
    # the up ordering clamped the same way only conditions on the keys below: not exact
    up = strong_head("up")
    p_up = torch.exp(-frame_nll(up.logits(h.expand(16, 5), consistent), consistent))
    torch.manual_seed(0)
    drawn_up = up.sample(h.expand(n, 5), 1.0, clamp=clamp.expand(n, 7))
    index_up = (drawn_up[:, :4] * torch.tensor([8.0, 4, 2, 1])).sum(1).long()
    emp_up = torch.bincount(index_up, minlength=16).float()[order] / n
    assert 0.5 * (emp_up - p_up / p_up.sum()).abs().sum() > 0.03


def test_ordering_ensemble_of_one_ordering_is_that_ordering():
    torch.manual_seed(4)
    x = (torch.rand(2, 9, 88) < 0.06).float()
    config = tiny_config()
    single = Composer(dataclasses.replace(config, orderings=("down",))).eval()
    per_ordering = single.ordering_nll(x)
    assert per_ordering.shape == (1, 2, 9)
    assert torch.equal(single(x), per_ordering[0])  # the ensemble of one is that ordering
    assert torch.equal(ensemble_nll(per_ordering), per_ordering[0])
    # two copies of the same head: their mixture is the same distribution
    twins = Composer(dataclasses.replace(config, orderings=("down", "down"))).eval()
    weights = single.state_dict()
    second = {k.replace("heads.0.", "heads.1."): v for k, v in weights.items() if "heads.0." in k}
    twins.load_state_dict(weights | second)
    torch.testing.assert_close(twins(x), single(x))
    # two different orderings: -log of the mean of the two probabilities (float64 reference)
    mixed = Composer(dataclasses.replace(config, orderings=("down", "up"))).eval()
    a, b = mixed.ordering_nll(x).double()
    reference = -torch.log(0.5 * torch.exp(-a) + 0.5 * torch.exp(-b))
    torch.testing.assert_close(mixed(x).double(), reference, atol=1e-4, rtol=1e-5)
    assert (mixed(x) <= torch.maximum(a, b).float() + 1e-4).all()


def test_harmonize_keeps_the_melody_on_top_and_rests_with_it():
    torch.manual_seed(0)
    model = Composer(tiny_config()).eval()
    with torch.no_grad():
        model.heads[0].visible_bias.bias.fill_(0.0)  # a dense head: many notes drawn
    melody = torch.tensor([51, 53, 55, -1, 56, 58, 58, 51])
    out = model.harmonize(melody, temperature=1.0)
    assert out.shape == (8, 88)
    for t, key in enumerate(melody.tolist()):
        keys = torch.nonzero(out[t]).flatten()
        if key < 0:
            assert len(keys) == 0
        else:
            assert keys.max().item() == key and len(keys) > 1
    up_only = Composer(tiny_config(orderings=("up",))).eval()
    with pytest.raises(ValueError, match="no 'down' note ordering"):
        up_only.harmonize(melody)


def test_weight_average_is_what_validation_checkpoints_and_the_test_score(tmp_path):
    """--model.ema_decay: validation, best.ckpt and `trainer.test(ckpt_path=best)` (what a run's
    test does) all see the moving average of the weights, computed here by hand from the weights
    after each step; the checkpoint also keeps the raw weights, which training resumes from."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from torch.utils.data import DataLoader, TensorDataset

    from music.module import AveragedWeights, ComposerModule

    torch.manual_seed(0)
    rolls = (torch.rand(8, 12, 88) < 0.05).float()
    data = DataLoader(TensorDataset(rolls, torch.ones(8, 12, dtype=torch.bool)), batch_size=4)
    decay, raw, average, seen = 0.5, [], [], {}

    def weights(module):
        return [p.detach().clone() for p in module.model.parameters()]

    class Watch(L.Callback):  # a trainer callback: runs before the module's averaging
        def on_train_batch_end(self, trainer, module, *args):
            raw[:] = weights(module)
            average[:] = raw if not average else [decay * a + (1 - decay) * w
                                                  for a, w in zip(average, raw)]  # fmt: skip

        def on_validation_batch_start(self, trainer, module, *args):
            seen["val"], seen["val_average"] = weights(module), [a.clone() for a in average]

        def on_test_batch_start(self, trainer, module, *args):
            seen["test"] = weights(module)

    module = ComposerModule(
        hidden=8, layers=1, nade_hidden=4, ema_decay=decay, lr=0.05, eval_transpositions=0
    )
    checkpoints = ModelCheckpoint(tmp_path, monitor="val/nll", save_last=True)
    trainer = L.Trainer(
        max_epochs=3, callbacks=[Watch(), checkpoints], logger=False, num_sanity_val_steps=0,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, data, data)
    for w, a in zip(seen["val"], seen["val_average"]):
        torch.testing.assert_close(w, a)  # validation scores the average
    assert not all(torch.allclose(r, a) for r, a in zip(raw, average))  # which is not the weights
    last = torch.load(tmp_path / "last.ckpt", weights_only=True)
    params = [n for n, _ in module.named_parameters()]
    for name, a, r in zip(params, average, raw):
        torch.testing.assert_close(last["state_dict"][name], a)  # what a checkpoint composes with
        torch.testing.assert_close(last["current_model_state"][name], r)  # what training resumes
    best = torch.load(checkpoints.best_model_path, weights_only=True)["state_dict"]
    fitted = next(c for c in trainer.callbacks if isinstance(c, AveragedWeights))
    trainer.test(module, data, ckpt_path=checkpoints.best_model_path, weights_only=True)
    for name, w in zip(params, seen["test"]):
        torch.testing.assert_close(w, best[name])  # the test scores best.ckpt's average
    fitted.on_load_checkpoint(trainer, module, last)  # outside fit even the fit's averager
    for name, w in zip(params, weights(module)):  # leaves the checkpoint's average in place
        torch.testing.assert_close(w, best[name])


def test_training_with_a_weight_average_resumes_where_it_stopped(tmp_path):
    """Resuming from last.ckpt goes on from the raw weights with the average restored beside
    them: 2 epochs + 1 resumed end where 3 uninterrupted epochs end (no dropout, constant lr)."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from torch.utils.data import DataLoader, TensorDataset

    from music.module import ComposerModule

    torch.manual_seed(0)
    rolls = (torch.rand(8, 12, 88) < 0.05).float()
    data = DataLoader(TensorDataset(rolls, torch.ones(8, 12, dtype=torch.bool)), batch_size=4)
    init = ComposerModule(hidden=8, layers=1, nade_hidden=4, dropout=0.0, ema_decay=0.5,
                          lr=0.05, lr_schedule="constant").state_dict()  # fmt: skip

    def fit(folder, epochs, resume=None):
        module = ComposerModule(hidden=8, layers=1, nade_hidden=4, dropout=0.0, ema_decay=0.5,
                                lr=0.05, lr_schedule="constant")  # fmt: skip
        module.load_state_dict(init)
        trainer = L.Trainer(
            max_epochs=epochs, callbacks=[ModelCheckpoint(folder, save_last=True)], logger=False,
            num_sanity_val_steps=0, enable_progress_bar=False, enable_model_summary=False,
        )  # fmt: skip
        trainer.fit(module, data, data, ckpt_path=resume, weights_only=True)
        return torch.load(folder / "last.ckpt", weights_only=True)

    whole = fit(tmp_path / "whole", 3)
    fit(tmp_path / "cut", 2)
    resumed = fit(tmp_path / "cut", 3, resume=tmp_path / "cut" / "last.ckpt")
    for key in ("state_dict", "current_model_state"):  # the average, the raw weights
        torch.testing.assert_close(resumed[key], whole[key])
    average, raw = whole["state_dict"], whole["current_model_state"]
    assert any(not torch.equal(average[k], raw[k]) for k in average)  # two different sets


def test_a_checkpoint_from_before_lightning_s_averaging_loads_its_average():
    """The hand-written average of before kept `ema.module.*` beside `model.*` and a flag
    `ema_in_model` (in every music checkpoint) saying which of the two `model.*` held."""
    from music.module import ComposerModule

    torch.manual_seed(0)
    module = ComposerModule(hidden=8, layers=1, nade_hidden=4)
    raw = {k: v.clone() for k, v in module.state_dict().items()}
    avg = {k: v + 1 if v.is_floating_point() else v for k, v in raw.items()}
    ema = {f"ema.module.{k.removeprefix('model.')}": v for k, v in avg.items()}
    for in_model, state, expected in (
        (False, raw, avg),  # model.* raw: the average comes from ema.module.*
        (True, avg, avg),  # saved after validation: model.* already the average
    ):
        old = {
            **state,
            **ema,
            "ema.n_averaged": torch.tensor(3),
            "ema_in_model": torch.tensor(in_model),
        }
        fresh = ComposerModule(hidden=8, layers=1, nade_hidden=4)
        fresh.load_state_dict(old)  # strict
        for k, v in fresh.state_dict().items():
            torch.testing.assert_close(v, expected[k])
    fresh.load_state_dict({**raw, "ema_in_model": torch.tensor(False)})  # averaging was off
    torch.testing.assert_close(fresh.state_dict(), raw)


def test_transposition_ensemble_is_a_mixture_of_shifted_models():
    torch.manual_seed(6)
    small = tiny_config(6, 5, n_keys=7)
    model = Composer(small).eval()
    frames = all_frames().unsqueeze(1)  # (128, 1, 7): every one-frame piece
    with torch.no_grad():
        single, ensemble = model(frames), model.transposition_nll(frames, 2)
        assert torch.equal(model.transposition_nll(frames, 0), single)
        total = torch.exp(-ensemble).sum().item()
        assert 0.2 < total <= 1 + 1e-5  # a (sub-)normalised distribution over frames
        assert total < 1 - 1e-3  # shifts that push notes off the keyboard lose their mass
    # an 88-key piece in the middle of the keyboard, against numpy's transposition
    big = Composer(tiny_config()).eval()
    roll = np.zeros((12, 88), bool)
    for t in range(12):
        roll[t, [30 + t % 3, 37, 42 + t % 5]] = True
    with torch.no_grad():
        nll = torch.stack(
            [big(torch.from_numpy(midi.transpose(roll, k)).float()[None])[0] for k in (-1, 0, 1)]
        ).double()
        got = big.transposition_nll(torch.from_numpy(roll).float()[None], 1)[0].double()
    torch.testing.assert_close(got, -torch.log(torch.exp(-nll).mean(0)), atol=1e-4, rtol=1e-5)
