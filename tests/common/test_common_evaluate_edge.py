"""Every assignment's evaluate has the shared edge (common.evaluation): the same flags, and the
same report keys (the packages' own tests check their reports' contents)."""

import pytest

from common import evaluation, registry

# blackjack plays Gymnasium's environment: no data folder, splits or batches to choose
DATA_FLAGS = {"speech": True, "handwriting": True, "music": True, "blackjack": False}


@pytest.mark.parametrize("name", registry.NAMES)
def test_evaluate_takes_the_shared_flags(name, capsys):
    assignment = registry.get(name)
    with pytest.raises(SystemExit) as stop:
        assignment.run_evaluate(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    wanted = evaluation.FLAGS if DATA_FLAGS[name] else ("--ckpt", "--out")
    assert [flag for flag in wanted if f"  {flag} " not in text] == []
    assert "--out-dir" not in text and "--charts" not in text and "--batch_size" not in text


def test_the_report_has_the_shared_keys_and_is_written(tmp_path, capsys):
    report = evaluation.report("x", tmp_path / "a.ckpt", "d:val", {"m": 0.123456789}, {}, tmp_path)
    assert list(report) == list(evaluation.REPORT_KEYS)
    assert report["metrics"] == {"m": 0.1234568}  # as printed: 7 significant digits
    assert report["files"] == {"report": str(tmp_path / "evaluation.json")}
    assert (tmp_path / "evaluation.json").read_text().strip() == capsys.readouterr().out.strip()


@pytest.mark.parametrize("name", [n for n in registry.NAMES if DATA_FLAGS[n]])
@pytest.mark.parametrize("size", ["0", "-1"])
def test_a_batch_size_below_one_is_refused_by_the_parser(name, size, capsys):
    """--batch-size 0 or -1 ran into torch's DataLoader (speech: ValueError) or range()
    (handwriting: ValueError, ZeroDivisionError) with a traceback."""
    with pytest.raises(SystemExit) as stop:
        registry.get(name).run_evaluate(["--batch-size", size])
    assert stop.value.code == 2
    assert "--batch-size" in capsys.readouterr().err


def test_an_out_folder_that_is_a_file_is_refused_before_scoring(tmp_path):
    """--out notes.txt (an existing file) ended in FileExistsError once the figures were saved."""
    from common.errors import UserError

    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(UserError, match="cannot create the report folder"):
        evaluation.out_dir(notes, None)
    assert evaluation.out_dir(tmp_path / "new" / "eval.json", None).is_dir()  # a folder, made
