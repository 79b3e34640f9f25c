"""Demos write under runs/demo/<assignment>/<time>/ unless -o says otherwise; --help shows
defaults; the shipped MIDI primes a composition whose piano roll marks where the prime ends."""

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRIME = ROOT / "music" / "examples" / "bach_bwv66.6_opening.mid"


@pytest.fixture(scope="module")
def music_run(tmp_path_factory):
    from music import train
    from tests.conftest import roots_under
    from tests.music.conftest import TINY, jsb_pickle

    with roots_under(tmp_path_factory.mktemp("music")) as root:
        pickle_path = jsb_pickle(root / "jsb.pickle")
        train.main(
            ["--data.source", "jsb", "--data.path", str(pickle_path), "--run.name", "t", *TINY]
        )
        yield root


def test_default_output_under_runs_demo_and_prime_marked(music_run, monkeypatch, tmp_path):
    from music import compose

    monkeypatch.chdir(tmp_path)  # nothing may land in the current folder
    marks = []
    real_plot = compose.plot_roll
    monkeypatch.setattr(
        compose,
        "plot_roll",
        lambda *a, **k: marks.append(k.get("prime_steps")) or real_plot(*a, **k),
    )
    first = compose.main(["--bars", "1", "--prime", str(PRIME)])
    second = compose.main(["--bars", "1"])
    assert list(tmp_path.iterdir()) == []
    for result in (first, second):
        assert Path(result["midi"]).parent.parent == music_run / "runs" / "demo" / "music"
    assert first["midi"] != second["midi"]  # a fresh folder each time: nothing overwritten
    assert marks[0] > 0 and marks[1] == 0
    explicit = compose.main(["--bars", "1", "-o", str(tmp_path / "mine.mid")])
    assert explicit["midi"] == str(tmp_path / "mine.mid")  # -o still wins


def test_help_shows_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # argparse's width, as in a process without a terminal
    for module, default in [
        ("music.compose", "(default: 16)"),
        ("handwriting.write", "(default: 1.5)"),
        ("blackjack.evaluate", "(default:"),
    ]:
        with pytest.raises(SystemExit):  # in-process, as tests/common/test_common_help.py asks
            importlib.import_module(module).main(["--help"])
        assert default in capsys.readouterr().out, module
