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
