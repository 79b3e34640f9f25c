"""Same seed, same metrics; a run killed or interrupted midway resumes to the same result."""

import random

import numpy as np
import torch

from common.seed import seed_everything
from tests.common.conftest import run_tiny
from tests.common.tiny import main

BASE = ["--trainer.max_epochs", "4", "--model.dropout", "0.3"]


def test_seed_everything_seeds_all_generators():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    seed_everything(3)
    a = draw()
    seed_everything(3)
    assert draw() == a
    seed_everything(4)
    assert draw() != a


def test_same_seed_same_metrics_different_seed_differs(runs):
    a = main([*BASE, "--run.name", "a", "--seed_everything", "5"]).summary
    b = main([*BASE, "--run.name", "b", "--seed_everything", "5"]).summary
    c = main([*BASE, "--run.name", "c", "--seed_everything", "6"]).summary
    assert a["final_val_loss"] == b["final_val_loss"]
    assert a["final_train_loss"] == b["final_train_loss"]
    assert a["final_val_loss"] != c["final_val_loss"]


def test_killed_run_resumes_to_same_metrics(runs, recwarn):
    full = main([*BASE, "--run.name", "full"]).summary
    # step 10 is in the third epoch (4 batches per epoch): the process dies without cleanup.
    killed = run_tiny(*BASE, "--run.name", "cut", "--model.kill_at_step", "10")
    assert killed.returncode == 137
    assert (runs / "tiny" / "cut" / "checkpoints" / "last.ckpt").exists()
    assert not (runs / "tiny" / "cut" / "summary.json").exists()
    recwarn.clear()
    resumed = main([*BASE, "--run.name", "cut", "--run.resume", "last"]).summary
    assert resumed["final_val_loss"] == full["final_val_loss"]
    assert resumed["best_score"] == full["best_score"]
    assert resumed["epochs"] == full["epochs"] == 4
    # Lightning warned on every resume that the run's checkpoint folder "is not empty"
    assert not [w for w in recwarn if "is not empty" in str(w.message)]


def test_ctrl_c_stops_cleanly_and_resumes(runs):
    full = main([*BASE, "--run.name", "full"]).summary
    stopped = run_tiny(*BASE, "--run.name", "intr", "--model.interrupt_at_step", "9")
    assert stopped.returncode == 130  # as a shell command, and portfolio's (Lightning's: 1)
    assert "--run.resume last" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    resumed = main([*BASE, "--run.name", "intr", "--run.resume", "last"]).summary
    assert resumed["final_val_loss"] == full["final_val_loss"]
    # metrics.csv keeps the epochs from before the interruption
    from common.runs import read_metrics

    epochs = read_metrics(runs / "tiny" / "intr" / "metrics.csv")
    assert [e["epoch"] for e in epochs if "val/loss" in e] == [0, 1, 2, 3]


# The tests above pass even when last.ckpt is only written when the monitored metric improves:
# the tiny task's val/loss improves every epoch, so last.ckpt is always the latest epoch, and
# resuming from any earlier epoch end still reaches the same final metrics. Monitoring val/loss
# with mode "max" makes only epoch 0 the best, so last.ckpt must be written without a new best.
NO_NEW_BEST = [*BASE, "--run.monitor", "val/loss", "--run.mode", "max"]


def _last_state(runs, name):
    ckpt = torch.load(runs / "tiny" / name / "checkpoints" / "last.ckpt", weights_only=True)
    return ckpt["epoch"], ckpt["global_step"]


def test_last_checkpoint_is_latest_epoch_even_without_new_best(runs):
    main([*NO_NEW_BEST, "--run.name", "done"])
    assert _last_state(runs, "done") == (3, 16)  # 4 epochs of 4 batches
    best = torch.load(runs / "tiny" / "done" / "checkpoints" / "best.ckpt", weights_only=True)
    assert best["global_step"] == 4  # the best stays the first epoch


def test_killed_run_resumes_from_latest_epoch_without_repeating_one(runs):
    from common.runs import read_metrics

    killed = run_tiny(*NO_NEW_BEST, "--run.name", "cut", "--model.kill_at_step", "10")
    assert killed.returncode == 137
    assert _last_state(runs, "cut") == (1, 8)  # epochs 0 and 1 were complete
    main([*NO_NEW_BEST, "--run.name", "cut", "--run.resume", "last"])
    with (runs / "tiny" / "cut" / "metrics.csv").open() as f:
        val_epochs = [row.split(",") for row in f.read().splitlines()]
    epochs = read_metrics(runs / "tiny" / "cut" / "metrics.csv")
    assert [e["epoch"] for e in epochs if "val/loss" in e] == [0, 1, 2, 3]
    header = val_epochs[0]
    logged = [r[header.index("epoch")] for r in val_epochs[1:] if r[header.index("val/loss")]]
    assert logged == ["0", "1", "2", "3"]  # no epoch trained and logged twice


def test_ctrl_c_keeps_latest_epoch(runs):
    stopped = run_tiny(*NO_NEW_BEST, "--run.name", "intr", "--model.interrupt_at_step", "13")
    assert stopped.returncode == 130
    assert _last_state(runs, "intr") == (2, 12)


def test_sigterm_exits_non_zero_keeps_latest_epoch_and_resumes(runs):
    stopped = run_tiny(*NO_NEW_BEST, "--run.name", "term", "--model.term_at_step", "13")
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    assert "--run.resume last" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert _last_state(runs, "term") == (2, 12)
    resumed = main([*NO_NEW_BEST, "--run.name", "term", "--run.resume", "last"]).summary
    assert resumed["epochs"] == 4 and resumed["global_step"] == 16
