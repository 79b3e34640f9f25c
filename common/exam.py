"""What `portfolio exam` and `portfolio list` say about the checkpoint a demo will use: which run,
whether it is a quick or cut-short one, how many epochs it ran, and its headline figure against
the model card's, with a warning where it is far below. Also the command line a student can copy.
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import registry
from common.compare import format_value
from common.errors import UserError
from common.registry import Assignment
from common.runs import run_config


@dataclass
class CheckpointCheck:
    """The facts about one checkpoint's run, and the warnings they call for."""

    ckpt: Path
    run: str
    quick: bool
    epochs: int | None
    max_epochs: int | None
    stopped_by: str | None
    headline: tuple[str, float | None, float] | None  # (label, this run's value, card value)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        kind = "quick profile" if self.quick else "default or custom profile"
        epochs = format_value(self.epochs)
        if self.max_epochs:
            epochs += f" of {self.max_epochs}"
        out = [
            f"  checkpoint: {self.ckpt}",
            f"  run: {self.run} ({kind}), epochs: {epochs}"
            + (f", stopped by {self.stopped_by}" if self.stopped_by else ""),
        ]
        if self.headline is not None:
            label, value, card = self.headline
            out.append(f"  {label}: {format_value(value)} (model card: {format_value(card)})")
        out += [f"  WARNING: {w}" for w in self.warnings]
        return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _max_epochs(run_dir: Path) -> int | None:
    value = ((run_config(run_dir) or {}).get("trainer") or {}).get("max_epochs")
    return value if isinstance(value, int) else None


def headline_value(summary: dict[str, Any], key: str) -> float | None:
    """A figure from summary.json: `best_score`, a test metric or an extra metric."""
    if key == "best_score":
        return summary.get("best_score")
    for part in ("test", "extra"):
        value = (summary.get(part) or {}).get(key)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def check_checkpoint(assignment: Assignment, ckpt: Path) -> CheckpointCheck:
    """What the demo's checkpoint is, and warnings where it is quick, cut short or weak."""
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    summary = _read_json(run_dir / "summary.json")
    info = _read_json(run_dir / "run.json")
    quick_yaml = str(assignment.quick_config)
    argv = [str(a) for a in info.get("argv", [])]
    quick = run_dir.name.startswith("quick-") or any(
        a.endswith(("quick.yaml", quick_yaml)) for a in argv
    )
    check = CheckpointCheck(
        ckpt=ckpt,
        run=run_dir.name,
        quick=quick,
        epochs=summary.get("epochs"),
        max_epochs=_max_epochs(run_dir),
        stopped_by=summary.get("stopped_by"),
        headline=None,
    )
    if not summary:
        check.warnings.append(
            "this run has no summary.json: it was interrupted or is still training; its "
            f"metrics are unknown (finish it: python -m {assignment.name}.train --run.name "
            f"{run_dir.name} --run.resume last)"
        )
    if quick:
        check.warnings.append(
            "a QUICK checkpoint: trained for seconds to a minute, it is much weaker than the "
            f"model card's; train the default first (`portfolio train {assignment.name}`)"
        )
    elif (
        check.epochs is not None
        and check.max_epochs
        and check.epochs < check.max_epochs
        and check.stopped_by not in ("early stopping", None)
    ):
        check.warnings.append(
            f"cut short: {check.epochs} of {check.max_epochs} epochs (stopped by "
            f"{check.stopped_by})"
        )
    head = assignment.headline
    if head is not None and summary:
        value = headline_value(summary, head.key)
        check.headline = (head.label, value, head.card)
        worse_by = 1.0 if assignment.mode == "max" else -1.0  # times (card - value)
        if value is None:
            check.warnings.append(f"{head.label} is missing from this run's summary")
        elif worse_by * (head.card - value) > head.tolerance:
            check.warnings.append(
                f"{head.label} {format_value(value)} is far from the model card's "
                f"{format_value(head.card)}: this demo shows a weaker model than the card "
                "describes"
            )
    return check


def draw(seed: int | None, name: str | None = None) -> Assignment:
    """The installed assignment `name`, or the one the oral exam draws with `seed` (random where
    None): `portfolio exam --seed` and the app's Exam tab draw the same."""
    ready = {n: a for n, a in registry.available().items() if isinstance(a, Assignment)}
    if not ready:
        raise UserError("no assignment is installed; nothing to examine")
    if name is not None and name not in ready:
        raise UserError(f"{name} is not installed; choose {sorted(ready)}")
    return ready[name or random.Random(seed).choice(sorted(ready))]


def python_command() -> str:
    """`python` where that is this interpreter (an activated venv), else its full path."""
    found = shutil.which("python")
    if found and os.path.realpath(found) == os.path.realpath(sys.executable):
        return "python"
    return sys.executable


def demo_command(assignment: Assignment, demo_args: list[str]) -> str:
    """The demo as one line a shell runs as printed (quoted with shlex)."""
    module = assignment.demo.split(":")[0]
    return shlex.join([python_command(), "-m", module, *demo_args])


def reading_order(assignment: Assignment) -> list[Path]:
    """The assignment's code files in the order to open them (the STYLE layout), existing only."""
    names = [
        "config.py", "features.py", "audio.py", "strokes.py", "midi.py", "rules.py", "data.py",
        "model.py", "module.py", "train.py", "demo.py", "write.py", "compose.py", "play.py",
        "evaluate.py",
    ]  # fmt: skip
    root = assignment.package_dir
    files = [root / n for n in names if (root / n).is_file()]
    try:
        cwd = Path.cwd()
        return [p.relative_to(cwd) if p.is_relative_to(cwd) else p for p in files]
    except OSError:
        return files


def card_sections(path: Path) -> list[tuple[str, list[str]]]:
    """A model card's headings (`#` lines) each with the lines below it, in order; the one parser
    of the cards (`portfolio exam` and `list` summarise them, the report quotes sections)."""
    sections: list[tuple[str, list[str]]] = [("", [])]  # what stands before the first heading
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            sections.append((line, []))
        else:
            sections[-1][1].append(line)
    return sections


def is_prose(line: str) -> bool:
    """A card line that is text: not blank, not a table row."""
    return bool(line.strip()) and not line.startswith("|")


def model_card_summary(path: Path, max_lines: int = 4) -> str:
    """The model card's title and the first lines of each section, ending at a sentence's end
    (a sentence longer than the lines allowed ends in "...")."""
    if not path.is_file():
        return f"(no model card at {path})"
    out: list[str] = []
    for heading, body in card_sections(path):
        title = heading.lstrip("# ")
        if heading:
            out.append(title.upper() if heading.startswith("# ") else title)
        taken = 0
        for line in body:
            if not is_prose(line):
                if taken and _ends_sentence(out[-1]):
                    break
                continue
            out.append("  " + re.sub(r"\s+", " ", line.strip()))
            taken += 1
            if taken >= max_lines and _ends_sentence(out[-1]):
                break
            if taken >= max_lines + 3:  # a very long sentence: cut it visibly
                out[-1] += " ..."
                break
        else:
            if taken and not _ends_sentence(out[-1]):
                out[-1] += " ..."
    return "\n".join(out)


def _ends_sentence(line: str) -> bool:
    return line.rstrip().endswith((".", ":", "!", "?", ")", "*", "..."))
