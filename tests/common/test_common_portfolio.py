"""The `portfolio` command: help, list, the error paths, and train/compare/demo/exam/report
end to end on the tiny fixture assignment."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from common import portfolio, registry
from tests.common import tiny

EXPERIMENTS = Path(__file__).parent / "configs" / "experiments"
COMMANDS = ["list", "train", "compare", "demo", "evaluate", "exam", "report", "app", "export"]


def list_rows(out: str) -> list[tuple[str, str, str, str]]:
    """`portfolio list`'s table as (assignment, title, installed, latest run) rows."""
    lines = out.splitlines()
    assert lines[0].split() == ["assignment", "title", "installed", "latest", "run"]
    return [re.fullmatch(r"(\S+) +(.+?) +(yes|no) +(.+)", line).groups() for line in lines[1:]]


@pytest.fixture
def tiny_registry(monkeypatch, runs):
    """Registry holding the tiny assignment and one that is not installed ("ghost")."""
    real_get = registry.get

    def get(name):
        return tiny.assignment() if name == "tiny" else real_get(name)

    monkeypatch.setattr(registry, "NAMES", ("tiny", "ghost"))
    monkeypatch.setattr(registry, "get", get)
    return runs


def test_help_lists_every_command(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # argparse's width, as in a process without a terminal
    with pytest.raises(SystemExit) as exit_:
        portfolio.main(["--help"])  # in-process: `python -m common.portfolio` is run elsewhere
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert re.search(r"\{([a-z,]+)\}", out).group(1).split(",") == COMMANDS
    described = re.findall(r"^    ([a-z]+) +\S", out, re.M)  # one help line each
    assert described == COMMANDS


def test_the_portfolio_command_starts_without_torch_lightning_or_matplotlib():
    # `portfolio --help` took 5 s when common.runs imported Lightning for its CSV logger
    heavy = "{'torch', 'lightning', 'matplotlib'}"
    code = f"import sys, common.portfolio; print(sorted({heavy} & set(sys.modules)))"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True)
    assert out.stdout.decode().strip() == "[]", out.stderr.decode()


def test_list_real_registry(capsys, runs):
    assert portfolio.main(["list"]) == 0
    assert list_rows(capsys.readouterr().out) == [
        (name, registry.get(name).title, "yes", "not trained") for name in registry.NAMES
    ]


def test_unknown_assignment_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        portfolio.main(["train", "nosuch"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_unavailable_assignment_is_reported_not_raised(tiny_registry, capsys):
    assert portfolio.main(["list"]) == 0
    assert list_rows(capsys.readouterr().out) == [
        ("tiny", "Tiny regression", "yes", "not trained"),
        ("ghost", "-", "no", "unavailable: assignment 'ghost' is not available in this "
         "installation (No module named 'ghost'); it may not have landed yet"),
    ]  # fmt: skip
    with pytest.raises(SystemExit, match="'ghost' is not available"):
        portfolio.main(["demo", "ghost"])
    assert portfolio.main(["train", "ghost"]) == 1
    assert "skipping ghost" in capsys.readouterr().err


def test_demo_without_checkpoint_says_train_first(tiny_registry):
    with pytest.raises(SystemExit, match="train one first: `portfolio train tiny`"):
        portfolio.main(["demo", "tiny"])


def test_exam_trains_quick_then_demos_and_report(tiny_registry, capsys):
    assert portfolio.main(["exam", "--seed", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    draw = lines.index("== The draw: Tiny regression (tiny)")
    assert lines[draw + 1 : draw + 8] == [  # the model card's summary, then the code
        "",
        "MODEL CARD: TINY REGRESSION (TEST FIXTURE)",
        "Intended use",
        "  Exercising the portfolio machinery in tests.",
        "Ethical impact",
        "  None: synthetic numbers.",
        "",
    ]
    assert "== No tiny checkpoint yet: training a quick one first (about a minute) ..." in lines
    assert len([x for x in lines if re.fullmatch(r"tiny demo prediction: -?\d+\.\d+", x)]) == 1
    # a second exam finds the checkpoint and trains nothing
    assert portfolio.main(["exam", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "training a quick one" not in out and "Latest metrics" in out
    assert portfolio.main(["report"]) == 0
    md = (tiny_registry / "report.md").read_text()
    assert "Tiny regression" in md and "learning_curves" in md and "test/loss" in md
    assert "ghost" in md and "Unavailable" in md
    assert "<img" in (tiny_registry / "report.html").read_text()


def test_exam_exits_with_the_demo_s_verdict(tiny_registry, monkeypatch, capsys):
    """`portfolio exam --assignment speech --wav notes.txt`: the speech demo printed that it
    could not classify the file and returned 1, and the exam exited 0 all the same."""
    assert portfolio.main(["exam", "--seed", "1"]) == 0  # trains the quick run; the demo works
    monkeypatch.setattr(registry.Assignment, "run_demo", lambda self, argv: 1)
    assert portfolio.main(["exam", "--seed", "1"]) == 1


TEXT = "words to write (handwriting) or to speak and recognise (speech)"
LISTEN = "give the seconds to listen, a positive number, e.g. --listen 10"


@pytest.mark.parametrize(
    "option, value, message",
    [("--text", "", f"--text is empty; give {TEXT}, or leave --text out for the prepared input"),
     ("--text", "  ", f"--text is empty; give {TEXT}, or leave --text out for the prepared input"),
     ("--wav", "", "--wav is empty; give a recording to recognise (speech), or leave --wav out "
      "for the prepared input"),
     # speech.demo refused these after the draw, as `--seconds` (which the examiner never typed)
     ("--listen", "abc", f"--listen abc: {LISTEN}"),
     ("--listen", "0", f"--listen 0: {LISTEN}"),
     ("--listen", "nan", f"--listen nan: {LISTEN}")],
)  # fmt: skip
def test_exam_refuses_an_empty_or_unusable_examiner_input(
    option, value, message, tiny_registry, capsys
):
    """`portfolio exam --text ''` quietly ran the demo on the prepared text (and '  ' reached the
    demo after the draw and a quick training); refused before the draw with exit 2, as is a
    --listen that is not a number of seconds."""
    with pytest.raises(SystemExit) as stop:
        portfolio.main(["exam", "--seed", "1", option, value])
    captured = capsys.readouterr()
    assert stop.value.code == 2 and captured.err == f"error: {message}\n"
    assert captured.out == ""  # nothing drawn, nothing trained
    assert not (tiny_registry / "tiny").exists()


def test_exam_draw_is_fixed_by_seed(monkeypatch):
    names = ["blackjack", "handwriting", "music", "speech"]
    draws = {s: __import__("random").Random(s).choice(names) for s in range(20)}
    assert len(set(draws.values())) > 1  # the seed matters
    assert draws == {s: __import__("random").Random(s).choice(names) for s in range(20)}


def test_train_all_and_compare_via_command(tiny_registry, capsys):
    assert portfolio.main(["train", "all", "--quick"]) == 1  # ghost could not be trained
    assert list((tiny_registry / "tiny").glob("quick-*/summary.json"))
    assert (tiny_registry / "report.md").exists()  # train all writes the report
    assert portfolio.main(["compare", "tiny", "--quick"]) == 0
    assert list((tiny_registry / "tiny").glob("compare-*/comparison.csv"))


def test_report_tells_the_story_and_shows_comparisons_as_tables(tiny_registry, capsys):
    assert portfolio.main(["train", "tiny", "--quick"]) == 0
    assert portfolio.main(["compare", "tiny", "--quick", "--no-baseline",
                           *map(str, sorted(EXPERIMENTS.glob("*.yaml"))[:2])]) == 0  # fmt: skip
    assert portfolio.main(["report"]) == 0
    md = (tiny_registry / "report.md").read_text()
    assert "**Data.**" in md and "This run used: n=256" in md
    assert "**The run shown.** `quick-" in md and "a QUICK run" in md and "**Warning.**" in md
    assert "| config | time (s) |" in md and "| frozen_es |" in md  # the table, not only a link
    html = (tiny_registry / "report.html").read_text()
    assert "<strong>The run shown.</strong>" in html and "<td>frozen_es</td>" in html
