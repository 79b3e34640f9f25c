"""Where runs and data live (both git-ignored)."""

from __future__ import annotations

import os
from pathlib import Path


def runs_root() -> Path:
    """Root of all run folders: `$MAL2_RUNS`, else `./runs`."""
    return Path(os.environ.get("MAL2_RUNS", "runs"))


def data_root() -> Path:
    """Root of data sets, downloads and caches: `$MAL2_DATA`, else `./data`."""
    return Path(os.environ.get("MAL2_DATA", "data"))
