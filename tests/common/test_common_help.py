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
DOCS = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *sorted(ROOT.glob("*/MODEL_CARD.md"))]
BLOCKS = [b for p in DOCS for b in re.findall(r"```\w*\n(.*?)```", p.read_text(), re.S)]


def documented_commands(module: str) -> list[list[str]]:
    """The arguments of each line that runs `module` (`python -m module ...`, and `portfolio
    ...` for common.portfolio) in the code blocks of the README, DEVELOPERS.md and the model
    cards, and in the module's docstring; a trailing `# comment` (or, in a docstring, text after
    two spaces) is not an argument."""
    prefixes = [f"python -m {module}"] + (["portfolio"] if module == "common.portfolio" else [])
    blocks = [*BLOCKS, importlib.import_module(module).__doc__ or ""]
    return [
        shlex.split(re.split(r"\s#|\s{2,}", line[len(prefix) :] + " ")[0])
        for block in blocks
        for raw in block.replace("\\\n", " ").splitlines()
        for line in (part.strip() for part in raw.split(" && "))  # one command each
        for prefix in prefixes
        if line == prefix or line.startswith(prefix + " ")
    ]


def assert_parses(module: str, commands: list[list[str]], capsys) -> None:
    parser = parser_of(module)
    for args in commands:
        try:
            parser.parse_args(args)
        except SystemExit as err:  # a bad option exits 2 (--help, --print_config: 0)
            assert err.code == 0, f"{module} {shlex.join(args)}: {capsys.readouterr().err}"


DOCUMENTED = [m for m in ENTRY_POINTS if documented_commands(m)]


def test_the_documented_commands_are_found():
    assert {f"{a}.train" for a in ASSIGNMENTS} | {"common.portfolio"} <= set(DOCUMENTED)
    assert ["--model.sab", "false", "--model.natural", "true"] in documented_commands(
        "blackjack.train"
    )  # from its docstring, the comment cut off


@pytest.mark.parametrize("module", DOCUMENTED)
def test_every_documented_command_parses(module, capsys):
    """A command in the README, DEVELOPERS.md, a model card or a docstring that names an option
    the code no longer has fails here, not in a student's hands."""
    assert_parses(module, documented_commands(module), capsys)


@pytest.mark.parametrize("package", ASSIGNMENTS)
def test_every_shipped_config_parses(package, capsys):
    configs = sorted((ROOT / package / "configs").rglob("*.yaml"))
    assert len(configs) >= 3  # default, quick and the experiments
    assert_parses(f"{package}.train", [["--config", str(c)] for c in configs], capsys)


def test_a_command_with_an_unknown_option_does_not_parse(capsys):
    with pytest.raises(SystemExit) as err:
        parser_of("handwriting.train").parse_args(["--model.alphabet", "abc"])  # linked: --data
    assert err.value.code == 2
    assert '"model.alphabet" must be given via "data.alphabet"' in capsys.readouterr().err
