"""A blackjack run killed midway resumes exactly: the hand in play, the RNGs, the step counters
and the replay buffer are in the checkpoint, so the resumed run ends where an uninterrupted one
does (the issue saw env_steps restart at 14800 instead of 53200 and a different final return)."""

import torch

from tests.common.conftest import run_with_fault

# 3 epochs of 60 gradient steps; the kill comes in the third epoch.
ARGS = [
    "--trainer.max_epochs", "3",
    "--model.batches_per_epoch", "60",
    "--model.warmup_steps", "300",
    "--model.batch_size", "64",
    "--model.buffer_size", "2000",
    "--model.hidden", "[32]",
    "--model.target_sync", "25",
    "--trainer.enable_progress_bar", "false",
    "--run.test", "false",
]  # fmt: skip


def test_killed_blackjack_run_resumes_exactly(tmp_path):
    from blackjack.train import main

    root = ["--run.root", str(tmp_path)]
    full = main([*ARGS, *root, "--run.name", "full"]).summary
    killed = run_with_fault("blackjack.train:main", "kill", 150, *ARGS, *root, "--run.name", "cut")
    assert killed.returncode == 137, killed.stderr[-2000:]
    last = torch.load(tmp_path / "blackjack" / "cut" / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 120
    assert last["experience"]["player"]["steps"] == 300 + 120 * 16
    resumed = main([*ARGS, *root, "--run.name", "cut", "--run.resume", "last"]).summary
    assert resumed["global_step"] == full["global_step"] == 180
    assert resumed["extra"]["exact_return"] == full["extra"]["exact_return"]
    assert resumed["final_train_loss"] == full["final_train_loss"]
    assert resumed["final_val_loss"] == full["final_val_loss"]
    rows = (tmp_path / "blackjack" / "cut" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    steps = [r.split(",")[header.index("train/env_steps")] for r in rows[1:]]
    assert [float(s) for s in steps if s] == [300 + 60 * 16 * e for e in (1, 2, 3)]
