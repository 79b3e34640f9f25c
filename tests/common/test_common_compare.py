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
    assert [r["config"] for r in rows] == ["default", "frozen_es", "large", "small"]
    by = {r["config"]: r for r in rows}
    assert by["frozen_es"]["epochs"] == "3" and by["frozen_es"]["early_stopped"] == "True"
    assert by["frozen_es"]["stopped_by"] == "early stopping"
    assert by["large"]["epochs"] == by["small"]["epochs"] == by["default"]["epochs"] == "6"
    assert by["large"]["stopped_by"] == "max_epochs"
    for r in rows:
        assert r["status"] == "ok" and float(r["wall_time_s"]) > 0
        gap = float(r["final_val_loss"]) - float(r["final_train_loss"])
        assert float(r["overfit_gap"]) == pytest.approx(gap)
    # the frozen run (lr 0) learns nothing; the others do
    assert float(by["large"]["best"]) < float(by["frozen_es"]["best"])
    md = (out / "comparison.md").read_text()
    assert "| large |" in md and "Best val/loss" in md and "comparison.png" in md
    assert "| default |" in md and "baseline" in md and "early stopping" in md
    assert (out / "comparison.png").stat().st_size > 1000


def test_compare_reports_a_failed_configuration(runs, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  nan_at_step: 0\n")
    good = EXPERIMENTS / "small.yaml"
    typo = tmp_path / "typo.yaml"
    typo.write_text("model:\n  hiden: 3\n")
    out = compare(
        "tiny", [good, bad, typo], main, extra_args=["--trainer.max_epochs", "1"], baseline=False
    )
    rows = {r["config"]: r for r in csv.DictReader((out / "comparison.csv").open())}
    assert rows["small"]["status"] == "ok"
    assert rows["bad"]["status"] == "failed" and "step 0" in rows["bad"]["reason"]
    assert rows["typo"]["status"] == "failed" and "hiden" in rows["typo"]["reason"]
    md = (out / "comparison.md").read_text()
    assert "step 0" in md and "hiden" in md


def test_compare_needs_existing_files(runs, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        compare("tiny", [tmp_path / "missing.yaml", EXPERIMENTS / "small.yaml"], main)


def test_same_file_names_in_two_folders_get_two_rows(runs, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "exp.yaml").write_text(f"model:\n  hidden: {len(folder) + 3}\n")
    configs = [tmp_path / "a" / "exp.yaml", tmp_path / "b" / "exp.yaml"]
    out = compare("tiny", configs, main, extra_args=["--trainer.max_epochs", "1"], baseline=False)
    rows = list(csv.DictReader((out / "comparison.csv").open()))
    assert [r["config"] for r in rows] == ["a-exp", "b-exp"]
    assert len({r["run_dir"] for r in rows}) == 2
    assert all(Path(r["run_dir"], "summary.json").is_file() for r in rows)


def test_no_overfitting_pair_shows_no_gap(runs):
    configs = [EXPERIMENTS / "small.yaml"]
    out = compare("tiny", configs, main, extra_args=["--trainer.max_epochs", "1"], overfit=None)
    md = (out / "comparison.md").read_text()
    assert "gap" not in md.split("|")[1:] and "Largest overfitting gap" not in md
    assert "no train/validation pair" in md


def test_blackjack_declares_no_overfitting_pair_others_do():
    from common import registry

    assert registry.get("blackjack").overfit is None
    for name in ("speech", "handwriting", "music"):
        assert registry.get(name).overfit == ("train/loss", "val/loss")


def test_no_largest_overfitting_gap_is_named_when_no_run_overfits(tmp_path):
    """Issue 17: the summary named a 'largest overfitting gap' of -0.48 (blackjack) and of
    -0.088 (handwriting --quick): below zero no run overfits, and the reading says so."""
    from common.compare import write_comparison

    def row(config, train, val):
        run = tmp_path / "runs" / config
        run.mkdir(parents=True, exist_ok=True)
        (run / "metrics.csv").write_text(f"epoch,step,train/loss,val/loss\n0,9,{train},{val}\n")
        return {
            "config": config, "status": "ok", "monitor": "val/loss", "best": val,
            "wall_time_s": 1.0, "epochs": 1, "stopped_by": "max_epochs", "run_dir": str(run),
            "final_train_loss": train, "final_val_loss": val, "overfit_gap": val - train,
        }  # fmt: skip

    write_comparison([row("a", 2.8, 2.7), row("b", 2.8, 2.75)], tmp_path / "under", "min")
    md = (tmp_path / "under" / "comparison.md").read_text()
    assert "Largest overfitting gap" not in md
    assert "No run overfits" in md and "b's, is -0.05" in md
    write_comparison([row("a", 2.8, 2.7), row("b", 2.0, 2.5)], tmp_path / "over", "min")
    md = (tmp_path / "over" / "comparison.md").read_text()
    assert "- Largest overfitting gap: **b** (0.5)." in md and "No run overfits" not in md


def test_an_experiment_that_repeats_the_baseline_is_named(runs, tmp_path):
    """Issue 17 asks for the default as the baseline row; music's nade.yaml is the default
    already, so its row repeated the baseline's without a word. The reading now says so."""
    same = tmp_path / "same.yaml"
    same.write_text("model:\n  hidden: 16\n")  # the tiny module's default
    configs = [same, EXPERIMENTS / "small.yaml"]
    out = compare("tiny", configs, main, extra_args=["--trainer.max_epochs", "1"])
    md = (out / "comparison.md").read_text()
    assert "- same ran exactly the `default` row's configuration" in md
    assert "small ran" not in md
