"""Every option of every entry point says what it does in `--help`, in one line.

The entry points are found, not listed: every module of the packages (and every benchmark
script) that runs as `python -m <module>` (it has a `__main__` block) is asked for `--help`, and
its parser, with each subcommand's, is walked.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("common", "speech", "handwriting", "music", "blackjack", "benchmarks")
ENTRY_POINTS = sorted(
    f"{path.parent.name}.{path.stem}"
    for package in FOLDERS
    for path in (ROOT / package).glob("*.py")
    if re.search(r"^if __name__ == .__main__.:", path.read_text(), re.M)
)


class _Parsed(Exception):
    """Raised instead of printing the help: the parser has been built."""


def parser_of(module: str) -> argparse.ArgumentParser:
    """The parser `python -m module --help` prints (argparse or jsonargparse)."""
    seen: list[argparse.ArgumentParser] = []

    def grab(parser, *args, **kwargs):
        seen.append(parser)
        raise _Parsed

    main = importlib.import_module(module).main
    with mock.patch.object(argparse.ArgumentParser, "print_help", grab), pytest.raises(_Parsed):
        main(["--help"])
    return seen[0]


def undescribed(parser: argparse.ArgumentParser, prog: str) -> list[str]:
    """'prog option' for each option (or subcommand) without a one-line description."""
    bad = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if not (helps.get(name) or "").strip():
                    bad.append(f"{prog} {name} (subcommand)")
                bad += undescribed(sub, f"{prog} {name}")
        elif action.help != argparse.SUPPRESS:
            text = (action.help or "").strip()
            if not text or "\n" in text:
                bad.append(f"{prog} {'/'.join(action.option_strings) or action.dest}")
    return bad


def test_the_entry_points_are_found():
    for module in ("speech.train", "music.evaluate", "handwriting.write", "blackjack.play"):
        assert module in ENTRY_POINTS
    assert "common.portfolio" in ENTRY_POINTS
    assert {"benchmarks.speech", "benchmarks.app"} <= set(ENTRY_POINTS)


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_option_has_a_one_line_description(module):
    assert undescribed(parser_of(module), module) == []


def test_the_walk_finds_an_option_without_a_description():
    parser = argparse.ArgumentParser()
    parser.add_argument("--described", help="says what it does")
    parser.add_argument("--bare")
    sub = parser.add_subparsers().add_parser("cmd")
    sub.add_argument("--deep", help="two\nlines")
    assert undescribed(parser, "x") == ["x --bare", "x cmd (subcommand)", "x cmd --deep"]


def test_train_help_is_short_and_hidden_trainer_options_still_parse(capsys):
    from blackjack.train import main

    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "--model.double_dqn" in text and "--run.budget" in text
    assert "--trainer.max_epochs" in text
    assert "--trainer.sync_batchnorm" not in text  # listed in neither usage nor options
    assert "--optimizer" not in text and "--lr_scheduler" not in text  # modules bring their own
    assert "--data" not in text  # the agent has no data module
    assert len(text.splitlines()) < 300
    with pytest.raises(SystemExit):
        main(["--trainer.sync_batchnorm", "false", "--print_config"])
    assert "sync_batchnorm: false" in capsys.readouterr().out


ASSIGNMENTS = ("speech", "handwriting", "music", "blackjack")


def documented_train_commands(package: str) -> list[list[str]]:
    """The arguments of each `python -m <package>.train ...` line in the code blocks of the
    README, DEVELOPERS.md and the package's model card, and in its train.py docstring."""
    texts = [ROOT / "README.md", ROOT / "DEVELOPERS.md", ROOT / package / "MODEL_CARD.md"]
    blocks = [m for p in texts for m in re.findall(r"```\w*\n(.*?)```", p.read_text(), re.S)]
    blocks.append(importlib.import_module(f"{package}.train").__doc__)
    prefix = f"python -m {package}.train"
    return [
        shlex.split(line.strip()[len(prefix) :].split("#")[0])
        for block in blocks
        for line in block.splitlines()
        if line.strip().startswith(prefix)
    ]


@pytest.mark.parametrize("package", ASSIGNMENTS)
def test_every_shipped_config_and_documented_train_command_parses(package, capsys):
    """A config file or a documented command that names an option the code no longer has
    fails here, not in a student's hands."""
    parser = parser_of(f"{package}.train")
    configs = sorted((ROOT / package / "configs").rglob("*.yaml"))
    commands = documented_train_commands(package)
    assert configs and commands
    for args in [["--config", str(c)] for c in configs] + commands:
        try:
            parser.parse_args(args)
        except SystemExit as err:  # jsonargparse exits 2 on a bad option (--print_config: 0)
            assert err.code == 0, f"{package}.train {' '.join(args)}: {capsys.readouterr().err}"


def test_a_command_with_an_unknown_option_does_not_parse(capsys):
    with pytest.raises(SystemExit) as err:
        parser_of("handwriting.train").parse_args(["--model.alphabet", "abc"])  # linked: --data
    assert err.value.code == 2
    assert '"model.alphabet" must be given via "data.alphabet"' in capsys.readouterr().err
