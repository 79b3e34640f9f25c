"""summary.json: what a finished run reached (best score, epochs, wall time, why it stopped,
test metrics, the module's own extra figures), after its learning curves and artifacts."""

from __future__ import annotations

import time
from typing import Any

import torch
from lightning.pytorch.callbacks import EarlyStopping, Timer

from common.budget import BudgetPlanner
from common.checkpoints import load_checkpoint
from common.runs import read_metrics, write_json


def stopped_by(trainer) -> str:
    """Why fit ended: "early stopping", "time limit" (trainer.max_time), "budget"
    (--run.budget), "max_steps" or "max_epochs"."""
    for callback in trainer.callbacks:
        if isinstance(callback, EarlyStopping) and callback.stopped_epoch > 0:
            return "early stopping"
        if isinstance(callback, Timer) and (callback.time_remaining() or 1.0) <= 0:
            return "time limit"
        if isinstance(callback, BudgetPlanner) and "stopped_at_step" in callback.report:
            return "budget"
    if trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps:
        return "max_steps"
    return "max_epochs"


def write_summary(cli, wall: float, best: str | None, test_metrics: dict) -> dict[str, Any]:
    """Plot the learning curves, let the module write its artifacts (on the best weights) and
    write summary.json into the run folder of `cli` (a PortfolioCLI after fit); return it."""
    from common.plots import plot_learning_curves  # matplotlib: only once a run is done

    trainer, model, dm = cli.trainer, cli.model, cli.datamodule
    run_dir, run = cli.run_dir, cli.config.run
    epochs = read_metrics(run_dir / "metrics.csv")
    plot_learning_curves(epochs, run_dir / "learning_curves.png", run.monitor)
    extra: dict[str, Any] = {}
    if hasattr(model, "write_artifacts"):
        if best and not test_metrics:  # trainer.test already loaded the best weights
            model.load_state_dict(load_checkpoint(best, cli.assignment)["state_dict"])
        model.eval()
        with torch.no_grad():
            extra = model.write_artifacts(run_dir, dm) or {}
    last = {k: v for e in epochs for k, v in e.items() if not k.startswith("test/")}
    score = trainer.checkpoint_callback.best_model_score
    planner = next((c for c in trainer.callbacks if isinstance(c, BudgetPlanner)), None)
    used = {"used_s": round(time.monotonic() - cli.start, 2)}  # --run.budget: the plan, the time
    summary = {
        "assignment": cli.assignment,
        "run": cli.run_name,
        "run_dir": str(run_dir),
        "monitor": run.monitor,
        "mode": run.mode,
        "best_score": float(score) if score is not None else None,
        "best_checkpoint": best,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "wall_time_s": round(wall, 2),
        "early_stopped": bool(
            run.early_stopping and trainer.current_epoch < (trainer.max_epochs or 0)
        ),
        "stopped_by": cli.stopped_by,
        "final_train_loss": last.get("train/loss"),
        "final_val_loss": last.get("val/loss"),
        "test": test_metrics,
        "budget": {**planner.report, **used} if planner else None,
        "extra": {k: v for k, v in extra.items() if isinstance(v, (int, float, str))},
    }
    write_json(run_dir / "summary.json", summary)
    return summary
