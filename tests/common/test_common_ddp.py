"""Same code under DDP: two CPU processes (gloo), one run folder, only rank zero writes."""

import csv
import json

from tests.common.conftest import run_tiny


def test_two_process_ddp_fit_on_cpu(runs):
    args = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    proc = run_tiny(*args, "--trainer.max_epochs", "2", timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_dirs = list((runs / "tiny").iterdir())
    assert len(run_dirs) == 1  # rank 1 found rank 0's folder instead of making its own
    run = run_dirs[0]
    info = json.loads((run / "run.json").read_text())
    assert info["world_size"] == 2
    # rank 1 starts after rank 0 wrote run.json; had it written too, the pid would be its own
    assert info["pid"] == proc.pid
    assert json.loads((run / "summary.json").read_text())["run"] == run.name
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    val_epochs = [r["epoch"] for r in rows if r.get("val/loss")]
    assert val_epochs == ["0", "1"]  # one writer: each epoch logged once
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
