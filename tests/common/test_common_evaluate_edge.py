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
