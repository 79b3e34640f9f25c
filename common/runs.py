"""Run folders: what was run (command, versions, commit) and what it measured (metrics.csv)."""

from __future__ import annotations

import csv
import json
import platform
import subprocess
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = (
    "torch",
    "torchaudio",
    "lightning",
    "torchmetrics",
    "numpy",
    "gymnasium",
    "pretty_midi",
    "music21",
)


def git_commit(cwd: Path | None = None) -> str | None:
    """The checked-out commit (with '+dirty' for local changes), or None outside git."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("+dirty" if dirty else "")


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
    import os

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
