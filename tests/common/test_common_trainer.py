"""Trainer defaults, the run folder, CLI options, EarlyStopping and the NaN guard."""

import json
import os
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import (
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    RichProgressBar,
)
from lightning.pytorch.loggers import TensorBoardLogger

from common.callbacks import EpochPrinter, PortfolioCallback
from common.cli import MetricsCSV, PortfolioCLI
from tests.common.tiny import TinyData, TinyModule, main


def _cli(args):
    return PortfolioCLI(TinyModule, TinyData, assignment="tiny", args=args)


def test_trainer_defaults(runs):
    cli = _cli(["--run.name", "x", "--trainer.gradient_clip_val", "0.5"])
    trainer = cli.trainer
    ckpts = [c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)]
    assert [(c.filename, c.monitor) for c in ckpts] == [("best", "val/loss"), ("last", None)]
    assert trainer.checkpoint_callback is ckpts[0]  # best_model_path and the score come from it
    assert any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
    assert any(isinstance(c, PortfolioCallback) for c in trainer.callbacks)
    assert not any(isinstance(c, EarlyStopping) for c in trainer.callbacks)  # off by default
    # pytest captures stdout (not a terminal): a plain per-epoch line instead of Rich
    assert any(isinstance(c, EpochPrinter) for c in trainer.callbacks)
    assert not any(isinstance(c, RichProgressBar) for c in trainer.callbacks)
    assert trainer.gradient_clip_val == 0.5
    assert {type(lg) for lg in trainer.loggers} == {TensorBoardLogger, MetricsCSV}
    assert cli.run_dir == runs / "tiny" / "x"


def test_checkpoints_are_written_beside_their_path_not_in_the_temporary_folder(runs, monkeypatch):
    """Lightning wrote each checkpoint in the system's temporary folder and moved it: on another
    disk (a tmpfs /tmp) a copy that a full disk or a kill cut short, leaving a truncated
    best.ckpt/last.ckpt where the good one had been. A temporary folder that cannot be used
    shows where they are written now."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(runs / "no-such-folder"))
    assert main(["--trainer.max_epochs", "2", "--run.name", "t"]).summary["epochs"] == 2
    ckpts = runs / "tiny" / "t" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["epoch"] == 1


def test_early_stopping_from_config(runs):
    cli = _cli(
        [
            "--run.early_stopping",
            "true",
            "--run.patience",
            "3",
            "--run.monitor",
            "val/mae",
            "--run.mode",
            "max",
        ]
    )
    (stopper,) = [c for c in cli.trainer.callbacks if isinstance(c, EarlyStopping)]
    assert (stopper.monitor, stopper.patience, stopper.mode) == ("val/mae", 3, "max")


def test_early_stopping_stops_a_stalled_run(runs):
    summary = main(
        [
            "--model.lr",
            "0.0",
            "--trainer.max_epochs",
            "20",
            "--run.early_stopping",
            "true",
            "--run.patience",
            "2",
        ]
    ).summary
    assert summary["epochs"] == 3  # one epoch sets the best, two more without improvement
    assert summary["early_stopped"] is True


def test_run_folder_contents_and_dotted_overrides(runs):
    cli = main(["--run.name", "full", "--trainer.max_epochs", "2", "--model.hidden", "8"])
    run = runs / "tiny" / "full"
    for name in (
        "config.yaml",
        "run.json",
        "metrics.csv",
        "summary.json",
        "learning_curves.png",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
    ):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").iterdir())
    info = json.loads((run / "run.json").read_text())
    assert {"command", "argv", "versions", "git_commit", "seed"} <= info.keys()
    assert info["versions"]["torch"] and info["versions"]["lightning"]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["hidden"] == 8 and config["run"]["name"] == "full"
    summary = json.loads((run / "summary.json").read_text())
    assert summary == cli.summary
    assert summary["epochs"] == 2 and summary["test"]["test/loss"] > 0
    assert cli.model.net[0].out_features == 8


def test_print_config(runs, capsys):
    with pytest.raises(SystemExit) as exit_:
        _cli(["--print_config", "--model.hidden", "5"])
    assert exit_.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["hidden"] == 5 and "run" in printed and "trainer" in printed


def test_non_finite_loss_stops_with_the_step(runs):
    with pytest.raises(SystemExit) as exit_:
        main(["--run.name", "nan", "--model.nan_at_step", "6", "--trainer.max_epochs", "3"])
    message = str(exit_.value)  # printed as "error: <message>", exit code 2
    assert exit_.value.code == 2 and message.startswith("error: ")
    assert "at step 6 (epoch 1)" in message and "nan" in message
    assert "learning rate" in message  # says what to do
    run = runs / "tiny" / "nan"
    assert not (run / "summary.json").exists()
    # the kept checkpoint (end of epoch 0) holds finite weights: nothing trained on the NaN
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values())


def test_bad_override_is_a_clear_error(runs, capsys):
    with pytest.raises(SystemExit) as exit_:
        _cli(["--model.hiden", "5"])
    assert exit_.value.code != 0
    assert "hiden" in capsys.readouterr().err


def test_epoch_line_includes_metrics_logged_at_epoch_end(runs, caplog):
    class LateLogger(TinyModule):
        def on_train_epoch_end(self):
            self.log("train/late", float(self.current_epoch + 10))

    import logging

    with caplog.at_level(logging.INFO):
        PortfolioCLI(
            LateLogger, TinyData, assignment="tiny", args=["--trainer.max_epochs", "2"]
        ).fit()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert len(lines) == 2
    assert "train/late 10" in lines[0] and "train/late 11" in lines[1]


def test_failed_run_does_not_leak_its_name_to_the_next_run(runs):
    with pytest.raises(SystemExit):
        main(["--run.name", "broken", "--model.nan_at_step", "0"])
    cli = main(["--trainer.max_epochs", "1"])
    assert cli.run_name != "broken"


@pytest.fixture
def cli_args(monkeypatch) -> list[list[str]]:
    """The argv of every PortfolioCLI that train_main builds (none is built or run)."""
    from common import cli

    seen = []

    class Recorder:
        summary = None

        def __init__(self, *a, args, **k):
            seen.append(args)

        def fit(self):
            pass

    monkeypatch.setattr(cli, "PortfolioCLI", Recorder)
    return seen


def test_bf16_only_where_the_cpu_has_it_and_the_user_did_not_choose(monkeypatch, cli_args):
    from common import cli

    seen = cli_args
    for native, asked, user, expected in [
        (True, True, [], "bf16-mixed"),
        (False, True, [], None),  # emulated bf16 would be slower than float32
        (True, False, [], None),  # an assignment that did not ask for it
        (True, True, ["--trainer.precision", "32-true"], "32-true"),  # the user's choice wins
    ]:
        monkeypatch.setattr(cli, "cpu_has_bf16", lambda native=native: native)
        cli.train_main(TinyModule, TinyData, assignment="tiny", args=user,
                       bf16_where_native=asked)  # fmt: skip
        args = seen[-1]
        chosen = [args[i + 1] for i, a in enumerate(args) if a == "--trainer.precision"]
        assert (chosen[-1] if chosen else None) == expected


def test_bf16_detection_can_be_forced_off_and_on(monkeypatch, cli_args):
    from common import cli, precision

    seen = cli_args
    for hardware in (True, False):
        monkeypatch.setattr(precision, "cpu_has_bf16_hardware", lambda hardware=hardware: hardware)
        for env, expected in [("0", False), ("1", True), ("", hardware), ("auto", hardware)]:
            monkeypatch.setenv("MAL2_BF16", env)
            assert precision.cpu_has_bf16() is expected
            cli.train_main(TinyModule, TinyData, assignment="tiny", args=[],
                           bf16_where_native=True)  # fmt: skip
            assert ("bf16-mixed" in seen[-1]) is expected
        monkeypatch.delenv("MAL2_BF16")
        assert precision.cpu_has_bf16() is hardware


def test_ci_skips_its_second_pass_only_on_a_cpu_that_already_is_the_emulated_one(monkeypatch):
    from common import precision

    for bf16, avx512, expected in [
        (False, False, True),  # e.g. AMD Zen 2/3, Intel before Ice Lake: pass 1 was pass 2
        (False, True, False),  # AVX-512 without bf16 (Skylake-X): pass 2 caps it to AVX2
        (True, True, False),  # native bf16: pass 2 is the float32 path
    ]:
        monkeypatch.setattr(precision, "cpu_has_bf16_hardware", lambda bf16=bf16: bf16)
        monkeypatch.setattr(torch.cpu, "_is_avx512_supported", lambda a=avx512: a)
        monkeypatch.setenv("MAL2_BF16", "0")  # the forced switch does not make a CPU emulated
        assert precision.cpu_is_what_ci_emulates() is expected
    monkeypatch.delattr(torch.cpu, "_is_avx512_supported")  # a torch without it: run both
    assert precision.cpu_is_what_ci_emulates() is False
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text()
    assert "from common.precision import cpu_is_what_ci_emulates" in ci


def test_bf16_switch_with_a_value_it_does_not_know_says_what_to_use(monkeypatch):
    from common import cli

    monkeypatch.setenv("MAL2_BF16", "maybe")
    with pytest.raises(SystemExit, match=r"MAL2_BF16='maybe'.*MAL2_BF16=0"):
        cli.train_main(TinyModule, TinyData, assignment="tiny", args=[], bf16_where_native=True)


def test_training_gives_onednn_room_for_every_batch_shape_unless_the_user_chose(monkeypatch):
    key = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
    for given, expected in ((None, "8192"), ("100", "100")):
        if given is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, given)
        with pytest.raises(SystemExit):
            main(["--help"])  # set before the run is built, so before any convolution
        assert os.environ[key] == expected


def test_an_interrupted_tensorboard_hand_over_does_not_hold_up_the_exit(runs):
    """A Ctrl-C or SIGTERM that lands inside TensorBoard's queue hand-over loses the writer
    thread's wake-up; closing the logger then waited until the thread's next flush, 120 s by
    default (portfolio compare's SIGTERM test timed out in CI at 60 s). Simulated here by taking
    the waiting thread off the queue's wake-up list, as such an interrupted hand-over leaves it."""
    import threading
    import time

    cli = _cli(["--run.name", "tb"])
    (logger,) = [lg for lg in cli.trainer.loggers if isinstance(lg, TensorBoardLogger)]
    logger.log_metrics({"train/loss": 1.0}, step=0)
    byte_queue = logger.experiment.file_writer.event_writer._async_writer._byte_queue
    time.sleep(0.5)  # the writer thread has written it and waits on the queue again
    with byte_queue.mutex:
        byte_queue.not_empty._waiters.clear()  # the lost wake-up
    closing = threading.Thread(target=logger.finalize, args=("failed",), daemon=True)
    closing.start()
    closing.join(timeout=30)
    assert not closing.is_alive()
