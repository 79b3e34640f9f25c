"""Speech Commands layout (official split lists, background noise, 12-class mapping) and
user folders, on a fake data set written by the test."""

import numpy as np
import pytest
import soundfile as sf
import torch

from speech.data import DataError, KeywordDataModule, scan_folder, target_of, which_set


def write_fake_speech_commands(root, rate=16000):
    rng = np.random.default_rng(0)
    names = {}
    for word in ("yes", "no", "cat"):
        for speaker in ("aaaa1111", "bbbb2222", "cccc3333", "dddd4444"):
            path = root / word / f"{speaker}_nohash_0.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, 0.1 * rng.standard_normal(rate * 3 // 4), rate)  # 0.75 s clips
            names.setdefault(speaker, []).append(f"{word}/{path.name}")
    (root / "validation_list.txt").write_text("\n".join(names["aaaa1111"]))
    (root / "testing_list.txt").write_text("\n".join(names["bbbb2222"]))
    noise = root / "_background_noise_" / "pink.wav"
    noise.parent.mkdir()
    sf.write(noise, 0.05 * rng.standard_normal(rate * 3), rate)


def test_speech_commands_official_splits_unknown_and_silence(tmp_path):
    write_fake_speech_commands(tmp_path)
    dm = KeywordDataModule(
        source="speechcommands", root=str(tmp_path), labels="12", silence_fraction=0.5, batch_size=4
    )
    dm.setup("fit")
    sizes = {s: len(d) for s, d in dm.splits.items()}
    # 3 words x (2 train speakers | 1 val | 1 test), plus 50 % silence clips per split
    assert sizes == {"train": 6 + 3, "val": 3 + 1, "test": 3 + 1}
    train = dm.splits["train"]
    unknown, silence = dm.names.index("_unknown_"), dm.names.index("_silence_")
    assert train.targets.count(unknown) == 2 and train.targets.count(silence) == 3
    assert train.noise is not None and train.noise.shape == (3, 16000)  # 3 s of noise, cut
    wav, target = train[len(train) - 1]  # a _silence_ clip: background noise only
    assert wav.shape == (16000,) and target == silence and wav.abs().max() > 0
    wav, _ = dm.splits["val"][0]
    assert wav.shape == (16000,)  # 0.75 s clips are padded to one second
    batch = next(iter(dm.train_dataloader()))
    assert batch[0].shape == (4, 16000)


def test_missing_speech_commands_explains_the_download_option(tmp_path):
    dm = KeywordDataModule(source="speechcommands", root=str(tmp_path / "nothing"))
    with pytest.raises(DataError, match="--data.download true"):
        dm.setup("fit")
    with pytest.raises(DataError, match="data.source"):
        KeywordDataModule(source="youtube")


@pytest.mark.parametrize("source", ["espeak", "speechcommands"])
def test_a_word_the_data_set_does_not_have_is_refused(source, tmp_path):
    """--data.labels yes,no,hello trained a 'hello' class without a single clip, silently."""
    with pytest.raises(DataError, match=f"the {source} set has no clips of hello, hi;"):
        KeywordDataModule(source=source, labels="yes,no,hello,hi")
    KeywordDataModule(source=source, labels="yes,no,_unknown_")  # the 35 words and the two extras
    KeywordDataModule(source="folder", root=str(tmp_path), labels="yes,hello")  # any folder name


def test_an_empty_espeak_split_is_refused():
    """--data.val_per_word 0 (or test_per_word 0) crashed with an IndexError in setup."""
    with pytest.raises(DataError, match="--data.val_per_word 0: every split"):
        KeywordDataModule(val_per_word=0)
    with pytest.raises(DataError, match="--data.train_per_word 0, --data.test_per_word 0: every"):
        KeywordDataModule(train_per_word=0, test_per_word=0)


def test_the_silence_class_gets_a_clip_in_every_split(monkeypatch):
    """--data.silence_fraction 0 with a _silence_ class crashed (an FFT of no noise clips): now
    refused; a share that rounds to no clip in a small split gives it one."""
    with pytest.raises(DataError, match="silence_fraction 0.0 leaves the _silence_ class"):
        KeywordDataModule(labels="12", silence_fraction=0.0)
    fake = {"clips": np.zeros((6, 16000), np.int16), "word": ["yes", "no"] * 3,
            "split": ["train"] * 2 + ["val"] * 2 + ["test"] * 2}  # fmt: skip
    fake |= {k: ["x"] * 6 for k in ("accent", "variant", "gender")}
    monkeypatch.setattr("speech.data.load_or_generate", lambda *args: fake)
    dm = KeywordDataModule(labels="yes,no,_silence_", silence_fraction=0.1)  # 0.1 x 2 clips
    dm.setup("fit")
    assert [dm.splits[s].targets.tolist() for s in ("train", "val", "test")] == [[0, 1, 2]] * 3


def test_user_folder_split_by_speaker_and_unknown_labels(tmp_path):
    write_fake_speech_commands(tmp_path)
    known, unknown = scan_folder(tmp_path, ["yes", "no"])
    assert set(known) == {"yes", "no"} and unknown == {"cat": 4}
    assert target_of("cat", ["yes", "no"]) is None
    assert target_of("cat", ["yes", "_unknown_"]) == 1
    # the same speaker always lands in the same split, whatever the word or take
    assert which_set("yes/abcd_nohash_0.wav") == which_set("no/abcd_nohash_3.wav")
    splits = {which_set(f"{i:08x}_nohash_0.wav") for i in range(200)}
    assert splits == {"train", "val", "test"}
    with pytest.raises(DataError, match="no audio"):
        scan_folder(tmp_path, ["tree", "wow"])
    with pytest.raises(DataError, match="missing: no such folder"):
        scan_folder(tmp_path / "missing", ["yes"])
    with pytest.raises(DataError, match="validation_list.txt: a file, not a folder"):
        scan_folder(tmp_path / "validation_list.txt", ["yes"])


def test_labels_without_recordings_are_named(tmp_path, capsys):
    """A folder (here Speech Commands) without recordings of a --data.labels word trained its
    class on nothing, without a word: the data module names those words (and trains on)."""
    write_fake_speech_commands(tmp_path)
    dm = KeywordDataModule(
        source="speechcommands", root=str(tmp_path), labels="yes,no,up,_unknown_"
    )
    dm.setup("fit")
    out = capsys.readouterr().out
    assert f"speech: no recordings of up under {tmp_path}: their classes get no clip" in out
    KeywordDataModule(
        source="speechcommands", root=str(tmp_path), labels="yes,no,_unknown_"
    ).setup()
    assert "no recordings" not in capsys.readouterr().out  # cat's clips are _unknown_'s


def test_background_noise_is_mixed_in_at_noise_prob_and_between_5_and_30_db():
    from speech.data import ClipDataset

    clips = (8000 * torch.sin(torch.arange(16000) * 0.05)).to(torch.int16)[None]  # (1, 16000)
    noise = torch.randint(-3000, 3000, (2, 16000), dtype=torch.int16)
    clean = clips[0].float() / 32768.0
    torch.manual_seed(0)
    always = ClipDataset(clips, torch.tensor([0]), noise=noise, noise_prob=1.0)
    for _ in range(10):
        added = always[0][0] - clean
        snr = 10 * torch.log10(clean.pow(2).sum() / added.pow(2).sum())
        assert 5 - 1e-3 <= snr <= 30 + 1e-3
    never = ClipDataset(clips, torch.tensor([0]), noise=noise, noise_prob=0.0)
    assert all(torch.equal(never[0][0], clean) for _ in range(10))


def test_training_time_shift_moves_the_clip():
    from speech.data import ClipDataset

    clips = torch.zeros(1, 16000, dtype=torch.int16)
    clips[0, 8000] = 10000
    data = ClipDataset(clips, torch.tensor([0]), shift=1600)
    torch.manual_seed(0)
    positions = {int(data[0][0].abs().argmax()) for _ in range(20)}
    assert len(positions) > 5 and all(6400 <= p <= 9600 for p in positions)


def write_clicks(root, rate=16000):
    """Speech Commands laid out with a click at 0.5 s in every 1 s clip (one speaker per split)."""
    click = np.zeros(rate)
    click[rate // 2] = 0.5
    for word in ("yes", "no"):
        for speaker in ("aaaa1111", "bbbb2222", "cccc3333"):
            path = root / word / f"{speaker}_nohash_0.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, click, rate)
    (root / "validation_list.txt").write_text("yes/aaaa1111_nohash_0.wav\nno/aaaa1111_nohash_0.wav")
    (root / "testing_list.txt").write_text("yes/bbbb2222_nohash_0.wav\nno/bbbb2222_nohash_0.wav")


@pytest.mark.parametrize("source", ["espeak", "speechcommands"])
def test_time_shift_ms_shifts_training_clips_by_at_most_that_many_ms(source, tmp_path, monkeypatch):
    if source == "espeak":  # the embedded set's cache, faked: clips with a click at 0.5 s
        clips = np.zeros((6, 16000), np.int16)
        clips[:, 8000] = 16000
        fake = {
            "clips": clips,
            "word": ["yes", "no"] * 3,
            "split": ["train"] * 2 + ["val"] * 2 + ["test"] * 2,
        }
        fake |= {k: ["x"] * 6 for k in ("accent", "variant", "gender")}
        monkeypatch.setattr("speech.data.load_or_generate", lambda *args: fake)
    else:
        write_clicks(tmp_path)
    torch.manual_seed(0)
    where = {}
    for ms in (0.0, 50.0):
        dm = KeywordDataModule(source=source, root=str(tmp_path), labels="yes,no", time_shift_ms=ms)
        dm.setup("fit")
        for split in ("train", "val"):
            data = dm.splits[split]
            where[split, ms] = {int(data[i][0].abs().argmax()) for i in range(2) for _ in range(20)}
    assert where["train", 0.0] == where["val", 0.0] == where["val", 50.0] == {8000}  # unshifted
    shifted = where["train", 50.0]  # 50 ms = 800 samples either way
    assert len(shifted) > 10 and min(shifted) >= 7200 and max(shifted) <= 8800
    assert min(shifted) < 7600 and max(shifted) > 8400
