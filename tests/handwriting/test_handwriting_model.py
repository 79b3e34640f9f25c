"""The attention window, the prediction network, and sampling (termination, bias, priming)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from handwriting.config import ModelConfig
from handwriting.model import HandwritingRNN
from tests.bf16 import needs_native_bf16


def small(synthesis=True, **kw) -> HandwritingRNN:
    torch.manual_seed(0)
    cfg = ModelConfig(
        synthesis=synthesis,
        hidden_size=16,
        num_layers=2,
        n_mixtures=3,
        n_window=2,
        alphabet_size=6,
        **{"kappa_scale": 0.1, "n_styles": 0, **kw},
    )
    return HandwritingRNN(cfg)


def set_window_speed(model: HandwritingRNN, chars_per_step: float) -> None:
    """Make kappa advance by exactly `chars_per_step` per step (eq. 51), whatever the input."""
    K = model.config.n_window
    with torch.no_grad():
        model.window.weight.zero_()
        model.window.bias.zero_()
        model.window.bias[2 * K :] = math.log(chars_per_step / model.config.kappa_scale)


def test_synthesis_shapes_and_window_weights():
    model = small()
    x, chars = torch.randn(3, 7, 3), torch.tensor([[1, 2, 3, 0], [4, 5, 6, 1], [2, 0, 0, 0]])
    y, state, phi = model(x, chars)
    assert y.shape == (3, 7, 1 + 6 * 3)
    assert phi.shape == (3, 7, 4) and (phi >= 0).all()
    assert state["w"].shape == (3, 6) and state["kappa"].shape == (3, 2)


def test_window_progress_is_monotone():
    model = small()
    x, chars = torch.randn(2, 25, 3), torch.randint(1, 7, (2, 5))
    state, kappas = None, []
    for t in range(25):  # step by step, as in generation
        _, state, _ = model(x[:, t : t + 1], chars, state)
        kappas.append(state["kappa"].clone())
    kappa = torch.stack(kappas, 1)  # (B, T, K)
    assert (kappa.diff(dim=1) > 0).all()


def test_window_reads_the_character_under_kappa():
    model = small()
    set_window_speed(model, 1.0)  # kappa = t + 1 after step t
    with torch.no_grad():
        model.window.bias[:2] = math.log(1.0)  # alpha = 1
        model.window.bias[2:4] = math.log(20.0)  # beta = 20: a sharp window
    chars = torch.tensor([[1, 2, 3, 4, 5]])
    _, state, phi = model(torch.zeros(1, 3, 3), chars)
    assert phi[0].argmax(-1).tolist() == [1, 2, 3]
    assert state["w"][0].argmax().item() == 3  # one-hot of code 4 is column 3


def test_padding_characters_contribute_nothing():
    model = small()
    x = torch.randn(1, 6, 3)
    y1, _, _ = model(x, torch.tensor([[1, 2, 3]]))
    y2, _, _ = model(x, torch.tensor([[1, 2, 3, 0, 0]]))
    assert torch.allclose(y1, y2, atol=1e-6)


def test_prediction_network_has_no_window():
    model = small(synthesis=False)
    y, _, phi = model(torch.randn(2, 9, 3))
    assert y.shape == (2, 9, 19) and phi is None
    sample = model.generate(max_steps=40, generator=torch.Generator().manual_seed(0))
    assert sample.offsets.shape == (40, 3)


def test_generation_stops_once_the_window_has_passed_the_last_character():
    """kappa = 0.5 (t + 1): from step 7 on (kappa > 3.5) the window is nearer the empty position
    after the text (u = 4) than its last character. A new stroke begun then belongs to no
    character (it was a stray mark after the line): with the pen lifted after every point the
    line keeps the 7 points before it; a stroke under way is finished (pen never lifted: up to
    FINISH_STEPS more points)."""
    from handwriting.model import FINISH_STEPS

    text = torch.tensor([1, 2, 3, 4])
    for eos_bias, length in ((50.0, 7), (-50.0, 7 + FINISH_STEPS + 1)):
        model = small()
        set_window_speed(model, 0.5)
        with torch.no_grad():
            model.head.bias[0] = eos_bias
        sample = model.generate(text, max_steps=500, generator=torch.Generator().manual_seed(0))
        assert sample.finished
        assert len(sample.offsets) == length
        assert sample.phi.shape == (length, 4)


def test_generation_respects_max_steps_when_the_window_stalls():
    model = small()
    set_window_speed(model, 1e-4)
    sample = model.generate(torch.tensor([1, 2, 3]), max_steps=30)
    assert not sample.finished and len(sample.offsets) == 30


def test_generation_bias_makes_samples_less_random():
    model = small()
    set_window_speed(model, 0.05)
    spread = {}
    for bias in (0.0, 4.0):
        runs = [
            model.generate(
                torch.tensor([1, 2]), 30, bias, generator=torch.Generator().manual_seed(s)
            ).offsets
            for s in range(3)
        ]
        spread[bias] = np.std([r[:, :2] for r in runs], axis=0).mean()
    assert spread[4.0] < 0.2 * spread[0.0]


def test_priming_changes_what_follows():
    model = small()
    set_window_speed(model, 0.1)
    text = torch.tensor([1, 2, 3, 4, 5])
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    plain = model.generate(text, 20, 3.0, generator=g()).offsets
    prime = torch.randn(15, 3) * 3
    prime[:, 2] = 0
    primed = model.generate(text, 20, 3.0, prime=prime, generator=g()).offsets
    assert not np.allclose(plain, primed)


def test_writer_embedding_conditions_every_step_and_zero_means_unknown():
    model = small(n_styles=3, style_dim=4)
    x, chars = torch.randn(2, 7, 3), torch.tensor([[1, 2, 3], [1, 2, 3]])
    y1 = model(x, chars, style=torch.tensor([1, 2]))[0]
    y2 = model(x, chars, style=torch.tensor([1, 3]))[0]
    assert torch.allclose(y1[0], y2[0])  # row 0 keeps writer 1
    assert not torch.allclose(y1[1], y2[1])  # another writer changes every step's output
    assert not torch.allclose(y1[1, 0], y2[1, 0])
    unknown = model(x, chars, style=torch.zeros(2, dtype=torch.long))[0]
    assert torch.allclose(unknown, model(x, chars)[0])  # None = unknown writer (row 0)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = model.generate(torch.tensor([1, 2]), 15, 1.0, generator=g(), style=1).offsets
    b = model.generate(torch.tensor([1, 2]), 15, 1.0, generator=g(), style=2).offsets
    assert not np.allclose(a[: min(len(a), len(b))], b[: min(len(a), len(b))])


def test_module_maps_writer_names_and_withholds_some_in_training():
    from handwriting.module import HandwritingModule

    torch.manual_seed(0)
    names = ["ada", "ben", "cleo"]
    m = HandwritingModule(hidden_size=8, n_mixtures=2, n_window=2, styles=names, style_dropout=0.5)
    assert [m.style_index(n) for n in [*names, "iam-writer-7", None]] == [1, 2, 3, 0, 0]
    batch = {"writers": ["cleo"] * 400}
    assert m._styles(batch, "val").tolist() == [3] * 400  # never withheld outside training
    withheld = (m._styles(batch, "train") == 0).float().mean()
    assert 0.4 < withheld < 0.6
    plain = HandwritingModule(hidden_size=8, n_mixtures=2, n_window=2, styles=None)
    assert plain._styles(batch, "train") is None


def _window_batch():
    from handwriting.module import HandwritingModule

    torch.manual_seed(0)
    m = HandwritingModule(hidden_size=32, n_mixtures=3, n_window=2, styles=["ada"])
    m.log = lambda *a, **k: None
    x = torch.randn(4, 60, 3) * 0.3
    x[..., 2] = (torch.rand(4, 60) < 0.1).float()
    batch = {"x": x, "mask": torch.ones(4, 60), "chars": torch.randint(1, 40, (4, 12)),
             "writers": ["ada"] * 4}  # fmt: skip
    return m, batch


def test_float32_step_keeps_the_window_position_and_the_loss_in_float32():
    """The default path on every CPU (handwriting.train): a training step in float32 end to end."""
    m, batch = _window_batch()
    m.train()
    loss = m._step(batch, "train")
    loss.backward()
    _, state, _ = m.model(batch["x"], batch["chars"], style=torch.ones(4, dtype=torch.long))
    assert loss.dtype == torch.float32 and state["kappa"].dtype == torch.float32
    assert torch.isfinite(loss)
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


@needs_native_bf16
def test_bf16_autocast_keeps_the_window_position_and_the_loss_in_float32():
    """`--trainer.precision bf16-mixed` (a choice on a CPU with native bf16; the default is
    float32 everywhere): the window's position kappa accumulates over hundreds of steps and must
    not be rounded to bf16, and the mixture density loss is computed in float32 from the
    network's output."""
    m, batch = _window_batch()
    x = batch["x"]
    full = m._step(batch, "val")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = m._step(batch, "val")
        _, state, _ = m.model(x, batch["chars"], style=torch.ones(4, dtype=torch.long))
    assert mixed.dtype == torch.float32 and state["kappa"].dtype == torch.float32
    assert torch.isfinite(mixed) and abs(float(mixed - full)) < 0.05 * abs(float(full)) + 1.0


def test_cosine_schedule_anneals_every_step_to_its_final_rate():
    """--model.lr_schedule cosine: a half cosine over all the run's optimizer steps, from lr to
    lr * lr_final, whatever the number of epochs; an unknown schedule is refused by name."""
    from handwriting.module import HandwritingModule

    m = HandwritingModule(hidden_size=8, n_mixtures=2, n_window=2, lr=1e-3, lr_schedule="cosine",
                          lr_final=0.1, tbptt_spans=1)  # fmt: skip
    m._trainer = SimpleNamespace(estimated_stepping_batches=10)
    conf = m.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert conf["lr_scheduler"]["interval"] == "step"
    lrs = []
    for _ in range(10):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[4] == pytest.approx(0.55e-3) and lrs[-1] == pytest.approx(1e-4)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    # truncated BPTT: 10 batches in 2 epochs, the first cut into 3 spans: 5 * 3 + 5 steps
    m3 = HandwritingModule(hidden_size=8, n_mixtures=2, n_window=2, lr_schedule="cosine",
                           tbptt_spans=3, tbptt_epochs=1)  # fmt: skip
    m3._trainer = SimpleNamespace(estimated_stepping_batches=10, max_epochs=2, callbacks=[])
    assert m3.configure_optimizers()["lr_scheduler"]["scheduler"].T_max == 20
    with pytest.raises(ValueError, match="lr_schedule"):
        HandwritingModule(hidden_size=8, n_mixtures=2, n_window=2, lr_schedule="linear")


def test_a_batch_of_lines_writes_each_as_if_alone():
    """generate_batch (the OCR judge writes a style's phrases in one batch): padding a shorter
    text changes nothing of its line, and each line stops on its own. Sampling is made nearly
    deterministic (a high bias, the pen never lifted) so that lines drawn in a batch and alone
    can be compared point by point."""
    model = small(n_styles=2)
    set_window_speed(model, 0.2)
    with torch.no_grad():
        model.head.bias[0] = -50.0  # end-of-stroke never drawn
        model.head.bias[1] = 10.0  # always the first Gaussian
    texts = [torch.tensor([1, 2]), torch.tensor([3, 4, 5, 6, 1, 2])]
    prime = torch.randn(6, 3) * 0.3
    kw = dict(max_steps=80, bias=30.0, prime=prime, style=2)
    batch = model.generate_batch(texts, generator=torch.Generator().manual_seed(0), **kw)
    for text, line in zip(texts, batch):
        alone = model.generate(text, generator=torch.Generator().manual_seed(0), **kw)
        assert line.finished and alone.finished
        assert line.offsets.shape == alone.offsets.shape
        assert np.allclose(line.offsets, alone.offsets, atol=1e-2)
        assert line.phi.shape == (len(line.offsets), len(text))
    assert len(batch[0].offsets) < len(batch[1].offsets)  # the short line stopped first


def test_each_sample_carries_the_nll_of_its_own_points():
    """Sample.nll, what the best of several candidates is chosen by, is the mean NLL per point
    of the line under the unbiased mixture: the same figure as the network's forward pass over
    the finished line (teacher forcing, as in training), with a prime and a writer."""
    from handwriting import mdn

    model = small(n_styles=2)
    set_window_speed(model, 0.1)
    text, prime = torch.tensor([1, 2, 3]), torch.randn(5, 3) * 0.3
    kw = dict(max_steps=60, bias=1.0, prime=prime, style=1)
    line = model.generate(text, generator=torch.Generator().manual_seed(3), **kw)
    x = torch.from_numpy(line.offsets).unsqueeze(0)  # (1, T, 3)
    start = torch.tensor([[[0.0, 0.0, 1.0]]])
    with torch.no_grad():
        inputs = torch.cat([start, prime.view(1, -1, 3), x[:, :-1]], 1)
        y, _, _ = model(inputs, text.view(1, -1), None, torch.tensor([1]))
        nll = mdn.nll(mdn.split_params(y[:, len(prime) :], model.config.n_mixtures), x)
    assert len(line.offsets) > 10
    assert line.nll == pytest.approx(float(nll.mean()), rel=1e-4)


def test_the_likeliest_of_the_candidates_is_kept():
    """generate_batch(candidates=K) draws each text K times in one batch (the same draws as
    the K copies written without choosing) and keeps, per text, the finished draw of the lowest
    NLL per point, not the first or the last."""
    model = small()
    set_window_speed(model, 0.3)
    texts, K = [torch.tensor([1, 2]), torch.tensor([3, 4, 5])], 4
    drawn = model.generate_batch(
        [t for t in texts for _ in range(K)], 60, 0.5, generator=torch.Generator().manual_seed(1)
    )
    kept = model.generate_batch(
        texts, 60, 0.5, generator=torch.Generator().manual_seed(1), candidates=K
    )
    assert len(kept) == len(texts)
    for i, line in enumerate(kept):
        mine = drawn[i * K : (i + 1) * K]
        assert len({round(d.nll, 6) for d in mine}) == K  # the draws differ
        best = min(mine, key=lambda d: (not d.finished, d.nll))
        assert np.array_equal(line.offsets, best.offsets) and line.nll == best.nll


def test_writing_primes_only_a_writer_the_network_has_no_embedding_of(monkeypatch):
    """module.write: a writer-conditioned network writes a known style from its embedding alone
    (OCR reads it better, model card) unless asked to prime; it primes for a network without
    writer embeddings; an unknown style is refused by name either way."""
    from handwriting.module import HandwritingModule

    torch.manual_seed(0)
    known = HandwritingModule(hidden_size=8, n_mixtures=2, n_window=2, styles=["ada", "ben"])
    plain = HandwritingModule(hidden_size=8, n_mixtures=2, n_window=2, styles=None)
    for m in (known, plain):
        primed = []
        real = m.primer
        monkeypatch.setattr(
            m, "primer", lambda style, real=real, primed=primed: primed.append(style) or real(style)
        )
        m.write("ab", style="ada", max_steps=5)
        m.write("ab", style="ada", max_steps=5, prime=True)
        m.write("ab", style=None, max_steps=5)
        assert primed == (["ada"] if m is known else ["ada", "ada"])
        with pytest.raises(ValueError, match="unknown style 'zed'"):
            m.write("ab", style="zed", max_steps=5)


def test_truncated_bptt_spans_carry_the_state_and_give_the_whole_lines_nll():
    """--model.tbptt_spans: the NLL of a line cut into spans, each started from the state the
    span before it ended in, is the NLL of the whole line (the cut stops gradients, not the
    forward pass); a span started from a fresh state is not."""
    m, batch = _window_batch()
    m.eval()
    style = torch.ones(4, dtype=torch.long)
    with torch.no_grad():
        full = m.point_nll(batch, style=style)  # (4, 60)
        parts, state = [], None
        for span in (slice(0, 25), slice(25, 50), slice(50, 60)):
            nll, state = m.span_nll(batch, span=span, state=state, style=style)
            parts.append(nll)
        fresh = m.span_nll(batch, span=slice(25, 50), style=style)[0]
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)
    assert not torch.allclose(fresh, full[:, 25:50], atol=1e-2)


def test_truncated_bptt_steps_once_per_span_and_decays_the_rate_once_per_epoch(tmp_path):
    """A batch cut into 3 spans makes 3 optimizer steps (manual optimization), the exponential
    schedule still decays once per epoch, and the weights move; 1 span is one step per batch;
    after tbptt_epochs (the curriculum) batches are whole lines again, one step each; under
    --run.budget every batch is a whole line (its planner counts the first batch's steps)."""
    import time

    import lightning as L

    from common.budget import BudgetPlanner
    from handwriting.module import HandwritingModule

    batches = [_window_batch()[1] for _ in range(2)]
    for spans, in_spans, budget, steps in ((3, None, 0, 12), (3, 1, 0, 8), (1, None, 0, 4),
                                           (3, None, 5, 4)):  # fmt: skip
        torch.manual_seed(0)
        m = HandwritingModule(hidden_size=16, n_mixtures=2, n_window=2, styles=["ada"],
                              tbptt_spans=spans, tbptt_epochs=in_spans, lr=1e-3,
                              lr_decay=0.5)  # fmt: skip
        before = [p.detach().clone() for p in m.parameters()]
        planner = [BudgetPlanner(budget, time.monotonic())] if budget else []
        trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False,
                            limit_val_batches=0, default_root_dir=tmp_path,
                            callbacks=planner)  # fmt: skip
        trainer.fit(m, torch.utils.data.DataLoader(batches, batch_size=None))
        assert trainer.global_step == steps
        assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.25e-3)
        assert all(not torch.equal(a, b) for a, b in zip(before, m.parameters()))
    with pytest.raises(ValueError, match="tbptt_spans"):
        HandwritingModule(tbptt_spans=0)


def test_batch_threads_give_the_update_of_one_pass_over_the_batch(tmp_path):
    """--model.batch_threads: the batch's lines split between threads (2, and 3 uneven parts of
    4 lines), each part's gradient taken alone and summed, train the same weights as one pass
    over the whole batch, with the state carried from span to span in each part."""
    import lightning as L

    from handwriting.module import HandwritingModule

    batches = [_window_batch()[1] for _ in range(2)]
    weights = []
    for threads in (1, 2, 3):
        torch.manual_seed(0)
        m = HandwritingModule(hidden_size=16, n_mixtures=2, n_window=2, styles=["ada"],
                              tbptt_spans=3, tbptt_epochs=1, lr=1e-2,
                              batch_threads=threads)  # fmt: skip
        trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False,
                            limit_val_batches=0, default_root_dir=tmp_path)  # fmt: skip
        trainer.fit(m, torch.utils.data.DataLoader(batches, batch_size=None))
        assert trainer.global_step == 8
        weights.append(torch.cat([p.detach().flatten() for p in m.parameters()]))
    assert not torch.allclose(weights[0], torch.cat([p.flatten() for p in
                              HandwritingModule(hidden_size=16, n_mixtures=2, n_window=2,
                                                styles=["ada"]).parameters()]))  # fmt: skip
    for other in weights[1:]:
        assert torch.allclose(weights[0], other, atol=1e-5)
    with pytest.raises(ValueError, match="batch_threads"):
        HandwritingModule(batch_threads=0)


def test_batch_threads_stay_on_one_torch_thread_whatever_the_main_thread_sets_meanwhile():
    """A batch thread started, then the main thread restores its own count (as `one_thread`
    does after each update): the batch thread still computes on one torch thread. (Torch sets
    a thread's count from the process-wide one on its first parallel operation; a resumed run
    then sometimes differed from the uninterrupted one.)"""
    import threading

    from handwriting.module import HandwritingModule

    m = HandwritingModule(hidden_size=16, n_mixtures=2, n_window=2, batch_threads=2)
    started, go = threading.Barrier(3), threading.Event()

    def job(_):
        started.wait()  # both workers exist and have run their initializer
        go.wait()
        return torch.get_num_threads()

    before = torch.get_num_threads()
    try:
        counts = m._pool().map(job, range(2))
        started.wait()
        torch.set_num_threads(2)
        go.set()
        assert list(counts) == [1, 1]
    finally:
        torch.set_num_threads(before)
        m._pool().shutdown()
