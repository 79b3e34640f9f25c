"""Data: the restricted unpickler, the JSB loader, MIDI folders, splits and augmentation."""

import os
import pickle

import numpy as np
import pretty_midi
import pytest
import torch

from music import data, midi
from tests.music.conftest import assert_refuses_missing_and_unreadable


def jsb_like(n_train=6, n_valid=2, n_test=2, seed=0):
    """The structure of the real file: dict of lists of pieces of tuples of MIDI pitches."""
    rng = np.random.default_rng(seed)

    def piece():
        root = int(rng.integers(48, 60))
        triad = [root, root + 16, root + 19]  # root, tenth and twelfth above
        return [
            tuple(p for p in triad if rng.random() > 0.1) for _ in range(int(rng.integers(12, 20)))
        ]

    return {
        "train": [piece() for _ in range(n_train)],
        "valid": [piece() for _ in range(n_valid)],
        "test": [piece() for _ in range(n_test)],
    }


def write_pickle(path, obj, protocol=2):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def test_jsb_loader_reads_the_benchmark_structure(tmp_path):
    raw = jsb_like()
    raw["train"][0][3] = ()  # a silent step, as in the real file
    raw["train"][1][0] = (60.0, 64.0)  # some copies store pitches as floats
    rolls = data.load_jsb(write_pickle(tmp_path / "jsb.pickle", raw))
    assert {k: len(v) for k, v in rolls.items()} == {"train": 6, "valid": 2, "test": 2}
    first = rolls["train"][0]
    assert first.shape == (len(raw["train"][0]), 88) and not first[3].any()
    for t, chord in enumerate(raw["test"][1]):
        assert set(np.flatnonzero(rolls["test"][1][t]) + midi.LOW) == set(chord)
    assert set(np.flatnonzero(rolls["train"][1][0]) + midi.LOW) == {60, 64}


def test_jsb_loader_reads_a_file_without_its_test_split(tmp_path):
    three = jsb_like()
    two = {k: v for k, v in three.items() if k != "test"}  # as ../shared/jsb holds it
    with pytest.warns(UserWarning, match="no 'test' split"):
        rolls = data.load_jsb(write_pickle(tmp_path / "two.pickle", two))
    assert set(rolls) == {"train", "valid"}
    full = data.load_jsb(write_pickle(tmp_path / "three.pickle", three))
    assert set(full) == {"train", "valid", "test"}  # the original file reads as before
    for split in ("train", "valid"):
        assert all(np.array_equal(a, b) for a, b in zip(rolls[split], full[split]))
    dm = data.MusicDataModule(source="jsb", path=str(tmp_path / "two.pickle"), batch_size=4)
    with pytest.warns(UserWarning, match="no 'test' split"):
        dm.setup("fit")
    assert len(dm.val_set) == 2 and len(dm.test_set) == 0


class Payload:
    """Unpickling this runs `os.system(...)`: the classic malicious pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_restricted_unpickler_refuses_a_malicious_pickle(tmp_path, protocol):
    marker = tmp_path / "pwned"
    raw = jsb_like()
    raw["train"].append(Payload(marker))
    path = write_pickle(tmp_path / "evil.pickle", raw, protocol)
    assert not marker.exists()
    with pytest.raises(data.DataError, match=r"refusing to load .*(system|posix)"):
        data.load_jsb(path)
    assert not marker.exists()  # the payload never ran
    # the same file through plain pickle does run it: the test guards a real hole
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_restricted_unpickler_refuses_numpy_arrays(tmp_path):
    path = write_pickle(tmp_path / "np.pickle", {"train": [np.zeros((3, 4))]})
    with pytest.raises(data.DataError, match="numpy"):
        data.load_jsb(path)


@pytest.mark.parametrize(
    "obj, message",
    [
        ([1, 2, 3], "dict with keys train, valid and"),
        ({"train": [[(60,)]], "test": [[(60,)]]}, "dict with keys train, valid and"),
        ({"train": [], "valid": [], "test": []}, "non-empty list"),
        ({"train": [[(60, "C")]], "valid": [[(60,)]], "test": [[(60,)]]}, "train piece 0"),
        ({"train": [[(60,)]], "valid": [[(200,)]], "test": [[(60,)]]}, "valid piece 0"),
        ({"train": [[60, 64]], "valid": [[(60,)]], "test": [[(60,)]]}, "train piece 0"),
    ],
)
def test_jsb_loader_rejects_wrong_structures(tmp_path, obj, message):
    with pytest.raises(data.DataError, match=message):
        data.load_jsb(write_pickle(tmp_path / "bad.pickle", obj))


def test_jsb_loader_file_errors(tmp_path):
    (tmp_path / "junk.pickle").write_bytes(b"\x00\x01garbage")
    unreadable = "not a readable pickle|refusing"
    assert_refuses_missing_and_unreadable(
        data.load_jsb, data.DataError, tmp_path / "junk.pickle", unreadable
    )


def write_midi(path, pitches, drums=False, start=0.0):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=0, is_drum=drums)
    for i, p in enumerate(pitches):
        t = start + i * 0.5
        inst.notes.append(pretty_midi.Note(velocity=80, pitch=p, start=t, end=t + 0.5))
    pm.instruments.append(inst)
    pm.write(str(path))


def test_midi_folder_skips_bad_files_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("MAL2_DATA", str(tmp_path / "cache"))
    folder = tmp_path / "midi"
    (folder / "sub").mkdir(parents=True)
    write_midi(folder / "a.mid", [60, 62, 64, 65])
    write_midi(folder / "sub" / "b.MIDI", [48, 52, 55])
    write_midi(folder / "drums.mid", [36, 38], drums=True)
    (folder / "broken.mid").write_bytes(b"not a midi file")
    pretty_midi.PrettyMIDI().write(str(folder / "empty.mid"))
    (folder / "notes.txt").write_text("ignored")
    with pytest.warns(UserWarning, match=r"skipped 3 of 5") as record:
        names, notes = data.load_midi_folder(folder)
    text = str(record[0].message)
    assert "broken.mid" in text and "empty.mid" in text and "drums.mid" in text
    assert names == ["a.mid", "sub/b.MIDI"]
    roll = midi.notes_to_roll(notes[0])
    assert [int(np.flatnonzero(r)[0]) + midi.LOW for r in roll] == [60, 62, 64, 65]
    again = data.load_midi_folder(folder)  # served from the cache now, same content
    assert again[0] == names and all(np.array_equal(a, b) for a, b in zip(again[1], notes))
    (tmp_path / "no_midi").mkdir()
    with pytest.raises(data.DataError, match="no .mid"):
        data.load_midi_folder(tmp_path / "no_midi")
    with pytest.raises(data.DataError, match="does not exist"):
        data.load_midi_folder(tmp_path / "missing")


@pytest.mark.parametrize("keep", [0, 40, 0.5])  # bytes (an empty file), or a fraction
def test_a_damaged_note_cache_is_named_and_parsed_again(tmp_path, monkeypatch, capsys, keep):
    """A truncated .npz raised zipfile.BadZipFile (a traceback in every music command that read
    the chorales) instead of being parsed again."""
    monkeypatch.setenv("MAL2_DATA", str(tmp_path / "cache"))
    (tmp_path / "midi").mkdir()
    write_midi(tmp_path / "midi" / "a.mid", [60, 62, 64])
    first = data.load_midi_folder(tmp_path / "midi")
    (cache,) = (tmp_path / "cache" / "music").glob("midi_*.npz")
    size = cache.stat().st_size
    cache.write_bytes(cache.read_bytes()[: int(keep * size) if keep < 1 else keep])
    again = data.load_midi_folder(tmp_path / "midi")
    assert f"the cache {cache} is damaged" in capsys.readouterr().out
    assert again[0] == first[0] and np.array_equal(again[1][0], first[1][0])
    assert cache.stat().st_size == size  # written whole again


def test_a_damaged_chorale_cache_is_replaced_by_a_quick_runs_parse(tmp_path, monkeypatch, capsys):
    """Only the whole corpus was cached: after damage, every quick run (the first 60 chorales)
    named the damaged cache and parsed its chorales again, and the cache stayed damaged."""
    monkeypatch.setenv("MAL2_DATA", str(tmp_path))
    cache = tmp_path / "music" / f"chorales_v{data.CACHE_VERSION}.npz"
    cache.parent.mkdir()
    cache.write_bytes(b"PK\x03\x04 cut short")
    parse, parsed = data.parse_chorale, []
    monkeypatch.setattr(data, "parse_chorale", lambda path: parsed.append(path.stem) or parse(path))
    first = data.load_chorales(max_pieces=3)
    assert f"the cache {cache} is damaged" in capsys.readouterr().out and len(parsed) == 3
    again = data.load_chorales(max_pieces=3)
    assert "damaged" not in capsys.readouterr().out and len(parsed) == 3  # served by the cache
    assert again[0] == first[0] and all(np.array_equal(a, b) for a, b in zip(again[1], first[1]))
    more = data.load_chorales(max_pieces=5)  # a run that wants more parses only the rest
    assert parsed[3:] == more[0][3:] and more[0] == [p.stem for p in data.chorale_paths()[:5]]
    assert data.load_chorales(max_pieces=4)[0] == more[0][:4] and len(parsed) == 5


def test_split_by_piece_is_a_fixed_partition():
    split = data.split_by_piece(50, 0.1, 0.2, seed=3)
    everything = split["train"] + split["valid"] + split["test"]
    assert sorted(everything) == list(range(50))
    assert (len(split["valid"]), len(split["test"])) == (5, 10)
    assert split == data.split_by_piece(50, 0.1, 0.2, seed=3)
    assert split != data.split_by_piece(50, 0.1, 0.2, seed=4)
    with pytest.raises(data.DataError, match="at least 3 pieces"):
        data.split_by_piece(2, 0.1, 0.1, 0)
    assert [len(v) for v in data.split_by_piece(10, 0.0, 0.0, 0).values()] == [1, 1, 8]
    # shares below 1 in sum whose rounding (one piece at least each) leaves no training piece
    with pytest.raises(data.DataError, match="4 pieces leave none to train on after 2 for"):
        data.split_by_piece(4, 0.45, 0.45, 0)


def test_split_seed_and_max_pieces_choose_the_pieces_of_each_split(tmp_path, monkeypatch):
    """--data.split_seed picks which pieces of a MIDI folder are held out; --data.max_pieces
    keeps the first pieces of the folder, or of each JSB split."""
    monkeypatch.setenv("MAL2_DATA", str(tmp_path / "cache"))
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(10):  # piece i begins on pitch 50 + i
        write_midi(folder / f"p{i:02d}.mid", [50 + i, 70, 72])

    def first_pitches(**options):
        dm = data.MusicDataModule(source="midi", path=str(folder), test_fraction=0.2, **options)
        rolls = dm.load()
        return {k: sorted(int(np.flatnonzero(r[0])[0]) + midi.LOW - 50 for r in v)
                for k, v in rolls.items()}  # fmt: skip

    for seed in (0, 1):
        split = data.split_by_piece(10, 0.1, 0.2, seed)
        assert first_pitches(split_seed=seed) == {k: sorted(v) for k, v in split.items()}
    assert first_pitches(split_seed=0) != first_pitches(split_seed=1)
    kept = first_pitches(max_pieces=6)
    assert sorted(sum(kept.values(), [])) == list(range(6))
    path = write_pickle(tmp_path / "jsb.pickle", jsb_like(n_train=6, n_valid=3, n_test=3))
    full = data.MusicDataModule(source="jsb", path=str(path)).load()
    cut = data.MusicDataModule(source="jsb", path=str(path), max_pieces=2).load()
    for k in ("train", "valid", "test"):
        assert len(cut[k]) == 2 and all(np.array_equal(a, b) for a, b in zip(cut[k], full[k]))


def test_training_crops_stay_on_the_keyboard_and_are_transposed():
    roll = np.zeros((300, 88), bool)
    roll[:, 2] = roll[:, 80] = True  # room: 2 keys down, 7 up
    dataset = data.PianoRollDataset([roll], seq_len=64, transpose=5)
    torch.manual_seed(0)
    shifts = set()
    for _ in range(60):
        x = dataset[0]
        assert x.shape == (64, 88) and x.sum() == 128
        keys = torch.nonzero(x[0]).flatten().tolist()
        assert keys[1] - keys[0] == 78  # the interval is kept
        shifts.add(keys[0] - 2)
    assert shifts == set(range(-2, 6))


def test_training_batches_group_pieces_of_similar_length():
    """Pools of TRAIN_POOL batches sorted by length: little padding, every piece once per
    epoch, new batches every epoch, the same ones for the same seed."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(20, 130, (229,), generator=g).tolist()
    dataset = data.PianoRollDataset([np.zeros((n, 88), bool) for n in lengths], 128, 0)

    def two_epochs(seed):
        torch.manual_seed(seed)  # --seed_everything
        sampler = data.MusicDataModule(batch_size=16)._loader(dataset, True).batch_sampler
        return [[sorted(b) for b in sampler] for _ in range(2)]

    first, second = two_epochs(0)
    for epoch in (first, second):
        assert sorted(i for b in epoch for i in b) == list(range(229))
        padded = sum(16 * max(lengths[i] for i in b) for b in epoch)
        assert padded < 1.2 * sum(lengths)  # random batches of 16: about 1.7 times
    assert sorted(first) != sorted(second)  # new batches every epoch
    assert two_epochs(0) == [first, second] and two_epochs(1) != [first, second]


def test_datamodule_on_a_jsb_pickle(tmp_path):
    path = write_pickle(tmp_path / "jsb.pickle", jsb_like())
    dm = data.MusicDataModule(source="jsb", path=str(path), batch_size=4, eval_len=8)
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert sorted(len(x) for x, _ in batches) == [2, 4]  # 6 training pieces, every one once
    for x, mask in batches:
        assert x.shape[2] == 88 and mask.shape == x.shape[:2]
        assert mask[:, 0].all() and ((x.sum(-1) > 0) <= mask).all()
    windows = [len(w) for w in dm.val_set.windows]
    assert max(windows) <= 8 and sum(windows) == sum(len(r) for r in dm.rolls["valid"])
    with pytest.raises(data.DataError, match="unknown data source"):
        data.MusicDataModule(source="mp3")
    with pytest.raises(data.DataError, match="needs --data.path"):
        data.MusicDataModule(source="midi")
    with pytest.raises(data.DataError, match="quarter-note grid"):
        data.MusicDataModule(source="jsb", path=str(path), steps_per_quarter=2).load()


def test_a_chorale_parses_into_four_voices():
    path = next(p for p in data.chorale_paths() if p.name == "bwv10.7.mxl")
    notes = data.parse_chorale(path)
    roll = midi.notes_to_roll(notes, steps_per_quarter=1)
    assert len(roll) == 88  # 88 quarter notes long
    assert 3 <= roll.sum(1).mean() <= 4.5 and roll.sum(1).max() <= 6
    assert notes[:, 0].min() >= 36 and notes[:, 0].max() <= 84  # bass to soprano
