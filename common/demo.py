"""What every demo and evaluate entry point shares: where default outputs go, and help text that
shows defaults and keeps the module docstring's line breaks (examples stay one per line)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from common.errors import UserError, entry_point
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


def command_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of `python -m <module>`: the module's whole docstring as its description, each
    option's default in --help (HelpFormatter)."""
    return argparse.ArgumentParser(
        prog=f"python -m {module}", description=(doc or "").strip(), formatter_class=HelpFormatter
    )


def subcommand_main(name: str, doc: str, add_arguments: Callable, run: Callable) -> Callable:
    """`main(argv)` of `portfolio <name>` run alone (`python -m common.<name>`): parses `argv`
    with `add_arguments` and returns `run(args)`, the exit code."""

    @entry_point
    def main(argv: list[str] | None = None) -> int:
        parser = argparse.ArgumentParser(prog=f"portfolio {name}", description=doc.split("\n")[0])
        return run(add_arguments(parser).parse_args(argv))

    return main


def number(low: float | None = None, high: float | None = None, integer: bool = False):
    """An argparse type: a finite number (int if `integer`) within [low, high], with a message
    that names the range otherwise (nan, inf and negative sizes end here, not in a traceback)."""

    def parse(text: str) -> float | int:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r}: give a finite number")
        if (low is not None and value < low) or (high is not None and value > high):
            span = (
                f"from {low:g} to {high:g}"
                if low is not None and high is not None
                else f"at least {low:g}"
                if low is not None
                else f"at most {high:g}"
            )
            raise argparse.ArgumentTypeError(f"{text}: give a value {span}")
        return value

    return parse


def text(value: str) -> str:
    """An argparse type: text with something in it besides spaces."""
    if not value.strip():
        raise argparse.ArgumentTypeError("the text is empty; give some words")
    return value


def writable(
    path: Path | str, what: str = "output", is_folder: bool = False, flag: str = "-o/--out"
) -> Path:
    """`path` if a file can be written there (its folder is created), else UserError saying why
    and which `flag` to change; checked before any work is done, so a read-only place fails at
    once, not after minutes. `path` is taken as a folder where it has no suffix or `is_folder`
    says so (an --out DIR)."""
    path = Path(path)
    folder = path if is_folder or path.suffix == "" else path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(
            f"cannot create the {what} folder {folder} ({err.strerror}); choose another "
            f"place with {flag}"
        ) from None
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(
            f"{path if path.exists() else folder} is not writable; choose another place with {flag}"
        )
    return path


def tidy(value: Any, digits: int = 7) -> Any:
    """For printing: floats to `digits` significant digits, NaN and infinities as None (strict
    JSON has no NaN), containers walked."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: tidy(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [tidy(v, digits) for v in value]
    return value


def json_text(value: Any) -> str:
    """What every evaluate prints: indented, strict JSON of the tidied value."""
    return json.dumps(tidy(value), indent=2, allow_nan=False, default=str)


def progress(total: int, unit: str, label: str = "") -> Callable[[int], None]:
    """A progress reporter for long work: call it with the amount done (as often as you like);
    it prints a line to stderr at every tenth of `total`, with the time taken and left."""
    start, next_tenth = time.perf_counter(), 1

    def report(done: int) -> None:
        nonlocal next_tenth
        if done * 10 < next_tenth * total or done <= 0:
            return
        next_tenth = done * 10 // total + 1
        took = time.perf_counter() - start
        left = took * (total - done) / done
        print(f"  {label}{done:,} of {total:,} {unit} ({took:.0f} s, about {left:.0f} s left)",
              file=sys.stderr, flush=True)  # fmt: skip

    return report
