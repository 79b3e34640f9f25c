"""Data preparation's worker processes end with the process that started them, also by kill -9:
they stayed before, blocked on their pipe, holding their memory (music's parsers 0.5 GB each)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.common.conftest import ROOT

PARENT = """
import multiprocessing, os, sys, time
from common.workers import worker_pool
pool = worker_pool(1, multiprocessing.get_context(sys.argv[1]))
print(pool.submit(os.getpid).result(), flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    """Running (a zombie that nobody reaps has ended too)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_pool_workers_exit_when_their_parent_is_killed(start):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", PARENT, start]
    parent = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    parent.kill()  # kill -9: no handler, no atexit, no pool shutdown
    parent.wait()
    deadline = time.monotonic() + 10
    try:
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker)
    finally:
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)
