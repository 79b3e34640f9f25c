"""Tiny checkpoints of all four assignments, trained once per test session (about a minute)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import use_roots
from tests.music.conftest import jsb_pickle  # the same tiny JSB pickle as the music tests

ROOT = Path(__file__).resolve().parents[2]

TINY = {
    "blackjack": [
        "--trainer.max_epochs", "1", "--model.batches_per_epoch", "150",
        "--model.warmup_steps", "500", "--model.hidden", "[32, 32]", "--model.lr", "0.003",
    ],
    "speech": [
        "--data.labels", "yes,no,up,left,stop",
        "--model.width", "8", "--data.train_per_word", "8", "--data.val_per_word", "2",
        "--data.test_per_word", "2", "--data.batch_size", "16", "--trainer.max_epochs", "2",
    ],
    "music": [
        "--model.hidden", "16", "--model.layers", "1", "--model.nade_hidden", "8",
        "--data.batch_size", "4", "--trainer.max_epochs", "2", "--model.sample_bars", "2",
        "--data.source", "jsb", "--data.path", "{jsb}",
    ],
    "handwriting": [
        "--config", str(ROOT / "handwriting/configs/quick.yaml"),
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3",
        "--data.n_train", "96", "--data.n_val", "16", "--data.max_chars", "8",
        "--model.hidden_size", "16", "--model.n_mixtures", "2", "--model.n_window", "2",
    ],
}  # fmt: skip


def train_tiny(root: Path) -> dict[str, Path]:
    """Train the four tiny runs (one process each, as `python -m <pkg>.train`) under root/runs."""
    env = {**os.environ, "MAL2_RUNS": str(root / "runs"), "MAL2_DATA": str(root / "data"),
           "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}  # fmt: skip
    env.pop("MAL2_RUN_NAME", None)
    jsb = jsb_pickle(root / "jsb.pickle")
    procs = {}
    for name, args in TINY.items():
        args = [a.replace("{jsb}", str(jsb)) for a in args]
        cmd = [sys.executable, "-m", f"{name}.train", *args, "--run.name", "tiny",
               "--trainer.enable_progress_bar", "false"]  # fmt: skip
        procs[name] = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if name == "blackjack":  # the CPU-bound ones one after the other
            out, _ = procs[name].communicate(timeout=300)
    ckpts = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"tiny {name} training failed:\n{out[-3000:]}"
        ckpts[name] = root / "runs" / name / "tiny" / "checkpoints" / "best.ckpt"
        assert ckpts[name].is_file()
    return ckpts


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A folder with runs/<assignment>/tiny/ for all four assignments (and data/)."""
    reuse = os.environ.get("MAL2_TEST_TINY_ROOT")  # while developing: a root trained before
    if reuse and (Path(reuse) / "runs").is_dir():
        return Path(reuse)
    root = tmp_path_factory.mktemp("app")
    train_tiny(root)
    return root


@pytest.fixture
def tiny_runs(tiny_root, monkeypatch) -> Path:
    """MAL2_RUNS / MAL2_DATA pointing at the tiny runs for this test."""
    return use_roots(monkeypatch, tiny_root) / "runs"
