"""What every demo and evaluate entry point shares: where default outputs go, and help text that
shows defaults and keeps the module docstring's line breaks (examples stay one per line)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from common.paths import runs_root


def demo_dir(assignment: str) -> Path:
    """A fresh folder for a demo's outputs: runs/demo/<assignment>/<timestamp>/ (not created).

    Demos write here unless `-o`/`--out` says otherwise, so nothing lands in the current folder
    and one demo never overwrites another's files.
    """
    return runs_root() / "demo" / assignment / datetime.now().strftime("%Y%m%d-%H%M%S-%f")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """--help with the description as written and each option's default (where it has one)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" not in text
            and action.default is not None
            and action.default is not False
            and action.default != argparse.SUPPRESS
            and action.option_strings
        ):
            text += " (default: %(default)s)"
        return text


def description(doc: str | None) -> str:
    """A module docstring as the --help description: whole (not cut mid-sentence)."""
    return (doc or "").strip()
