"""A tiny fit through the real entry point, then evaluate on a folder and the demo on awkward
files (sample rates, stereo, long, silent, empty, not audio)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from common.checkpoints import load_module
from speech import demo, evaluate
from speech.data import KeywordDataModule
from speech.module import KeywordModule

from .conftest import speak_to


def test_tiny_fit_writes_a_run_that_rebuilds_from_its_checkpoint(trained):
    root, cli = trained
    run = root / "runs" / "speech" / "tiny"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["monitor"] == "val/acc"
    assert 0.0 <= summary["test"]["test/acc"] <= 1.0
    assert math.isfinite(summary["final_train_loss"])
    module = load_module(run / "checkpoints" / "best.ckpt", KeywordModule, "speech")
    assert module.class_names == ["yes", "no", "up"]
    probs = module.predict_proba(torch.randn(2, 16000))
    assert probs.shape == (2, 3) and torch.allclose(probs.sum(dim=1), torch.ones(2))


def test_evaluate_on_a_folder_counts_unknown_labels_and_groups(trained, tmp_path, capsys):
    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    folder = tmp_path / "mine"
    rows = ["path,accent"]
    for word in ("yes", "no", "cat"):  # "cat" is not one of the model's words
        for voice, accent in (("en-us+f3", "American"), ("de+m3", "German")):
            name = f"{voice.replace('+', '_')}.wav"
            speak_to(folder / word / name, word, voice, rate=22050)
            rows.append(f"{word}/{name},{accent}")
    (folder / "metadata.csv").write_text("\n".join(rows))
    (folder / "yes" / "broken.wav").write_text("not audio")
    report = evaluate.main(
        ["--ckpt", str(ckpt), "--data-dir", str(folder), "--out", str(tmp_path / "eval")]
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == report == json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert list(report) == ["assignment", "checkpoint", "data", "metrics", "files"]
    assert (report["assignment"], report["checkpoint"]) == ("speech", str(ckpt))
    assert report["data"] == str(folder)
    assert set(report["files"]) == {"confusion_matrix", "report"}
    metrics = report["metrics"]
    assert metrics["n"] == 4 and metrics["skipped_labels"] == {"cat": 2}
    assert set(metrics["per_class"]) == {"yes", "no"}
    assert metrics["per_group"]["accent"]["German"]["n"] == 2
    assert list(metrics["unreadable_files"]) == [str(folder / "yes" / "broken.wav")]
    assert Path(report["files"]["confusion_matrix"]).stat().st_size > 1000


def test_evaluate_default_uses_the_held_out_voices_with_groups(trained, tmp_path):
    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    report = evaluate.main(["--ckpt", str(ckpt), "--out", str(tmp_path)])
    assert report["metrics"]["n"] == 6 and report["data"] == "espeak:test"
    assert {"accent", "variant", "gender"} <= set(report["metrics"]["per_group"])


def test_demo_handles_awkward_files_without_tracebacks(trained, tmp_path, capsys):
    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    files = [
        speak_to(tmp_path / "8k.wav", "yes", "en-us+m3", rate=8000),
        speak_to(tmp_path / "22k.wav", "no", "en-us+f2", rate=22050),
        speak_to(tmp_path / "44k_stereo.wav", "up", "en+m1", rate=44100, stereo=True),
        speak_to(tmp_path / "long.wav", "yes", "en-us+m2", seconds=3.0),
    ]
    sf.write(tmp_path / "silence.wav", np.zeros(16000), 16000)
    sf.write(tmp_path / "zero_length.wav", np.zeros(0), 16000)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("definitely not audio")
    awkward = ["silence.wav", "zero_length.wav", "empty.wav", "notes.wav", "missing.wav"]
    files += [tmp_path / n for n in awkward]
    code = demo.main([*map(str, files), "--ckpt", str(ckpt), "--out", str(tmp_path / "figs")])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("top 5") == 4  # the four readable recordings are classified
    assert "keywords detected" in out  # the 3-second file is scanned
    lines = out.splitlines()
    silence = lines.index(f"{tmp_path / 'silence.wav'} (1.00 s)")
    assert lines[silence + 1] == (
        "  silence or steady noise only (no louder sound stands out); no word to classify"
    )
    assert "zero length" in out and "empty" in out and "not a readable audio" in out
    assert "no such file" in out
    assert len(list((tmp_path / "figs").glob("*.png"))) == 4


def test_demo_refuses_files_of_which_none_can_be_classified(trained, tmp_path, capsys):
    """Each file said 'cannot classify' and the demo exited 1, as a failed run does, with no
    'error:' line; the files are the user's mistake: exit 2 naming them (a readable one among
    them keeps exit 0, test_demo_handles_awkward_files_without_tracebacks)."""
    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    (tmp_path / "notes.wav").write_text("definitely not audio")
    files = [str(tmp_path / "notes.wav"), str(tmp_path / "missing.wav")]
    with pytest.raises(SystemExit) as stop:
        demo.main([*files, "--ckpt", str(ckpt), "--out", str(tmp_path / "figs")])
    captured = capsys.readouterr()
    assert stop.value.code == 2
    assert captured.err.endswith(
        f"error: no file could be classified ({files[0]}, {files[1]}; the reason for each is "
        "above): give WAV/FLAC/OGG recordings of a word\n"
    )
    assert "not a readable audio" in captured.out and "no such file" in captured.out


def test_demo_reads_the_recordings_of_a_folder(trained, tmp_path, capsys):
    """A folder given as a file said 'no such file'; it stands for the recordings in it (its
    subfolders too, by suffix), and one without recordings is refused by name."""
    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    takes = tmp_path / "takes"
    speak_to(takes / "b" / "no.wav", "no", "en-us+m3")
    speak_to(takes / "a.flac", "yes", "en-us+f2")
    (takes / "notes.txt").write_text("not a recording")
    out = ["--ckpt", str(ckpt), "--out", str(tmp_path / "figs"), "--no-figure"]
    assert demo.main([str(takes), *out]) == 0
    printed = capsys.readouterr().out
    assert printed.count("top 5") == 2 and "notes.txt" not in printed
    assert printed.index(str(takes / "a.flac")) < printed.index(str(takes / "b" / "no.wav"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as stop:
        demo.main([str(tmp_path / "empty"), *out])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "empty: a folder without recordings (.aif, .aiff, " in err


def test_demo_out_that_is_a_file_is_refused(tmp_path, capsys):
    """--out notes.txt (an existing file, the folder for the figures) ended in FileExistsError."""
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(SystemExit) as stop:
        demo.main([str(tmp_path / "yes.wav"), "--out", str(notes)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "cannot create the output folder" in err


def test_exam_demo_args_use_held_out_voices_and_run(trained, tmp_path, capsys):
    from speech.assignment import ASSIGNMENT
    from speech.synthetic import split_variants

    root, _ = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    argv = ASSIGNMENT.exam_demo_args(ckpt, tmp_path / "exam")
    wavs = [Path(a) for a in argv if a.endswith(".wav")]
    assert len(wavs) == 2 and all(w.is_file() for w in wavs)
    assert sf.info(str(wavs[0])).samplerate == 16000
    held_out = split_variants()["test"]
    assert all(w.stem.split("_")[-1] in held_out for w in wavs)  # file names carry the variant
    ASSIGNMENT.run_demo(argv)
    assert capsys.readouterr().out.count("top 5") == 2


def test_twelve_class_task_has_unknown_and_silence(isolated):
    dm = KeywordDataModule(labels="12", train_per_word=2, val_per_word=1, test_per_word=1)
    dm.setup("fit")
    names = dm.names
    train_targets = dm.splits["train"].targets.tolist()
    assert names[-2:] == ["_unknown_", "_silence_"]
    assert train_targets.count(names.index("_unknown_")) == 2 * 25  # the 25 other words
    assert train_targets.count(names.index("_silence_")) == int(0.1 * 70)
    assert train_targets.count(names.index("yes")) == 2


def test_training_stores_the_gate_fitted_in_the_best_checkpoint_only(trained):
    _, cli = trained  # the default: --model.gate true
    folder = Path(cli.run_dir) / "checkpoints"
    best, last = (
        torch.load(folder / f, weights_only=True)["state_dict"] for f in ("best.ckpt", "last.ckpt")
    )
    assert best["model.gate.net.2.weight"].abs().sum() > 0  # fitted after training
    assert last["model.gate.net.2.weight"].abs().sum() == 0  # the equal vote it trained with


def test_the_test_report_reads_the_float32_test_s_predictions(trained, tmp_path, monkeypatch):
    import lightning as L

    root, cli = trained
    ckpt = root / "runs" / "speech" / "tiny" / "checkpoints" / "best.ckpt"
    module = load_module(ckpt, KeywordModule, "speech")
    data = cli.datamodule.splits["test"]
    expected, targets = module.predict_dataset(data)
    monkeypatch.setattr(KeywordModule, "export_best", staticmethod(lambda best: "not asked"))
    calls = []
    monkeypatch.setattr(module, "predict_dataset", lambda d: calls.append(d) or (expected, targets))
    for precision, predicted in (("32-true", 0), ("bf16-mixed", 1)):
        calls.clear()
        trainer = L.Trainer(precision=precision, logger=False, enable_progress_bar=False)
        trainer.test(module, datamodule=cli.datamodule, verbose=False)
        with torch.no_grad():
            extra = module.write_artifacts(tmp_path, cli.datamodule)
        assert len(calls) == predicted  # float32: the test's own predictions, not a second pass
        report = json.loads((tmp_path / "test_report.json").read_text())
        assert report["accuracy"] == round((expected == targets).float().mean().item(), 4)
        assert extra["test_acc_unseen_voices"] == report["accuracy"]
    assert module.tested is None  # read once: a later report without a test predicts again
