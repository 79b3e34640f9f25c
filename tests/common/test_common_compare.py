"""The coding-experiment comparison on three configurations of the tiny module."""

import csv
from pathlib import Path

import pytest

from common.compare import compare
from tests.common.tiny import main

EXPERIMENTS = Path(__file__).parent / "configs" / "experiments"


def test_compare_three_configurations(runs):
    configs = sorted(EXPERIMENTS.glob("*.yaml"))
    out = compare("tiny", configs, main, extra_args=["--trainer.max_epochs", "6"])
    rows = list(csv.DictReader((out / "comparison.csv").open()))
    assert [r["config"] for r in rows] == ["frozen_es", "large", "small"]
    by = {r["config"]: r for r in rows}
    assert by["frozen_es"]["epochs"] == "3" and by["frozen_es"]["early_stopped"] == "True"
    assert by["large"]["epochs"] == by["small"]["epochs"] == "6"
    for r in rows:
        assert r["status"] == "ok" and float(r["wall_time_s"]) > 0
        gap = float(r["final_val_loss"]) - float(r["final_train_loss"])
        assert float(r["overfit_gap"]) == pytest.approx(gap)
    # the frozen run (lr 0) learns nothing; the others do
    assert float(by["large"]["best"]) < float(by["frozen_es"]["best"])
    md = (out / "comparison.md").read_text()
    assert "| large |" in md and "Best val/loss" in md and "comparison.png" in md
    assert (out / "comparison.png").stat().st_size > 1000


def test_compare_reports_a_failed_configuration(runs, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  nan_at_step: 0\n")
    good = EXPERIMENTS / "small.yaml"
    out = compare("tiny", [good, bad], main, extra_args=["--trainer.max_epochs", "1"])
    rows = {r["config"]: r for r in csv.DictReader((out / "comparison.csv").open())}
    assert rows["small"]["status"] == "ok"
    assert "step 0" in rows["bad"]["status"]


def test_compare_needs_existing_files(runs, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        compare("tiny", [tmp_path / "missing.yaml", EXPERIMENTS / "small.yaml"], main)
