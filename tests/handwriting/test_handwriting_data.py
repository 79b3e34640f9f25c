"""The data module: deterministic embedded data, unseen validation text, IAM-OnDB batches."""

import torch

from handwriting.data import HandwritingDataModule, generate_hershey
from handwriting.text import load_corpus, split_sentences


def test_embedded_data_is_deterministic_and_validation_text_is_unseen():
    a = generate_hershey(n_train=20, n_val=10, max_chars=16, seed=7)
    b = generate_hershey(n_train=20, n_val=10, max_chars=16, seed=7)
    assert a["train"]["texts"] == b["train"]["texts"]
    assert all(torch.equal(x, y) for x, y in zip(a["train"]["offsets"], b["train"]["offsets"]))
    assert set(a["train"]["writers"]) == {"ada", "ben", "cleo", "dora", "emil"}
    assert all(len(t) <= 16 for t in a["train"]["texts"])
    # every validation line is running text of the held-out sentences (a line may go on into
    # the next one), not of the training sentences
    held_out = " ".join(a["val_sentences"] * 2)
    assert not set(a["val_sentences"]) & set(split_sentences(load_corpus(), 7, 0.15)[0])
    for text in a["val"]["texts"]:
        assert text in held_out
    # lines run on across sentences, so capitals also appear mid-line
    lines = generate_hershey(n_train=200, n_val=10, max_chars=32, seed=7)["train"]["texts"]
    assert any(". " in t and t[t.index(". ") + 2 : t.index(". ") + 3].isupper() for t in lines)


def test_batches_are_padded_scaled_and_bucketed(tmp_path, monkeypatch):
    monkeypatch.setenv("MAL2_DATA", str(tmp_path))
    dm = HandwritingDataModule(n_train=60, n_val=10, max_chars=16, batch_size=8)
    dm.setup("fit")
    assert list(tmp_path.glob("handwriting/hershey-v*.pt"))  # cached with its version stamp
    dm2 = HandwritingDataModule(n_train=60, n_val=10, max_chars=16, batch_size=8)
    dm2.setup("fit")  # read back from the cache: same scale
    assert dm2.scale == dm.scale
    offsets = torch.cat([x[1:, :2] for x, _, _ in dm.train_set])
    assert torch.allclose(offsets.std(0), torch.ones(2), atol=0.05)  # unit std (Graves 4.1)
    batches = list(dm.train_dataloader())
    batch = batches[0]
    assert batch["x"].shape[:2] == batch["mask"].shape and batch["chars"].shape[0] == 8
    assert (batch["x"][~batch["mask"]] == 0).all()
    # bucketing: with all 60 lines in one chunk, the batches' length ranges do not interleave
    ranges = sorted((int(b["mask"].sum(1).min()), int(b["mask"].sum(1).max())) for b in batches)
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in zip(ranges, ranges[1:]))


def test_iamondb_source_gives_batches(archive, tmp_path, monkeypatch):
    monkeypatch.setenv("MAL2_DATA", str(tmp_path / "cache"))
    dm = HandwritingDataModule(source="iamondb", path=str(archive), val_fraction=0.5,
                               batch_size=2, max_points=10000)  # fmt: skip
    dm.setup("fit")
    assert len(dm.train_set) + len(dm.val_set) == 3
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape[-1] == 3 and torch.isfinite(batch["x"]).all()
