import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """An empty runs root for this test (MAL2_RUNS), also seen by subprocesses."""
    root = tmp_path / "runs"
    monkeypatch.setenv("MAL2_RUNS", str(root))
    monkeypatch.delenv("MAL2_RUN_NAME", raising=False)
    return root


def run_tiny(*args: str, timeout: int = 120) -> SimpleNamespace:
    """`python -m tests.common.tiny ARGS` in a fresh process (the real entry-point path)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MAL2_RUN_NAME", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.common.tiny", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell that runs the suite in the background hands SIGINT down as ignored, and Python
        # keeps it so: give the child the default disposition, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return SimpleNamespace(returncode=proc.returncode, stdout=out, stderr=err, pid=proc.pid)


def run_with_fault(target: str, how: str, step: int, *args: str, timeout: int = 300):
    """`target` (e.g. "blackjack.train:main") in a fresh process, with a fault at `step`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MAL2_RUN_NAME", None)
    return subprocess.run(
        [sys.executable, "-m", "tests.common.faults", target, how, str(step), "--", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
