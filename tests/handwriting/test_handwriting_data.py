"""The data module: deterministic embedded data, unseen validation text, IAM-OnDB batches."""

from collections import Counter

import pytest
import torch

from common.errors import DataError
from handwriting.data import ALPHABET, HandwritingDataModule, generate_hershey
from handwriting.text import (
    CAPITALS,
    TextMixer,
    load_corpus,
    load_unseen,
    split_sentences,
    unknown_characters,
)


def test_embedded_data_is_deterministic_and_validation_text_is_unseen():
    a = generate_hershey(n_train=20, n_val=10, max_chars=16, seed=7)
    b = generate_hershey(n_train=20, n_val=10, max_chars=16, seed=7)
    assert a["train"]["texts"] == b["train"]["texts"]
    assert all(torch.equal(x, y) for x, y in zip(a["train"]["offsets"], b["train"]["offsets"]))
    assert set(a["train"]["writers"]) == {"ada", "ben", "cleo", "dora", "emil"}
    assert all(4 <= len(t) <= 16 for t in a["train"]["texts"])
    assert not set(a["val_sentences"]) & set(split_sentences(load_corpus(), 7, 0.15)[0])
    # validation lines come from another random stream: no line is also a training line
    c = generate_hershey(n_train=300, n_val=100, max_chars=32, seed=7)
    assert len(set(c["val"]["texts"]) & set(c["train"]["texts"])) <= 2


def test_lines_drawn_in_parallel_processes_are_the_lines_drawn_in_one(monkeypatch):
    """Large sets are drawn by one process per core (each line from its own random stream):
    the same data as drawn in one process, in the same order."""
    import handwriting.data as data

    serial = generate_hershey(n_train=40, n_val=10, max_chars=16, seed=5)
    monkeypatch.setattr(data, "CHUNK", 10)
    monkeypatch.setattr(data, "PARALLEL_FROM", 20)
    monkeypatch.setattr(data.os, "sched_getaffinity", lambda pid: {0, 1})
    parallel = generate_hershey(n_train=40, n_val=10, max_chars=16, seed=5)
    assert parallel["train"]["texts"] == serial["train"]["texts"]
    pairs = list(zip(parallel["train"]["offsets"], serial["train"]["offsets"]))
    assert len(pairs) == 40 and all(torch.equal(x, y) for x, y in pairs)


def test_pen_step_scales_points_per_character():
    dense = generate_hershey(n_train=20, n_val=5, max_chars=24, seed=3)["train"]
    sparse = generate_hershey(n_train=20, n_val=5, max_chars=24, seed=3, pen_step=1.5)["train"]
    assert dense["texts"] == sparse["texts"]
    n_dense = sum(len(o) for o in dense["offsets"])
    assert 0.6 * n_dense < sum(len(o) for o in sparse["offsets"]) < 0.9 * n_dense


def test_training_text_has_variety_and_never_an_unseen_phrase():
    unseen = load_unseen()
    assert len(unseen) >= 60 and all(len(p) <= 20 for p in unseen)
    assert not unknown_characters("".join(unseen), ALPHABET)
    lines = TextMixer(load_corpus(), seed=1, exclude=unseen).lines(3000, 32, ALPHABET)
    low = [t.lower() for t in lines]
    assert not any(p.lower() in t for p in unseen for t in low)
    counts = Counter("".join(lines))
    assert min(counts[c] for c in ALPHABET) >= 15, counts.most_common()[-5:]
    # capitals and digits everywhere in a line, not only at its start
    assert sum(any(c.isupper() for c in t[1:]) for t in lines) > 0.4 * len(lines)
    assert sum(any(c.isdigit() for c in t) for t in lines) > 0.2 * len(lines)
    # with lead_letter every letter of either case begins many lines, not only the common
    # initials (A, M, S, t); without it these 3000 lines begin with X 7 times, G 40, u 4, e 32
    starts = Counter(t[0] for t in lines)
    assert min(starts[c] for c in CAPITALS) < 10
    led = TextMixer(load_corpus(), seed=1, exclude=unseen, lead_letter=0.6).lines(
        3000, 32, ALPHABET
    )
    starts = Counter(t[0] for t in led)
    assert min(starts[c] for c in CAPITALS) >= 25, sorted(starts.items())
    assert min(starts[c] for c in CAPITALS.lower() if c not in "xz") >= 20, sorted(starts.items())
    assert not any(p.lower() in t.lower() for p in unseen for t in led)
    assert len(set(lines)) > 0.98 * len(lines)
    # the mixer drops a line holding an excluded phrase
    mixer = TextMixer(["Dr. Maria Lopez is here"], seed=0, exclude=["maria lopez"])
    mixer._piece = lambda: "Dr. Maria Lopez" if mixer.rng.random() < 0.5 else "elm"
    written = [mixer.line(32, ALPHABET) for _ in range(50)]
    assert any("Maria" in t for t in written)  # cut lines may keep a part of the phrase
    assert not any("maria lopez" in t.lower() for t in written)


def test_batches_are_padded_scaled_and_bucketed(tmp_path, monkeypatch):
    monkeypatch.setenv("MAL2_DATA", str(tmp_path))
    dm = HandwritingDataModule(n_train=60, n_val=10, max_chars=16, batch_size=8)
    dm.setup("fit")
    assert list(tmp_path.glob("handwriting/hershey-v*.pt"))  # cached with its version stamp
    dm2 = HandwritingDataModule(n_train=60, n_val=10, max_chars=16, batch_size=8)
    dm2.setup("fit")  # read back from the cache: same scale
    assert dm2.scale == dm.scale
    assert dm.hparams.lead_letter == 0.6  # the default (model card)
    plain = HandwritingDataModule(n_train=60, n_val=10, max_chars=16, batch_size=8, lead_letter=0)
    plain.setup("fit")  # other text, so a cache file of its own
    assert len(list(tmp_path.glob("handwriting/hershey-v*.pt"))) == 2
    assert plain.train_set.texts != dm.train_set.texts
    offsets = torch.cat([x[1:, :2] for x, _, _ in dm.train_set])
    assert torch.allclose(offsets.std(0), torch.ones(2), atol=0.05)  # unit std (Graves 4.1)
    batches = list(dm.train_dataloader())
    batch = batches[0]
    assert batch["x"].shape[:2] == batch["mask"].shape and batch["chars"].shape[0] == 8
    assert (batch["x"][~batch["mask"]] == 0).all()
    # bucketing: with all 60 lines in one chunk, the batches' length ranges do not interleave
    ranges = sorted((int(b["mask"].sum(1).min()), int(b["mask"].sum(1).max())) for b in batches)
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in zip(ranges, ranges[1:]))


def test_data_alphabet_draws_and_encodes_the_lines_and_refuses_what_it_cannot_draw(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MAL2_DATA", str(tmp_path))
    lower = " abcdefghijklmnopqrstuvwxyz"
    dm = HandwritingDataModule(n_train=40, n_val=8, max_chars=16, batch_size=8, alphabet=lower)
    dm.setup("fit")
    texts = dm.train_set.texts + dm.val_set.texts
    assert len(texts) == 48 and set("".join(texts)) <= set(lower)
    assert len(list(tmp_path.glob("handwriting/hershey-v*-a*.pt"))) == 1  # a cache of its own
    _, chars, _ = dm.train_set[0]
    assert chars.tolist() == [lower.index(c) + 1 for c in dm.train_set.texts[0]]
    for alphabet, message in [
        ("abca", "give each character once"),
        ("", "give each character once"),
        ("abc\u00e9", "cannot draw '\u00e9'"),
    ]:
        with pytest.raises(DataError, match=message):
            HandwritingDataModule(alphabet=alphabet)
    with pytest.raises(DataError, match="no text line of 16 characters or fewer"):
        HandwritingDataModule(n_train=4, n_val=2, max_chars=16, alphabet="xyz").setup("fit")


def test_no_synthetic_lines_is_refused_by_name():
    """--data.n_val 0 was refused with the advice to raise --data.max_points."""
    for n_train, n_val in [(8, 0), (0, 8)]:
        with pytest.raises(DataError, match=f"--data.n_train {n_train}, --data.n_val {n_val}: "):
            HandwritingDataModule(n_train=n_train, n_val=n_val)


def test_iamondb_source_gives_batches(archive, tmp_path, monkeypatch):
    monkeypatch.setenv("MAL2_DATA", str(tmp_path / "cache"))
    dm = HandwritingDataModule(source="iamondb", path=str(archive), val_fraction=0.5,
                               batch_size=2, max_points=10000)  # fmt: skip
    dm.setup("fit")
    assert len(dm.train_set) + len(dm.val_set) == 3
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape[-1] == 3 and torch.isfinite(batch["x"]).all()


def test_bucket_sampler_takes_the_epoch_lightning_sets_even_on_an_iterator_made_before():
    """On resume Lightning makes the loader's iterator first and then calls `set_epoch` on the
    batch sampler's `.sampler`: the resumed epoch must shuffle as the uninterrupted one did."""
    from lightning.fabric.utilities.data import _set_sampler_epoch
    from torch.utils.data import DataLoader

    from common.batching import BucketSampler

    lengths = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7]
    uninterrupted = BucketSampler(lengths, 3, shuffle=True, seed=7)
    first, second = list(uninterrupted), list(uninterrupted)
    assert first != second  # each epoch has its own shuffle

    loader = DataLoader(lengths, batch_sampler=BucketSampler(lengths, 3, shuffle=True, seed=7))
    batches = iter(loader)  # made before the epoch is known, as a resumed fit loop does
    _set_sampler_epoch(loader, 1)
    assert [b.tolist() for b in batches] == [[lengths[i] for i in b] for b in second]
