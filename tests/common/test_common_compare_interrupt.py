"""A real Ctrl-C (SIGINT) or SIGTERM during `portfolio compare` stops the whole comparison: the
finished runs are kept and compared, the rest is not started, and the exit code is not 0."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.common.conftest import ROOT

# CI's first pass only: signal handling does not depend on the CPU's bf16
pytestmark = pytest.mark.once


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_whole_comparison(runs, tmp_path, signum):
    (tmp_path / "a.yaml").write_text("model:\n  hidden: 4\n")
    (tmp_path / "b_long.yaml").write_text("trainer:\n  max_epochs: 100000\n")
    (tmp_path / "c.yaml").write_text("model:\n  hidden: 8\n")
    configs = [str(tmp_path / f) for f in ("a.yaml", "b_long.yaml", "c.yaml")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MAL2_RUN_NAME", None)
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.common.portfolio_tiny", "compare", "tiny", "--quick"]
            + configs,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        long_run = None  # wait until the long run has trained an epoch or more
        deadline = time.monotonic() + 300  # generous: CI machines may be busy
        while long_run is None and time.monotonic() < deadline and proc.poll() is None:
            found = list((runs / "tiny").glob("compare-*-b_long/checkpoints/last.ckpt"))
            long_run = found[0].parent.parent if found else None
            time.sleep(0.2)
        assert long_run is not None, err_path.read_text()[-3000:]
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    err = err_path.read_text()
    assert proc.returncode == 128 + signum, err[-3000:]
    assert "Traceback" not in err
    assert "interrupted" in err and "--run.resume last" in err
    table = next((runs / "tiny").glob("compare-*/comparison.csv"))
    rows = {r["config"]: r for r in csv.DictReader(table.open())}
    assert list(rows) == ["default", "a", "b_long"]  # c was never started
    assert rows["default"]["status"] == rows["a"]["status"] == "ok"
    assert rows["b_long"]["status"] == "interrupted"
    assert not list((runs / "tiny").glob("compare-*-c"))
    assert (long_run / "checkpoints" / "last.ckpt").is_file()  # the interrupted run is kept


TRAIN_TWO = """
import dataclasses, sys
from common import portfolio, registry
from tests.common import tiny
registry.NAMES = ("tiny", "tiny2")
registry.get = lambda name: dataclasses.replace(tiny.assignment(), name=name)
sys.exit(portfolio.main(sys.argv[1:]))
"""


def test_ctrl_c_stops_portfolio_train_all(runs, tmp_path):
    """Ctrl-C during one assignment of `portfolio train all` said '<name> failed: 1' and went on
    to train the next one (a second Ctrl-C did the same)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MAL2_RUN_NAME", None)
    argv = ["train", "all", "--quick", "--trainer.max_epochs", "5"]
    argv += ["--model.interrupt_at_step", "10"]  # a real SIGINT in the second epoch
    proc = subprocess.run(
        [sys.executable, "-c", TRAIN_TWO, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert "== training tiny2" not in proc.stdout and "Traceback" not in proc.stderr
    assert "interrupted; not trained: tiny, tiny2" in proc.stderr
    assert "--run.resume last" in proc.stderr  # the interrupted run's own hint
