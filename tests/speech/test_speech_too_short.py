"""A recording shorter than 0.1 s (issue 17: a 1 ms WAV was classified with no warning) is
named as too short by every entry point that takes recordings: the demo, evaluate, the app."""

import json

import numpy as np
import soundfile as sf
import torch

from speech import demo, evaluate

from .conftest import speak_to


def click(path, seconds=0.001):
    """A loud click: 1 ms by default, nothing a word fits into."""
    sf.write(path, np.full(int(seconds * 16000), 0.3, dtype=np.float32), 16000)
    return path


def test_a_1_ms_recording_is_called_too_short_not_classified(trained, tmp_path, capsys):
    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    clicks = [click(tmp_path / "click.wav"), click(tmp_path / "short.wav", 0.099)]
    assert demo.main([*map(str, clicks), "--ckpt", str(ckpt), "--no-figure"]) == 0
    out = capsys.readouterr().out
    assert "too short (0.001 s)" in out and "too short (0.099 s)" in out
    assert "top 5" not in out  # neither was given a word

    folder = tmp_path / "mine"
    (folder / "yes").mkdir(parents=True)
    click(folder / "yes" / "click.wav")
    speak_to(folder / "yes" / "said.wav", "yes", "en-us+m3")
    evaluate.main(["--ckpt", str(ckpt), "--data-dir", str(folder), "--out", str(tmp_path)])
    captured = capsys.readouterr()
    report = json.loads(captured.out)["metrics"]
    assert report["n"] == 1  # the spoken word only
    assert report["unreadable_files"] == {
        str(folder / "yes" / "click.wav"): "too short (0.001 s): a word needs at least 0.1 s; "
        "record it again"
    }
    assert "not scored" in captured.err and "click.wav" in captured.err


def test_the_app_says_too_short_instead_of_a_word(trained):
    from common.app import _classify_wav
    from common.checkpoints import load_module
    from speech.module import KeywordModule

    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    module = load_module(ckpt, KeywordModule, "speech")
    status, top5, figure, _ = _classify_wav(torch.full((16,), 0.3), module, "click.wav")
    assert status.startswith("**Too short:** too short (0.001 s)")
    assert top5 == {} and figure is None
