"""A run name is never reused by accident, and one run folder has one writer at a time."""

import errno
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from common.errors import entry_point
from common.runs import RunLock
from tests.common.tiny import main

TWO = ["--trainer.max_epochs", "2"]


def _files(run_dir):
    return {p.name: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def test_finished_run_name_is_refused_and_kept(runs):
    main([*TWO, "--run.name", "x"])
    before = _files(runs / "tiny" / "x")
    with pytest.raises(SystemExit, match="already holds a finished run.*--run.overwrite"):
        main([*TWO, "--run.name", "x", "--model.lr", "0.1"])
    assert _files(runs / "tiny" / "x") == before  # nothing lost, nothing written


def test_interrupted_run_name_is_refused_with_the_resume_hint(runs):
    main([*TWO, "--run.name", "y"])
    (runs / "tiny" / "y" / "summary.json").unlink()  # as if killed before the end
    with pytest.raises(SystemExit, match="interrupted run.*--run.resume last"):
        main([*TWO, "--run.name", "y"])


def test_overwrite_replaces_the_run(runs):
    main([*TWO, "--run.name", "z"])
    (runs / "tiny" / "z" / "stale.txt").write_text("from the first run")
    summary = main(
        ["--trainer.max_epochs", "1", "--run.name", "z", "--run.overwrite", "true"]
    ).summary
    assert summary["epochs"] == 1
    assert not (runs / "tiny" / "z" / "stale.txt").exists()


def test_resume_and_overwrite_together_are_refused(runs):
    main([*TWO, "--run.name", "w"])
    with pytest.raises(SystemExit, match="contradict"):
        main([*TWO, "--run.name", "w", "--run.resume", "last", "--run.overwrite", "true"])


def test_resuming_with_fewer_epochs_than_the_checkpoint_holds_is_refused(runs, capsys):
    """It was Lightning's MisconfigurationException traceback, after the data was prepared."""
    main(["--trainer.max_epochs", "3", "--run.name", "v"])
    before = _files(runs / "tiny" / "v")
    with pytest.raises(SystemExit) as stop:
        main(["--trainer.max_epochs", "1", "--run.name", "v", "--run.resume", "last"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "last.ckpt holds 3 epochs, more than" in err
    assert "--trainer.max_epochs 3 or more" in err
    assert _files(runs / "tiny" / "v") == before


def test_resuming_with_other_model_settings_is_refused_and_the_run_kept(runs, capsys):
    """A quick run resumed without its --config (as the interrupted-run hint said) ended in
    load_state_dict's size-mismatch traceback, after its config.yaml had been replaced."""
    main([*TWO, "--run.name", "q", "--model.hidden", "8"])
    (runs / "tiny" / "q" / "summary.json").unlink()  # as if interrupted
    before = _files(runs / "tiny" / "q")
    with pytest.raises(SystemExit) as stop:
        main([*TWO, "--run.name", "q", "--run.resume", "last"])  # hidden 16, the default
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "was trained with other model settings" in err
    config = runs / "tiny" / "q" / "config.yaml"
    assert f"--config {config} --run.resume last" in err
    assert _files(runs / "tiny" / "q") == before
    assert main(["--config", str(config), "--run.resume", "last"]).summary["epochs"] == 2


def test_a_run_folder_being_written_is_refused(runs):
    run_dir = runs / "tiny" / "busy"
    with RunLock(run_dir):  # another writer holds the folder
        with pytest.raises(SystemExit, match="being written by"):
            main([*TWO, "--run.name", "busy"])
        assert not (run_dir / "checkpoints").exists()
    main([*TWO, "--run.name", "busy"])  # free again once the writer is done


@pytest.mark.parametrize("name", ["../escape", "a/b", ".."])
def test_run_name_must_be_a_folder_name(runs, name):
    with pytest.raises(SystemExit, match="plain folder name"):
        main([*TWO, "--run.name", name])


def test_metrics_csv_replaces_a_fresh_runs_file_continues_a_resumed_one(tmp_path):
    import csv

    import torch

    from common.cli import MetricsCSV

    def rows():
        with (tmp_path / "metrics.csv").open(newline="") as f:
            return list(csv.DictReader(f))

    (tmp_path / "metrics.csv").write_text("epoch,step,old\n0,0,1\n")
    fresh = MetricsCSV(tmp_path, append=False)
    fresh.log_metrics({"epoch": 0, "train/loss": torch.tensor(0.5)}, step=9)
    assert rows() == [{"epoch": "0", "step": "9", "train/loss": "0.5"}]  # the old file replaced
    fresh.log_metrics({"epoch": 0, "val/loss": 0.25}, step=9)  # a new column: a wider header
    assert rows()[1] == {"epoch": "0", "step": "9", "train/loss": "", "val/loss": "0.25"}
    resumed = MetricsCSV(tmp_path, append=True)
    resumed.log_metrics({"epoch": 1, "train/loss": 0.4}, step=19)
    assert [r["step"] for r in rows()] == ["9", "9", "19"] and rows()[2]["train/loss"] == "0.4"


def test_metrics_csv_keeps_its_rows_when_a_new_column_s_rewrite_is_cut(tmp_path, monkeypatch):
    """A new column rewrites the file under a wider header; it was rewritten in place, so a kill
    during the rewrite lost every row before it."""
    import csv

    from common.cli import MetricsCSV

    log = MetricsCSV(tmp_path, append=False)
    log.log_metrics({"epoch": 0, "train/loss": 0.5}, step=9)
    before = (tmp_path / "metrics.csv").read_text()

    def killed(self, rows):
        raise KeyboardInterrupt

    monkeypatch.setattr(csv.DictWriter, "writerows", killed)
    with pytest.raises(KeyboardInterrupt):
        log.log_metrics({"epoch": 0, "val/loss": 0.25}, step=9)
    assert (tmp_path / "metrics.csv").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]  # no temporary file left


def test_a_full_disk_while_appending_to_metrics_csv_names_the_file(tmp_path, monkeypatch):
    """The append's buffered write fails on close, in an OSError that names no file: the
    message said 'No space left on device: a file'."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (Linux)")
    from common.cli import MetricsCSV

    log = MetricsCSV(tmp_path, append=False)
    log.log_metrics({"epoch": 0, "train/loss": 0.5}, step=9)
    real_open = Path.open

    def full_disk(self, mode="r", *args, **kwargs):  # every write to metrics.csv: ENOSPC
        return real_open(Path("/dev/full") if self == log.path else self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", full_disk)
    logs = entry_point(lambda: log.log_metrics({"epoch": 1, "train/loss": 0.4}, step=19))
    with pytest.raises(SystemExit, match=f"No space left on device: {log.path}; free some space"):
        logs()


def test_a_full_disk_while_writing_hparams_yaml_names_the_file(tmp_path, monkeypatch):
    """Lightning's save_hparams_to_yaml on a full disk: an OSError that names no file."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (Linux)")
    from lightning.pytorch.core import saving

    from common.cli import MetricsCSV

    log = MetricsCSV(tmp_path, append=False)
    real_save = saving.save_hparams_to_yaml
    monkeypatch.setattr(saving, "save_hparams_to_yaml", lambda path, h: real_save("/dev/full", h))
    logs = entry_point(lambda: log.log_hyperparams({"lr": 0.01}))
    path = tmp_path / "hparams.yaml"
    with pytest.raises(SystemExit, match=f"No space left on device: {path}; free some space"):
        logs()


def test_a_runs_root_that_cannot_be_written_is_an_error_not_a_traceback(runs, tmp_path, capsys):
    """--run.root (or MAL2_RUNS) under a file, on a read-only disk or a full one ended in an
    OSError traceback; it is `error: <what>: <file>; ...` and exit code 2."""
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SystemExit) as stop:
        main([*TWO, "--run.root", str(tmp_path / "notes.txt" / "runs")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    assert f"error: Not a directory: {tmp_path / 'notes.txt'}" in err and "MAL2_RUNS" in err


@pytest.mark.parametrize(
    "code, words", [(errno.ENOSPC, "free some space"), (errno.EROFS, "use a place you may write")]
)
def test_a_full_or_read_only_disk_is_a_user_error_and_other_os_errors_are_not(code, words):
    @entry_point
    def writes(code):
        raise OSError(code, os.strerror(code), "/runs/x/checkpoints/best.ckpt")

    with pytest.raises(SystemExit, match=f"best.ckpt; {words}"):
        writes(code)
    with pytest.raises(ConnectionResetError):  # not the user's: a traceback, as before
        writes(errno.ECONNRESET)


def test_a_cache_write_on_a_full_disk_names_the_cache(tmp_path, monkeypatch):
    """torch's writer turned a full disk into 'RuntimeError: unexpected pos 64 vs 0' (no file)."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (Linux)")
    from common import cache

    named = pytest.raises(OSError, match=f"No space left on device: '{tmp_path / 'x.bin'}'")
    with named, cache.replacing(tmp_path / "x.bin"):  # a write's ENOSPC names no file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    @contextmanager
    def full_disk(path):
        with open("/dev/full", "wb", buffering=0) as f:  # every write: ENOSPC
            yield f

    monkeypatch.setattr(cache, "replacing", full_disk)
    with pytest.raises(OSError) as raised:
        cache.save_tensors({"x": torch.zeros(1000)}, tmp_path / "data.pt")
    assert raised.value.errno == errno.ENOSPC
