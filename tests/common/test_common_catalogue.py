"""The careless and malicious cases of issue 17, as tests: each ends in a clear message (exit
code 2 from argparse or an "error: ..." SystemExit), never a traceback, a hang, a silent wrong
result, a lost file, or code run from an untrusted file."""

import importlib
import io
import os
import pickle
import signal

import pytest
import torch

from tests.common.conftest import run_tiny


def _exits_with(main, argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    text = str(stop.value.code) + capsys.readouterr().err
    assert stop.value.code not in (0, None)
    assert message in text, text


@pytest.mark.parametrize(
    "demo, argv, message",
    [
        ("handwriting.write", ["hi", "--bias", "nan"], "give a finite number"),
        ("handwriting.write", ["hi", "--bias", "-5"], "give a value from 0 to 10"),
        ("handwriting.write", ["hi", "--bias", "1e9"], "give a value from 0 to 10"),
        ("handwriting.write", ["hi", "-o", "/proc/nope/x.png"], "cannot create the output folder"),
        ("handwriting.write", ["   "], "no text to write"),
        ("handwriting.write", ["hi", "--style", "xx"], "unknown style 'xx'"),
        ("speech.demo", ["x.wav", "--threshold", "nan"], "give a finite number"),
        ("speech.demo", ["x.wav", "--threshold", "2"], "give a value from 0 to 1"),
        ("speech.demo", ["x.wav", "--top", "-3"], "give a value from 1 to 1000"),
        ("speech.demo", ["--speak", "   "], "the text is empty"),
        ("speech.demo", ["--speak", "yes", "--voice", "xx"], "no voice 'xx'; see --list-voices"),
        ("speech.demo", ["x.wav", "--out", "/proc/nope"], "cannot create the output folder"),
        ("music.compose", ["--temperature", "nan"], "--temperature must be positive"),
        ("music.compose", ["--temperature", "-1"], "--temperature must be positive"),
        ("music.compose", ["--tempo", "inf"], "--tempo must be positive"),
        ("music.compose", ["--bars", "100000"], "--bars must be 1 to"),
        ("music.compose", ["--bars", "0"], "--bars must be 1 to"),
    ],
)
def test_demo_values(demo, argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MAL2_RUNS", str(tmp_path))
    _exits_with(importlib.import_module(demo).main, argv, message, capsys)


def test_speech_lists_its_voices(capsys):
    from speech.demo import main

    assert main(["--list-voices"]) == 0
    out = capsys.readouterr().out
    assert "en-gb-scotland" in out and "variants:" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model.lr", "-1"], "give a learning rate of 0 or more"),
        (["--model.lr", "-0.5"], "give a learning rate of 0 or more"),
        (["--trainer.max_epochs", "0"], "give 1 or more epochs"),
        (["--run.name", "../x"], "plain folder name"),
    ],
)
def test_training_values(argv, message, runs, capsys):
    from tests.common.tiny import main

    _exits_with(main, argv, message, capsys)
    assert not (runs / "x").exists()


def test_music_compose_to_a_read_only_place(capsys):
    from music.compose import main

    _exits_with(main, ["-o", "/proc/nope/x.mid"], "cannot create the output folder", capsys)


def test_blackjack_play_bad_auto(capsys):
    from blackjack.play import main

    _exits_with(lambda a: main(a, out=io.StringIO()), ["--auto", "-1"], "--auto needs", capsys)


class _Payload:
    """Unpickling this would run code: it would create the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_runs_no_code_anywhere(runs, tmp_path, capsys):
    from common.checkpoints import CheckpointError, load_checkpoint
    from tests.common.tiny import main

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "mal2": {"assignment": "tiny"}, "x": _Payload(marker)}, evil)
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        load_checkpoint(evil, "tiny")
    with pytest.raises(SystemExit, match="cannot be loaded safely"):
        main(["--run.resume", str(evil), "--trainer.max_epochs", "1"])
    from blackjack.play import main as play

    with pytest.raises(SystemExit, match="cannot be loaded safely"):
        play(["--ckpt", str(evil), "--auto", "1"], out=io.StringIO())
    assert not marker.exists()


def test_malicious_jsb_pickle_runs_no_code(tmp_path):
    from music import data

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pickle"
    evil.write_bytes(pickle.dumps({"train": [_Payload(marker)]}))
    loader = getattr(data, "load_jsb", None) or getattr(data, "load_jsb_pickle", None)
    assert loader is not None, "music.data has no JSB loader"
    with pytest.raises(Exception):  # noqa: B017 (any refusal; the point is the marker)
        loader(evil)
    assert not marker.exists()


def test_malicious_handwriting_cache_runs_no_code(tmp_path, monkeypatch, capsys):
    from common.cache import write_stamp
    from handwriting import data

    monkeypatch.setattr(data, "data_dir", lambda: tmp_path)
    data.load_or_generate_hershey(6, 2, 20, 0)
    (path,) = tmp_path.glob("hershey-*.pt")
    marker = tmp_path / "pwned"
    torch.save({"train": _Payload(marker)}, path)
    write_stamp(path)  # even with a matching stamp, the file loads with weights_only=True
    again = data.load_or_generate_hershey(6, 2, 20, 0)  # refused, named, generated again
    assert "cannot be loaded safely" in capsys.readouterr().out
    assert len(again["train"]["texts"]) == 6
    assert not marker.exists()


def test_ctrl_c_before_the_first_checkpoint_gives_no_resume_hint(runs):
    stopped = run_tiny("--trainer.max_epochs", "2", "--model.interrupt_at_step", "1")
    assert stopped.returncode == 130
    assert "no checkpoint to resume" in stopped.stderr and "--run.resume" not in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert signal.SIGINT  # a real SIGINT (tiny sends it to itself)


def test_printed_metrics_are_short_and_strict_json():
    import json

    from common.demo import json_text

    text = json_text({"acc": 0.9723809523809523, "nll": float("nan"), "n": [1, float("inf")]})
    assert json.loads(text) == {"acc": 0.9723810, "nll": None, "n": [1, None]}
    assert "NaN" not in text and "Infinity" not in text


def test_speech_folder_scan_finds_nested_files_and_refuses_all_unreadable(tmp_path):
    import numpy as np
    import soundfile as sf

    from speech.data import scan_folder
    from speech.evaluate import DataError, folder_dataset

    (tmp_path / "yes" / "session1").mkdir(parents=True)
    sf.write(tmp_path / "yes" / "session1" / "a.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "no").mkdir()
    (tmp_path / "no" / "b.wav").write_bytes(b"not audio")
    known, _ = scan_folder(tmp_path, ["yes", "no"])
    assert [p.name for p in known["yes"]] == ["a.wav"]  # nested: found, not ignored
    (tmp_path / "yes" / "session1" / "a.wav").write_bytes(b"RIFF broken")
    with pytest.raises(DataError, match="none of the 2 audio files can be classified"):
        folder_dataset(tmp_path, ["yes", "no"])
