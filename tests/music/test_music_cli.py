"""The entry points on a tiny budget: train, compose (MIDI, PNG, WAV), evaluate, bad inputs."""

import json
import pickle
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
import yaml

from music import compose, evaluate, train
from music.assignment import ASSIGNMENT
from music.data import MusicDataModule
from tests.conftest import refused_option

from .conftest import TINY, jsb_pickle


def test_training_writes_a_run_folder_with_music_metrics(trained):
    root, _, cli = trained
    run = root / "runs" / "music" / "tiny"
    assert (run / "checkpoints" / "best.ckpt").is_file()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["monitor"] == "val/nll"
    assert 0 < summary["test"]["test/nll"] < 88 * 2  # nats per frame, far below 88 log 2 * 2
    assert 0 <= summary["test"]["test/frame_acc"] <= 1
    assert (run / "sample.mid").is_file() and (run / "sample.png").is_file()
    assert cli.model.hparams.data_steps_per_quarter == 1  # the grid travels with the checkpoint


def test_compose_writes_valid_midi_png_and_wav(trained, tmp_path):
    root, _, _ = trained
    ckpt = root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt"
    out = tmp_path / "piece.mid"
    result = compose.main(["--ckpt", str(ckpt), "--bars", "3", "--seed", "1", "-o", str(out)])
    pm = pretty_midi.PrettyMIDI(str(out))
    assert result["steps"] == 12  # 3 bars of 4 quarter notes
    assert pm.instruments and all(21 <= n.pitch <= 108 for n in pm.instruments[0].notes)
    assert pm.get_end_time() <= 12 * 0.6 + 1e-6  # 100 quarter notes per minute
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    audio, rate = sf.read(out.with_suffix(".wav"))
    assert rate == compose.SAMPLE_RATE and len(audio) > rate and np.abs(audio).max() <= 1
    again = compose.main(["--ckpt", str(ckpt), "--bars", "3", "--seed", "1", "-o", str(out)])
    assert again["notes"] == result["notes"]  # same seed, same piece


def test_compose_continues_a_prime(trained, tmp_path):
    root, _, _ = trained
    ckpt = root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt"
    prime = tmp_path / "prime.mid"
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=0)
    inst.notes.append(pretty_midi.Note(velocity=80, pitch=60, start=0.0, end=2.0))  # 4 quarters
    pm.instruments.append(inst)
    pm.write(str(prime))
    out = tmp_path / "cont.mid"
    args = ["--ckpt", str(ckpt), "--prime", str(prime), "--bars", "1", "-o", str(out)]
    result = compose.main(args)
    assert result["steps"] == 4 + 4
    first = min(pretty_midi.PrettyMIDI(str(out)).instruments[0].notes, key=lambda n: n.start)
    assert first.pitch == 60 and first.start == 0


def test_compose_continues_a_typed_melody_and_refuses_a_bad_one(trained, tmp_path):
    """The examiner's melody as text (`--melody`, read as music.harmonize reads it) opens the
    piece; a bad note is refused by name, and --melody with --prime before anything is made."""
    root, _, _ = trained
    ckpt = root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt"
    out = tmp_path / "typed" / "cont.mid"
    result = compose.main(["--ckpt", str(ckpt), "--melody", "C D:2 R G", "--bars", "1",
                           "-o", str(out)])  # fmt: skip
    assert result["steps"] == 5 + 4  # C, D for two quarters, a rest, G; then 1 bar
    notes = sorted(pretty_midi.PrettyMIDI(str(out)).instruments[0].notes, key=lambda n: n.start)
    opening = [(n.pitch, round(n.start / 0.6, 3)) for n in notes if n.start < 5 * 0.6 - 1e-6]
    assert opening == [(60, 0), (62, 1), (67, 4)]  # G nearest D; 0.6 s a quarter at tempo 100
    bad = tmp_path / "bad" / "x.mid"
    with pytest.raises(SystemExit) as err:
        compose.main(["--ckpt", str(ckpt), "--melody", "C", "--prime", "p.mid", "-o", str(bad)])
    assert err.value.code == 2 and not bad.parent.exists()
    with pytest.raises(SystemExit, match="note 2 of the melody, 'X', is not a note"):
        compose.main(["--ckpt", str(ckpt), "--melody", "C X", "-o", str(bad)])
    assert not bad.exists()


def test_compose_notes_a_typed_melody_far_from_the_sopranos_as_harmonize_does(
    trained, tmp_path, capsys
):
    """compose --melody 'C7 D7 E7 C7' (MIDI 96-100) went on without a word, while harmonize
    notes a melody outside the chorales' soprano range (check_range); compose notes it too."""
    root, _, _ = trained
    ckpt = root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt"
    args = ["--ckpt", str(ckpt), "--bars", "1", "-o", str(tmp_path / "high.mid")]
    result = compose.main([*args, "--melody", "C7 D7 E7 C7"])
    note = (
        "the melody spans MIDI 96-100; the chorales' sopranos lie within 57-84, so the "
        "continuation may be poor (transpose it by octaves)"
    )
    assert result["messages"] == [note] and f"note: {note}\n" in capsys.readouterr().err
    assert compose.main([*args, "--melody", "C5 D5 E5 C5"])["messages"] == []
    assert "note:" not in capsys.readouterr().err


def test_exam_demo_args_run_offline(trained, tmp_path):
    root, _, _ = trained
    ckpt = root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt"
    ASSIGNMENT.run_demo(ASSIGNMENT.exam_demo_args(ckpt, tmp_path))
    assert {p.suffix for p in tmp_path.iterdir()} >= {".mid", ".png", ".wav"}
    default = yaml.safe_load((ASSIGNMENT.configs_dir / "default.yaml").read_text())["run"]
    assert default["monitor"] == "val/nll" and default["mode"] == ASSIGNMENT.mode == "min"
    assert len(ASSIGNMENT.experiment_configs()) >= 3 and ASSIGNMENT.quick_config.is_file()


def test_evaluate_prints_json(trained, capsys):
    root, pickle_path, _ = trained
    ckpt = root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt"
    result = evaluate.main(["--ckpt", str(ckpt), "--samples", "2", "--bars", "2"])
    report = json.loads(capsys.readouterr().out)
    written = ckpt.parent.parent / "evaluation" / "evaluation.json"  # the default --out
    assert report == result == json.loads(written.read_text())
    assert list(report) == ["assignment", "checkpoint", "data", "metrics", "files"]
    assert report["checkpoint"] == str(ckpt) and report["files"] == {"report": str(written)}
    assert report["data"]["split"] == "test" and report["data"]["pieces"] == 2
    printed = report["metrics"]
    assert printed["frames"] == 32
    with_test = json.loads((root / "runs/music/tiny/summary.json").read_text())["test"]
    assert printed["nll"] == pytest.approx(with_test["test/nll"], rel=1e-4)
    gen, data = printed["generated"], printed["train_data"]
    assert gen["pieces"] == 2 and 0 <= gen["pitch_class_distance_to_train"] <= 1
    assert data["polyphony"] == pytest.approx(4.0)
    assert sum(data["pitch_class_histogram"]) == pytest.approx(1, abs=1e-3)


def bad_midi_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00garbage")
    pretty_midi.PrettyMIDI().write(str(folder / "empty.mid"))
    pm = pretty_midi.PrettyMIDI()
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes.append(pretty_midi.Note(velocity=90, pitch=36, start=0, end=1))
    pm.instruments.append(drums)
    pm.write(str(folder / "drums.mid"))
    return {
        "broken.mid": folder / "broken.mid",
        "no notes": folder / "empty.mid",
        "only drum": folder / "drums.mid",
        "does not exist": folder / "missing.mid",
    }


def test_compose_bad_inputs_give_clear_messages(trained, tmp_path):
    root, _, _ = trained
    ckpt = root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt"
    out = str(tmp_path / "x.mid")
    for message, prime in bad_midi_files(tmp_path / "primes").items():
        with pytest.raises(SystemExit, match=f"error: .*{message}"):
            compose.main(["--ckpt", str(ckpt), "--prime", str(prime), "-o", out])
    with pytest.raises(SystemExit, match="error: checkpoint .* does not exist"):
        compose.main(["--ckpt", str(tmp_path / "nope.ckpt"), "-o", out])
    with pytest.raises(SystemExit, match="should end in .mid"):
        compose.main(["--ckpt", str(ckpt), "-o", str(tmp_path / "x.wav")])
    with pytest.raises(SystemExit, match="temperature must be positive"):
        compose.main(["--ckpt", str(ckpt), "--temperature", "0", "-o", out])
    for tempo in ["1", "3.5", "100000"]:  # --tempo 1 failed writing the MIDI, after composing
        with pytest.raises(SystemExit, match="tempo must be positive: 4 to 1000"):
            compose.main(["--ckpt", str(ckpt), "--tempo", tempo, "-o", out])
    assert not (tmp_path / "x.mid").exists()


def test_compose_refuses_a_prime_longer_than_it_continues(trained, tmp_path):
    """A prime of 5,000 quarter notes (one held note) is over 1024 bars: refused before the
    network reads it, as a typed melody that long is (a 6,000-quarter file took 27 s, 2.9 GB)."""
    root, _, _ = trained
    ckpt = root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt"
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    pm.instruments.append(pretty_midi.Instrument(program=0))
    pm.instruments[0].notes.append(pretty_midi.Note(velocity=80, pitch=60, start=0, end=2500))
    pm.write(str(tmp_path / "long.mid"))
    with pytest.raises(SystemExit, match="long.mid is longer than 1024 bars"):
        compose.main(["--ckpt", str(ckpt), "--prime", str(tmp_path / "long.mid"),
                      "-o", str(tmp_path / "x.mid")])  # fmt: skip
    assert not (tmp_path / "x.mid").exists()


def test_train_and_evaluate_bad_data_give_clear_messages(trained, tmp_path):
    root, _, _ = trained
    ckpt = root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt"
    with pytest.raises(SystemExit, match="error: JSB pickle .* does not exist"):
        evaluate.main(["--ckpt", str(ckpt), "--data.path", str(tmp_path / "none.pickle")])
    with pytest.raises(SystemExit, match="error: MIDI folder .* does not exist"):
        train.main(["--data.source", "midi", "--data.path", str(tmp_path / "nofolder"), *TINY])
    evil = tmp_path / "evil.pickle"
    evil.write_bytes(b"cos\nsystem\n(S'echo hi'\ntR.")
    with pytest.raises(SystemExit, match="error: refusing to load"):
        evaluate.main(["--ckpt", str(ckpt), "--data.path", str(evil)])


def test_evaluate_reads_a_midi_folder_and_refuses_senseless_sizes(trained, tmp_path, capsys):
    """--data-dir is a "JSB pickle or MIDI folder", but a folder was read as a JSB pickle ("does
    not exist"); --data.eval_len 0 divided by zero (a traceback), -1 scored no frames at all,
    and --data.max_pieces -1 quietly left out the last piece."""
    root, _, _ = trained
    ckpt = str(root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt")
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(3):
        pm = pretty_midi.PrettyMIDI(initial_tempo=120)
        inst = pretty_midi.Instrument(program=0)
        inst.notes += [pretty_midi.Note(80, 60 + i + t % 5, t / 2, t / 2 + 0.5) for t in range(16)]
        pm.instruments.append(inst)
        pm.write(str(folder / f"piece{i}.mid"))
    argv = ["--ckpt", ckpt, "--samples", "0", "--out", str(tmp_path / "eval")]
    report = evaluate.main([*argv, "--data-dir", str(folder)])
    assert report["data"]["source"] == "midi" and report["metrics"]["frames"] > 0
    capsys.readouterr()
    for flag, value in [("--data.eval_len", "0"), ("--data.eval_len", "-1"),
                        ("--data.max_pieces", "-1"), ("--data.max_pieces", "0")]:  # fmt: skip
        with pytest.raises(SystemExit) as stop:
            evaluate.main([*argv, flag, value])
        assert stop.value.code == 2 and f"argument {flag}" in capsys.readouterr().err


def test_a_midi_folder_trains_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("MAL2_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MAL2_DATA", str(tmp_path / "data"))
    folder = tmp_path / "midi"
    bad_midi_files(folder)
    for i in range(4):
        pm = pretty_midi.PrettyMIDI(initial_tempo=120)
        inst = pretty_midi.Instrument(program=0)
        for t in range(16):
            for p in (60 + i, 64 + i, 67 + i):
                note = pretty_midi.Note(velocity=80, pitch=p, start=t / 4, end=t / 4 + 0.25)
                inst.notes.append(note)
        pm.instruments.append(inst)
        pm.write(str(folder / f"piece{i}.mid"))
    with pytest.warns(UserWarning, match="skipped 3 of 7"):
        cli = train.main(
            ["--data.source", "midi", "--data.path", str(folder), "--data.steps_per_quarter", "2",
             "--data.val_fraction", "0.25", "--data.test_fraction", "0.25", "--run.name", "m",
             *TINY]
        )  # fmt: skip
    assert cli.model.hparams.data_steps_per_quarter == 2
    assert isinstance(cli.datamodule, MusicDataModule) and len(cli.datamodule.rolls["train"]) == 2


def test_a_jsb_file_without_test_trains_and_says_the_split_is_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("MAL2_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MAL2_DATA", str(tmp_path / "data"))
    raw = pickle.loads(jsb_pickle(tmp_path / "three.pickle").read_bytes())
    del raw["test"]
    two = tmp_path / "two.pickle"
    two.write_bytes(pickle.dumps(raw, protocol=2))
    with pytest.warns(UserWarning, match="no 'test' split"):
        cli = train.main(["--data.source", "jsb", "--data.path", str(two), "--run.name", "two",
                          *TINY])  # fmt: skip
    assert cli.summary["best_score"] > 0 and not cli.summary["test"]
    ckpt = tmp_path / "runs" / "music" / "two" / "checkpoints" / "best.ckpt"
    with pytest.raises(SystemExit, match="no 'test' split .* --split train or val instead"):
        evaluate.main(["--ckpt", str(ckpt), "--samples", "0"])
    for name in ("val", "valid"):  # JSB's own name too
        report = evaluate.main(["--ckpt", str(ckpt), "--split", name, "--samples", "0"])
        assert report["data"]["split"] == "val" and report["data"]["pieces"] == 2


def test_evaluate_scores_the_transposition_ensemble(trained, capsys):
    root, _, _ = trained
    ckpt = str(root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt")
    single = evaluate.main(["--ckpt", ckpt, "--samples", "0", "--transpositions", "0"])["metrics"]
    ensemble = evaluate.main(["--ckpt", ckpt, "--samples", "0", "--transpositions", "2"])
    ensemble = ensemble["metrics"]
    assert single["transpositions"] == 0 and ensemble["transpositions"] == 2
    assert ensemble["nll"] != single["nll"] and ensemble["frames"] == single["frames"]
    assert ensemble["frame_acc"] == single["frame_acc"]  # accuracy is the single model's
    with pytest.raises(SystemExit, match="--transpositions must be 0 or more"):
        evaluate.main(["--ckpt", ckpt, "--samples", "0", "--transpositions", "-1"])


def test_a_long_piece_shows_its_progress_and_a_short_one_stays_quiet(trained, tmp_path, capsys):
    """Issue 17: `--bars` up to the bound ran with no sign of life; long pieces now report."""
    root, _, _ = trained
    ckpt = root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt"
    bars = compose.PROGRESS_FROM_BARS
    result = compose.main(["--ckpt", str(ckpt), "--bars", str(bars), "-o", str(tmp_path / "l.mid")])
    err = capsys.readouterr().err
    assert result["steps"] == bars * 4
    lines = [line for line in err.splitlines() if f"of {bars:,} bars" in line]
    assert len(lines) == 10 and "s left)" in lines[0], err  # every tenth of the piece
    assert lines[-1].strip().startswith(f"composed {bars:,} of {bars:,} bars")
    compose.main(["--ckpt", str(ckpt), "--bars", "3", "-o", str(tmp_path / "s.mid")])
    assert "bars (" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "option, value, named",
    [("kind", "rnn", "model kind 'rnn'"), ("lr_schedule", "step", "lr_schedule 'step'"),
     ("orderings", "[sideways]", "note ordering 'sideways'"), ("ema_decay", "1", "ema_decay"),
     ("context_frames", "0", "context_frames")],
)  # fmt: skip
def test_train_refuses_a_model_option_it_cannot_use(option, value, named, isolated, capsys):
    """Each of these printed a ValueError's traceback; now `error: ...` and exit code 2."""
    argv = ["--data.source", "jsb", "--data.path", str(jsb_pickle(isolated / "jsb.pickle")),
            *TINY, f"--model.{option}", value]  # fmt: skip
    assert named in refused_option(train.main, argv, capsys)


@pytest.mark.parametrize(
    "options, message",
    [(["--data.val_fraction", "-0.1"], "--data.val_fraction -0.1: give a share from 0 to below 1"),
     (["--data.test_fraction", "1"], "--data.test_fraction 1.0: give a share from 0 to below 1"),
     (["--data.val_fraction", "0.6", "--data.test_fraction", "0.5"],
      "--data.val_fraction 0.6 and --data.test_fraction 0.5 hold out every piece; keep their sum "
      "below 1")],
)  # fmt: skip
def test_train_refuses_held_out_shares_it_cannot_use(options, message, isolated, capsys):
    """A negative share held out one piece as 0 does, and shares of 1 or more held out every
    piece: a run of 0 epochs that exited 0. Now `error: ...` naming the option, exit code 2."""
    argv = ["--data.source", "jsb", "--data.path", str(jsb_pickle(isolated / "jsb.pickle")),
            *TINY, *options]  # fmt: skip
    assert refused_option(train.main, argv, capsys).startswith(f"error: {message}\n")
