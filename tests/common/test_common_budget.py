"""--run.budget: the run fits the minutes it is given and ends with its schedule's final LR."""

import json
import math
import time

import pytest

from common.budget import plan_steps
from tests.common.tiny import main


def _brute_force_plan(step, native, spe, step_s, boundary_s, left):
    best = step
    for total in range(step + 1, native + 1):
        ends = sum(1 for s in range(step, total + 1) if s >= 1 and s % spe == 0)
        ends += total % spe != 0
        if (total - step) * step_s + ends * boundary_s <= left:
            best = total
    return best


@pytest.mark.parametrize("step", [0, 1, 7, 8, 9])
@pytest.mark.parametrize("left", [0.0, 0.5, 3.3, 10.0, 1e6])
def test_plan_counts_steps_and_epoch_boundaries_like_a_loop(step, left):
    args = (step, 60, 8, 0.1, 0.45, left)
    assert plan_steps(*args) == _brute_force_plan(*args)
    endless = max([step] + [t for t in range(step + 1, 61) if (t - step) * 0.1 + 0.45 <= left])
    assert plan_steps(step, 60, math.inf, 0.1, 0.45, left) == endless  # one boundary at the end


def _final_lr(cli):
    config = cli.trainer.lr_scheduler_configs[0]
    return config.scheduler.last_epoch, cli.trainer.optimizers[0].param_groups[0]["lr"]


def test_budget_ends_in_time_with_the_step_schedule_annealed(runs):
    """2,000 steps of 20 ms would take 40 s and more; the budget is 12 s, all included."""
    start = time.monotonic()
    cli = main([
        "--run.name", "budget", "--model.schedule", "cosine", "--model.step_sleep", "0.02",
        "--trainer.max_epochs", "500", "--run.budget", "0.2",
    ])  # fmt: skip
    took = time.monotonic() - start
    assert took <= 12.0, f"the run took {took:.1f} s of a 12 s budget"
    steps, lr = _final_lr(cli)
    budget = cli.summary["budget"]
    assert budget["native_steps"] == 2000 and steps == 2000  # the whole schedule was walked
    assert lr == pytest.approx(1e-4, rel=1e-6)  # CosineAnnealingLR's eta_min: lr / 100
    assert 40 <= cli.trainer.global_step == budget["planned_steps"] < 2000
    assert took >= 5.0, f"{took:.1f} s: most of the budget should be used"


def test_budget_anneals_an_epoch_schedule_to_its_final_value(runs):
    start = time.monotonic()
    cli = main([
        "--run.name", "budget-epochs", "--model.schedule", "exponential",
        "--model.step_sleep", "0.05", "--trainer.max_epochs", "40", "--run.budget", "0.1",
    ])  # fmt: skip
    assert time.monotonic() - start <= 6.0
    epochs, lr = _final_lr(cli)
    assert epochs == 40 and lr == pytest.approx(1e-2 * 0.5**40, rel=1e-6)
    assert cli.trainer.current_epoch < 40


def test_a_budget_that_the_run_fits_in_changes_nothing(runs):
    cli = main(["--run.name", "roomy", "--model.schedule", "cosine", "--trainer.max_epochs", "3",
                "--run.budget", "5"])  # fmt: skip
    assert cli.trainer.global_step == 12 and _final_lr(cli) == (12, pytest.approx(1e-4))


def test_a_budget_spent_before_training_stops_at_once_annealed(runs):
    cli = main(["--run.name", "spent", "--model.schedule", "cosine", "--trainer.max_epochs", "50",
                "--run.budget", "0.001"])  # fmt: skip
    assert cli.trainer.global_step < 20 and _final_lr(cli) == (200, pytest.approx(1e-4))


@pytest.mark.parametrize("value", ["0", "-3"])
def test_a_budget_that_is_not_positive_says_what_to_give(runs, value):
    with pytest.raises(SystemExit, match="--run.budget .*positive number"):
        main(["--run.budget", value])


def test_a_shared_budget_goes_by_shares_and_passes_on_what_a_run_did_not_need():
    from types import SimpleNamespace

    from common.portfolio import budget_share

    a, b, c, d = (SimpleNamespace(budget_share=w) for w in (6, 25, 8, 3))
    assert budget_share(30, 0, a, [a, b, c, d]) == pytest.approx(30 * 6 / 42)
    # the first run needed 60 s of its 4.3 minutes: the other three share the 29 left
    assert budget_share(30, 60, b, [b, c, d]) == pytest.approx(29 * 25 / 36)
    assert budget_share(30, 29 * 60, d, [d]) == pytest.approx(1.0)


def test_portfolio_train_all_with_a_budget(runs, monkeypatch, capsys):
    from common import portfolio, registry
    from tests.common import tiny

    monkeypatch.setattr(registry, "NAMES", ("tiny",))
    monkeypatch.setattr(registry, "get", lambda name: tiny.assignment())
    start = time.monotonic()
    code = portfolio.main([
        "train", "all", "--budget", "0.2", "--run.name", "shared", "--model.schedule", "cosine",
        "--model.step_sleep", "0.02", "--trainer.max_epochs", "500",
    ])  # fmt: skip
    assert code == 0 and time.monotonic() - start <= 12.0 + 3.0  # + the report
    assert "0.2 of the 0.2 minutes" in capsys.readouterr().out
    summary = json.loads((runs / "tiny" / "shared" / "summary.json").read_text())
    assert summary["budget"]["minutes"] == pytest.approx(0.2)
    assert summary["budget"]["planned_steps"] < summary["budget"]["native_steps"] == 2000
    with pytest.raises(SystemExit, match="positive"):
        portfolio.main(["train", "all", "--budget", "0"])


def test_budget_with_several_optimizer_steps_per_batch(runs):
    """Manual optimization (blackjack runs 10 DQN updates per Lightning step): the plan and the
    schedule count optimizer steps, not batches."""
    start = time.monotonic()
    cli = main([
        "--run.name", "manual", "--model.schedule", "cosine", "--model.manual_steps", "5",
        "--model.step_sleep", "0.05", "--trainer.max_epochs", "300", "--run.budget", "0.2",
    ])  # fmt: skip
    took = time.monotonic() - start
    assert took <= 12.0, f"the run took {took:.1f} s of a 12 s budget"
    budget = cli.summary["budget"]
    assert budget["native_steps"] == 300 * 4 * 5
    steps, lr = _final_lr(cli)
    assert steps == 6000 and lr == pytest.approx(1e-4, rel=1e-6)
    assert cli.trainer.global_step == budget["planned_steps"] < 6000
    assert cli.trainer.global_step % 5 == 0  # a batch's steps are not split


def test_resuming_a_finished_budget_run_trains_nothing_more(runs):
    args = ["--run.name", "again", "--model.schedule", "cosine", "--model.step_sleep", "0.02",
            "--trainer.max_epochs", "500", "--run.budget", "0.1"]  # fmt: skip
    first = main(args)
    steps = first.trainer.global_step
    assert _final_lr(first) == (2000, pytest.approx(1e-4))
    again = main([*args, "--run.resume", "last"])
    assert again.trainer.global_step == steps
    assert _final_lr(again) == (2000, pytest.approx(1e-4))  # the schedule did not restart
