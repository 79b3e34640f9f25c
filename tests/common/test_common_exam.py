"""`portfolio exam` for every assignment, on a quick checkpoint: the warnings appear, outputs
land under runs/, and the printed demo command runs as printed (pasted into a shell)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from common import portfolio, registry

# CI's first pass only: drives demos; nothing here depends on the CPU's bf16
pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parents[2]

# Each assignment's quick profile made tinier still (seconds), through its real train entry point.
TINY = {
    "speech": [
        "--data.labels", "yes,no,up", "--model.width", "8",
        "--data.train_per_word", "8", "--data.val_per_word", "2", "--data.test_per_word", "2",
        "--data.batch_size", "8", "--trainer.max_epochs", "1",
    ],
    "handwriting": [
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3",
        "--data.n_train", "96", "--data.n_val", "16", "--data.max_chars", "8",
        "--model.hidden_size", "16", "--model.n_mixtures", "2", "--model.n_window", "2",
    ],
    "music": [
        "--model.hidden", "16", "--model.layers", "1", "--model.nade_hidden", "8",
        "--data.batch_size", "4", "--trainer.max_epochs", "1", "--model.sample_bars", "2",
    ],
    "blackjack": [
        "--trainer.max_epochs", "1", "--model.batches_per_epoch", "50",
        "--model.warmup_steps", "300", "--model.hidden", "[16]",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", list(TINY))
def test_exam_warns_about_a_quick_checkpoint_and_prints_a_command_that_runs(name, isolated, capsys):
    assignment = registry.get(name)
    extra = []
    if name == "music":
        from tests.music.conftest import jsb_pickle

        extra = ["--data.source", "jsb", "--data.path", str(jsb_pickle(isolated / "jsb.pickle"))]
    assignment.run_train(
        ["--config", str(assignment.quick_config), *TINY[name], *extra]
        + ["--run.name", "quick-tiny", "--trainer.enable_progress_bar", "false"]
    )
    capsys.readouterr()
    here = set(Path.cwd().iterdir())
    assert portfolio.main(["exam", "--assignment", name]) == 0
    out = capsys.readouterr().out
    assert "WARNING: a QUICK checkpoint" in out
    assert "run: quick-tiny (quick profile), epochs: 1" in out
    assert assignment.headline.label in out and "model card" in out
    assert f"{name}/model.py" in out  # the code files to open
    exam_dir = Path(re.search(r"== Outputs: (.+)", out).group(1))
    assert exam_dir.is_relative_to(isolated / "runs") and any(exam_dir.rglob("*.*"))
    assert set(Path.cwd().iterdir()) == here  # nothing written where the exam was started

    command = re.search(r"== Demo \(copy to run it again\): (.+)", out).group(1)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    done = subprocess.run(
        command, shell=True, cwd=isolated, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_examiner_input_replaces_the_prepared_one(tmp_path):
    from handwriting.assignment import exam_demo_args as hand
    from music.assignment import exam_demo_args as music
    from speech.assignment import exam_demo_args as speech

    ckpt = tmp_path / "best.ckpt"
    assert hand(ckpt, tmp_path, text="Mein Text")[-2:] == ["--", "Mein Text"]
    assert speech(ckpt, tmp_path, text="yes no")[0] == "--speak=yes no"
    assert speech(ckpt, tmp_path, wav=tmp_path / "x.wav")[-2:] == ["--", str(tmp_path / "x.wav")]
    args = music(ckpt, tmp_path, prime=tmp_path / "p.mid")
    assert f"--prime={tmp_path / 'p.mid'}" in args
    args = music(ckpt, tmp_path, melody="C D E C")
    assert "--melody=C D E C" in args and not any(a.startswith("--prime") for a in args)


def test_examiner_input_that_starts_with_a_dash_reaches_the_demo_as_input(tmp_path):
    """'-hello world' reached handwriting.write as -h ('ignored explicit argument'), '-yes' left
    speech.demo's --speak without its argument, and so on: each demo now reads it as input."""
    from handwriting.assignment import exam_demo_args as hand
    from handwriting.write import build_parser as hand_parser
    from music.assignment import exam_demo_args as music
    from music.compose import parse_args as music_args
    from speech.assignment import exam_demo_args as speech
    from speech.demo import build_parser as speech_parser

    ckpt = tmp_path / "best.ckpt"
    assert hand_parser().parse_args(hand(ckpt, tmp_path, "-hello world")).text == "-hello world"
    assert speech_parser().parse_args(speech(ckpt, tmp_path, text="-yes")).speak == "-yes"
    args = speech_parser().parse_args(speech(ckpt, tmp_path, wav=Path("-take.wav")))
    assert args.files == [Path("-take.wav")]
    assert music_args(music(ckpt, tmp_path, melody="-C4")).melody == "-C4"


def test_the_exam_asks_for_the_examiners_input_where_none_is_given(tmp_path, monkeypatch):
    import argparse

    from common.errors import UserError

    asked = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = {"melody": " C D E C ", "text": "Mein Text", "hand": "10 6 vs 9"}  # by prompt
    monkeypatch.setattr(
        "builtins.input",
        lambda prompt: asked.append(prompt) or next(v for k, v in answers.items() if k in prompt),
    )
    music = registry.get("music")
    args = argparse.Namespace(text=None, wav=None, prime=None, melody=None, hand=None, listen=None)
    assert portfolio._examiner_inputs(music, args) == {"melody": "C D E C"}
    assert "type a melody for the network to continue" in asked[0]
    prime = tmp_path / "p.mid"
    prime.write_bytes(b"MThd")
    asked.clear()
    args.prime = str(prime)
    assert portfolio._examiner_inputs(music, args) == {"prime": str(prime)} and not asked
    args.melody = "C D"
    with pytest.raises(UserError, match="--prime and --melody both give"):
        portfolio._examiner_inputs(music, args)
    args = argparse.Namespace(text=None, wav=None, prime=None, melody=None, hand=None, listen=None)
    writer = registry.get("handwriting")  # the text is asked for as before
    assert portfolio._examiner_inputs(writer, args) == {"text": "Mein Text"}
    speech = registry.get("speech")  # nothing is asked for with --listen; not with --wav
    args.listen = "5"
    asked.clear()
    assert portfolio._examiner_inputs(speech, args) == {"listen": "5"} and not asked
    args.wav = str(prime)
    with pytest.raises(UserError, match="--listen takes the examiner's words from the micro"):
        portfolio._examiner_inputs(speech, args)
    args = argparse.Namespace(text=None, wav=None, prime=None, melody=None, hand=None, listen=None)
    agent = registry.get("blackjack")  # and a hand of cards for the agent
    assert portfolio._examiner_inputs(agent, args) == {"hand": "10 6 vs 9"}
    assert "type a hand for the agent to play" in asked[-1]


def test_ctrl_d_at_the_examiners_prompt_runs_the_prepared_demo(monkeypatch, capsys):
    """End of input (Ctrl-D) at 'Examiner: type ...' ended `portfolio exam` with an EOFError
    traceback (exit 1); it is taken as Enter: nothing typed, the prepared demo."""
    import argparse

    def ctrl_d(prompt):
        raise EOFError

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", ctrl_d)
    args = argparse.Namespace(text=None, wav=None, prime=None, melody=None, hand=None, listen=None)
    assert portfolio._examiner_inputs(registry.get("blackjack"), args) == {}
    assert "The examiner may give their own input: --hand" in capsys.readouterr().out


def test_ctrl_c_at_the_examiners_prompt_stops_the_exam_without_a_traceback(monkeypatch, capsys):
    """Ctrl-C at 'Examiner: type ...' printed a KeyboardInterrupt traceback; it stops the exam
    with 'interrupted' and exit 130, as a shell command does."""
    import argparse

    def ctrl_c(prompt):
        raise KeyboardInterrupt

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", ctrl_c)
    args = argparse.Namespace(text=None, wav=None, prime=None, melody=None, hand=None, listen=None)
    with pytest.raises(SystemExit) as stop:
        portfolio._examiner_inputs(registry.get("handwriting"), args)
    assert stop.value.code == 130 and capsys.readouterr().out == "\ninterrupted\n"


@pytest.mark.parametrize("name", list(TINY))
def test_the_exam_lists_the_code_in_reading_order(name):
    """The files `portfolio exam` tells the student to open: the STYLE layout's order (shared
    settings, data, network, LightningModule, training, the demo, evaluation), all existing."""
    from common.exam import reading_order

    assignment = registry.get(name)
    files = [Path(p).name for p in reading_order(assignment)]
    demo = assignment.demo.split(":")[0].rsplit(".", 1)[1] + ".py"
    order = ["config.py", "data.py", "model.py", "module.py", "train.py", demo, "evaluate.py"]
    assert [f for f in files if f in order] == order
    assert files[0] == "config.py" and files[-1] == "evaluate.py"
    assert all((assignment.package_dir / f).is_file() for f in files)
