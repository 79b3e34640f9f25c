"""What every `benchmarks/<assignment>.py` prints the same way: the machine it ran on, and one
verdict table (figure | target | measured | verdict) whose missed targets set the exit status."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Check:
    """One row of the verdict table.

    Args:
        figure: what was measured, e.g. "default training wall time".
        measured: the figure as printed, e.g. "78.8 s" or "0.951 (0.94-0.96, n=3)".
        target: the issue's target, e.g. "<= 120 s"; "" for a figure that is only reported.
        ok: whether the target is met; None for a reported figure.
        required: False for an aim beyond the target: printed, but no reason to exit 1.
    """

    figure: str
    measured: str
    target: str = ""
    ok: bool | None = None
    required: bool = True


def check(
    figure: str,
    value: float,
    limit: float,
    kind: str,
    fmt: str = ".4g",
    unit: str = "",
    measured: str | None = None,
) -> Check:
    """A row comparing `value` with `limit`: kind "max" (at or below; "max<" strictly below) or
    "min" (at or above). `measured` replaces the printed value (e.g. a mean with its spread)."""
    ok = {"max": value <= limit, "max<": value < limit, "min": value >= limit}[kind]
    sign = {"max": "<=", "max<": "<", "min": ">="}[kind]
    unit = f" {unit}" if unit else ""
    return Check(figure, measured or f"{value:{fmt}}{unit}", f"{sign} {limit:g}{unit}", ok)


def cpu_line() -> str:
    """The shared CPU-class line (`shared/tools/cpu_class.py` beside the checkout, or above a
    worktree), else what Python knows about the CPU."""
    tools = [p / "shared" / "tools" / "cpu_class.py" for p in ROOT.parents]
    tool = next((t for t in tools if t.is_file()), None)
    if tool:
        done = subprocess.run([sys.executable, str(tool)], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[-1]
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} threads"


def print_machine() -> None:
    """The CPU line and the load average, printed before anything is measured."""
    load = os.getloadavg()
    print(f"CPU: {cpu_line()}")
    print(f"load average: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)", flush=True)


def verdict(checks: Sequence[Check], title: str) -> int:
    """Print the verdict table as Markdown and a last line saying which targets were missed;
    return the exit status: 1 when a required target is missed, else 0."""
    rows = [("figure", "target", "measured", "verdict")]
    for c in checks:
        word = "-" if c.ok is None else "pass" if c.ok else "MISS"
        rows.append(
            (c.figure, c.target or "-", c.measured, word + ("" if c.required else " (aim)"))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"\n{title}\n")
    for i, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
        if i == 0:
            print("| " + " | ".join("-" * w for w in widths) + " |")
    missed = [c.figure for c in checks if c.ok is False and c.required]
    targets = sum(c.ok is not None and c.required for c in checks)
    if missed:
        print(f"\nverdict: {len(missed)} of {targets} targets missed: {'; '.join(missed)}")
    else:
        print(f"\nverdict: all {targets} targets met")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}", flush=True)
    return 1 if missed else 0
