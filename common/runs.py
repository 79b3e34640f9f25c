"""Run folders: what was run (command, versions, commit), what it measured (metrics.csv, written
by `common.cli.MetricsCSV`), and who may write one (refuse_reuse, RunLock)."""

from __future__ import annotations

import csv
import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from common.errors import UserError

_PACKAGES = (
    "torch", "torchaudio", "lightning", "torchmetrics", "numpy", "gymnasium", "pretty_midi",
    "music21",
)  # fmt: skip


def run_config(run_dir: str | Path | None) -> dict[str, Any] | None:
    """A run folder's resolved config.yaml, or None where it is missing or unreadable."""
    import yaml

    try:
        config = yaml.safe_load((Path(run_dir) / "config.yaml").read_text())
    except (OSError, TypeError, yaml.YAMLError):
        return None
    return config if isinstance(config, dict) else None


def git_commit(cwd: Path | None = None) -> str | None:
    """The checked-out commit (with '+dirty' for local changes), or None outside git."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        diff = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=cwd, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("+dirty" if diff.returncode else "")  # tracked files changed


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def run_info(assignment: str, name: str) -> dict[str, Any]:
    """What identifies a run: its command line, library versions, git commit and machine."""

    return {
        "assignment": assignment,
        "run": name,
        "started": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "host": platform.node(),
        "platform": platform.platform(),
        "versions": library_versions(),
        "git_commit": git_commit(),
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def read_metrics(path: Path) -> list[dict[str, float]]:
    """Lightning's CSVLogger file folded into one dict per epoch (last value of each column)."""
    if not path.exists():
        return []
    epochs: dict[int, dict[str, float]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("epoch") in (None, ""):
                continue
            epoch = int(float(row["epoch"]))
            entry = epochs.setdefault(epoch, {"epoch": epoch})
            for key, value in row.items():
                if key in ("epoch", "step") or value in (None, "") or key.endswith("_step"):
                    continue
                entry[key.removesuffix("_epoch")] = float(value)
    return [epochs[e] for e in sorted(epochs)]


class RunError(UserError):
    """A run name that is taken, busy, or not a folder name."""


def refuse_reuse(run_dir: Path, assignment: str) -> None:
    """Refuse to start a fresh run in a folder that holds a finished or interrupted run."""
    summary = run_dir / "summary.json"
    ckpts = sorted((run_dir / "checkpoints").glob("*.ckpt")) if run_dir.is_dir() else []
    if not summary.is_file() and not ckpts:
        return  # nothing worth keeping (a run that stopped before its first checkpoint)
    what = "a finished run" if summary.is_file() else "an interrupted run (no summary.json yet)"
    raise RunError(
        f"{run_dir} already holds {what}; nothing was changed. Pick another --run.name, "
        f"continue it with `python -m {assignment}.train --run.name {run_dir.name} --run.resume "
        "last`, or replace it with --run.overwrite true"
    )


class RunLock:
    """An exclusive lock on a run folder (flock on the folder itself) while a process writes it.

    The lock goes when the process ends, even by kill -9; nothing is left to clean up.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        import fcntl

        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                info = json.loads((self.run_dir / "run.json").read_text())
                holder = f"process {info['pid']} on {info['host']} (started {info['started']})"
            except (OSError, ValueError, KeyError):
                holder = "another process"
            raise RunError(
                f"{self.run_dir} is being written by {holder}; wait for it to finish or pick "
                "another --run.name"
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def empty_folder(folder: Path) -> None:
    """Delete what a folder holds, keeping the folder (and the lock on it)."""
    for path in folder.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
