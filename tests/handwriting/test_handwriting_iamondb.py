"""The IAM-OnDB parser on a tiny archive in the real layout, written by the test."""

import numpy as np
import pytest

from common.errors import DataError
from handwriting import iamondb
from handwriting.strokes import to_absolute


def test_transcription_sections():
    assert iamondb.parse_transcriptions("OCR:\n\nx\n\nCSR:\n\nfirst line\nsecond\n") == [
        "first line",
        "second",
    ]
    assert iamondb.parse_transcriptions("no sections here") == []


def test_parser_matches_lines_and_drops_broken_ones(archive):
    lines, dropped = iamondb.read_archives(archive)
    got = {lid: text for lid, text, _ in lines}
    assert got == {
        "a01-000u-01": "A MOVE to stop",
        "a01-000u-02": "Mr. Gaitskell from",
        "b02-011z-01": "nominating any more",
    }
    assert dropped == {"too few points": 1, "jump too long": 1, "no transcription": 1}
    for _, _, offsets in lines:
        points = to_absolute(offsets)
        assert offsets.dtype == np.float32 and offsets[:, 2].sum() == 2  # two strokes
        assert 0.9 < np.percentile(points[:, 1], 95) - np.percentile(points[:, 1], 5) < 1.1
        assert points[0, 0] == pytest.approx(0.0, abs=1e-6)
        assert points[:, 1].argmax() != points[:, 1].argmin()
    # y is flipped to point up: the second stroke goes from tablet y 900 (high) to 1100 (low)
    second = to_absolute(lines[0][2])[-2:, 1]
    assert second[0] > second[1]


def test_load_or_parse_splits_by_form_and_caches(archive, tmp_path):
    data = iamondb.load_or_parse(archive, tmp_path / "cache", val_fraction=0.5, seed=0)
    train_forms, val_forms = set(data["train"]["writers"]), set(data["val"]["writers"])
    assert train_forms and val_forms and not train_forms & val_forms
    assert len(data["train"]["texts"]) + len(data["val"]["texts"]) == 3
    assert list((tmp_path / "cache").glob("iamondb-v*.pt"))


def test_damaged_iamondb_cache_is_named_and_parsed_again(archive, tmp_path, capsys):
    first = iamondb.load_or_parse(archive, tmp_path, val_fraction=0.5, seed=0)
    (cache,) = tmp_path.glob("iamondb-v*.pt")
    assert not list(tmp_path.glob("*.tmp"))  # written beside, then renamed
    cache.write_bytes(cache.read_bytes()[:100])  # as an interrupted save would leave it
    again = iamondb.load_or_parse(archive, tmp_path, val_fraction=0.5, seed=0)
    out = capsys.readouterr().out
    assert f"IAM-OnDB: the cache is damaged: {cache} has 100 bytes" in out
    assert again["train"]["texts"] == first["train"]["texts"]
    assert again["val"]["writers"] == first["val"]["writers"]
    assert (
        iamondb.load_or_parse(archive, tmp_path, val_fraction=0.5, seed=0)["dropped"]
        == (first["dropped"])
    )
    assert "damaged" not in capsys.readouterr().out  # the rebuilt cache loads as it is


def test_missing_archives_say_what_to_download(tmp_path):
    with pytest.raises(DataError, match="lineStrokes-all.tar.gz"):
        iamondb.read_archives(tmp_path)


def test_training_on_iamondb_like_strokes_stays_finite(archive):
    """A few optimiser steps on parsed IAM-OnDB-style lines (tablet units, long pen jumps
    between words): the loss and every gradient stay finite."""
    import torch

    from handwriting import mdn
    from handwriting.config import ModelConfig
    from handwriting.data import ALPHABET, StrokeDataset, collate, offset_scale
    from handwriting.model import HandwritingRNN

    lines, _ = iamondb.read_archives(archive)
    offsets = [torch.from_numpy(o) for _, _, o in lines]
    data = StrokeDataset(offsets, [t for _, t, _ in lines], ["w"] * len(lines),
                         offset_scale(offsets), ALPHABET)  # fmt: skip
    batch = collate([data[i] for i in range(len(data))])
    torch.manual_seed(0)
    model = HandwritingRNN(ModelConfig(True, 16, 2, n_mixtures=3, n_window=2, kappa_scale=0.1,
                                       alphabet_size=len(ALPHABET), n_styles=0))  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, mask = batch["x"], batch["mask"]
    inputs = torch.cat([torch.tensor([0.0, 0.0, 1.0]).expand(len(x), 1, 3), x[:, :-1]], 1)
    for _ in range(5):
        y, _, _ = model(inputs, batch["chars"])
        loss = (mdn.nll(mdn.split_params(y, 3), x) * mask).sum() / len(x)
        opt.zero_grad()
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())
        opt.step()
