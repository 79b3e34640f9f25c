import pytest

# A tiny but real training run, shared by the DQN, evaluate and play tests: 3 epochs of 150
# gradient steps (~10 s on 2 cores) through the same entry point as `python -m blackjack.train`.
TINY = [
    "--trainer.max_epochs", "3", "--model.batches_per_epoch", "150", "--model.warmup_steps", "500",
    "--model.hidden", "[64, 64]", "--model.lr", "0.003", "--trainer.enable_progress_bar", "false",
]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(cli, checkpoint path) of one tiny DQN training run."""
    from blackjack.train import main

    root = tmp_path_factory.mktemp("runs")
    cli = main([*TINY, "--run.root", str(root), "--run.name", "tiny"])
    return cli, root / "blackjack" / "tiny" / "checkpoints" / "best.ckpt"
