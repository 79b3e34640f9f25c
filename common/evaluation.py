"""The edge every `<pkg>.evaluate` shares: the same flags and one JSON report shape.

    --ckpt CKPT   --data-dir DIR   --split {train,val,test}   --out DIR   --batch-size N

The report, printed and written to `<out>/evaluation.json`:

    {"assignment": ..., "checkpoint": ..., "data": ..., "metrics": {...}, "files": {...}}
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from common.demo import json_text, number, writable

FLAGS = ("--ckpt", "--data-dir", "--split", "--out", "--batch-size")
REPORT_KEYS = ("assignment", "checkpoint", "data", "metrics", "files")
REPORT_NAME = "evaluation.json"


def add_arguments(
    parser: argparse.ArgumentParser,
    *,
    data_dir: str | None,
    splits: tuple[str, ...] | None = ("train", "val", "test"),
    split: str = "test",
    split_help: str = "split of the checkpoint's own data set to score",
    split_aliases: dict[str, str] | None = None,
    batch_size: int | None = 64,
    out: str = "the run folder's evaluation/",
) -> None:
    """The shared flags. `data_dir` says what the folder holds for this assignment; None for
    `data_dir`, `splits` and `batch_size` where an assignment has no data set to read (blackjack
    plays its environment)."""
    parser.add_argument(
        "--ckpt", type=Path, help="checkpoint (default: the latest run's best.ckpt)"
    )
    if data_dir is not None:
        parser.add_argument("--data-dir", type=Path, metavar="DIR", help=data_dir)
    if splits is not None:
        aliases = split_aliases or {}  # other names users know, e.g. JSB's "valid" for "val"
        parser.add_argument(
            "--split",
            default=split,
            choices=splits,
            type=lambda name: aliases.get(name, name),
            help=split_help,
        )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"folder for the report and figures (default: {out})",
    )
    if batch_size is not None:
        parser.add_argument(
            "--batch-size",
            type=number(1, integer=True),
            default=batch_size,
            help="items scored at once",
        )


def out_dir(out: Path | None, checkpoint: Path | None) -> Path:
    """--out, else `evaluation/` in the checkpoint's run folder (or in the current folder),
    created now: an --out that is a file or cannot be made is refused before any scoring."""
    if out is None and checkpoint is not None and Path(checkpoint).parent.name == "checkpoints":
        out = Path(checkpoint).parent.parent / "evaluation"
    return writable(out or "evaluation", "report", is_folder=True)


def report(
    assignment: str,
    checkpoint: Path | str | None,
    data: Any,
    metrics: dict[str, Any],
    files: dict[str, str] | None = None,
    out: Path | None = None,
) -> dict[str, Any]:
    """Print the report (strict JSON) and write it to `out`/evaluation.json; return it as
    printed (floats to 7 significant digits, NaN as null)."""
    result = {
        "assignment": assignment,
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "data": data,
        "metrics": metrics,
        "files": dict(files or {}),
    }
    if out is not None:
        path = writable(Path(out) / REPORT_NAME, "report")
        result["files"]["report"] = str(path)
        path.write_text(json_text(result) + "\n")
    text = json_text(result)
    print(text)
    return json.loads(text)
