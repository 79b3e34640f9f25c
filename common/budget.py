"""`--run.budget MINUTES`: plan a run to fit a time budget and still end annealed.

The default configs train a fixed number of epochs (the same seed gives the same model on every
CPU); a budget trades that for a deadline. `BudgetPlanner` times the steps, works out how many fit
in the minutes left (validation, checkpoints, test and artifacts included), stops there, and
compresses the module's own learning-rate schedule into them, so the run ends annealed instead of
cut mid-schedule; it re-plans as the machine speeds up or slows down. It never makes a run longer
than its config. ReduceLROnPlateau reacts to the metric, not to time, and is left alone.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

# Kept back for the work after the last step (test, plots): a share of the budget, a few seconds,
# TAIL_BOUNDARIES epoch boundaries (the test pass costs one again) and the set-up time (up to
# TAIL_SETUP_SHARE of the budget): loading and plotting after training are of its order.
TAIL_SHARE = 0.04
TAIL_SECONDS = 3.0
TAIL_BOUNDARIES = 2.0
TAIL_SETUP_SHARE = 0.1
WARMUP_STEPS = 2  # the first steps pay for lazy initialisation; not timed
MIN_TIMED_STEPS = 5
MIN_TIMED_SECONDS = 1.0
RECENT_BATCHES = 50  # the step time is the mean of the latest batches: it follows the load
REPLAN_SHARE = 0.05  # re-plan at every epoch boundary and whenever this share of the budget passed


def plan_steps(
    step: int,
    native_steps: int,
    steps_per_epoch: float,
    step_s: float,
    boundary_s: float,
    seconds_left: float,
) -> int:
    """The largest total step count in [step, native_steps] whose rest fits in seconds_left:
    `step_s` a step after `step` (steps done), `boundary_s` (validation, checkpoint, loader
    restart) at every end of an epoch of `steps_per_epoch` (inf: endless) and after the last."""

    def cost(total: int) -> float:
        if total <= step:
            return 0.0
        if math.isfinite(steps_per_epoch):
            spe = max(1, int(steps_per_epoch))
            ends = total // spe - (step - 1) // spe if step >= 1 else total // spe
            ends += total % spe != 0  # a mid-epoch stop still validates once
        else:
            ends = 1
        return (total - step) * step_s + ends * boundary_s

    totals = range(step + 1, max(step, native_steps) + 1)  # cost is monotone in total: bisect
    return step + bisect.bisect_right(totals, seconds_left, key=cost)


class BudgetPlanner(Callback):
    """Fits a run into `minutes` (counted from `start`, a `clock()` reading) and ends it annealed.

    The schedule's progress is a fraction of the full run: before the first plan it advances at
    the native rate (one scheduler step per step); after each plan it advances linearly so that
    it reaches 1 at the planned last step. Each step-interval scheduler is then stepped up to
    floor(fraction * its native step count), each epoch-interval one at every epoch's end
    (Lightning's own step counts towards both).
    """

    def __init__(
        self, minutes: float, start: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not minutes > 0:
            raise ValueError(f"--run.budget must be a positive number of minutes, not {minutes}")
        self.budget_s = 60.0 * minutes
        self.start = start
        self.clock = clock
        self.plan: int | None = None
        self.report: dict[str, Any] = {"minutes": minutes}
        self._anchor = (0, 0.0)  # (step, fraction) where the current plan began
        self._fraction = 0.0
        self._native_steps = 0
        self._batches = 0.0
        self._epoch_end: float | None = None
        self._boundary_guess = 0.0
        self._setup_s = 0.0

    # --- state saved in checkpoints, so that a resumed budget run continues the schedule ----
    def state_dict(self) -> dict[str, Any]:
        return {"fraction": self._fraction}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._fraction = float(state_dict.get("fraction", 0.0))

    # --- measuring -------------------------------------------------------------------------
    def on_sanity_check_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._sanity_start = self.clock()

    def on_sanity_check_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # A first guess of a validation pass, until an epoch boundary has been timed.
        took = self.clock() - self._sanity_start
        done = max(1, trainer.num_sanity_val_steps)
        batches = sum(_finite(n) for n in trainer.num_val_batches) or done
        self._boundary_guess = took * batches / done

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._setup_s = self.clock() - self.start  # parsing, data, model, sanity check
        self._batches = _finite(trainer.estimated_stepping_batches, 0)
        self._native_epochs = trainer.max_epochs if trainer.max_epochs not in (None, -1) else None
        self._first_step = trainer.global_step
        # Optimizer steps per batch: 1/accumulate_grad_batches with automatic optimization
        # (estimated_stepping_batches counts steps then); with manual optimization a module
        # may step several times per batch, which the first batch shows.
        self._manual = not pl_module.automatic_optimization
        self._spb = None if self._manual else 1.0 / trainer.accumulate_grad_batches
        self._replan_due = False
        self._last_end: float | None = None
        self._timed_batches, self._timed_s = 0, 0.0
        self._recent: deque[float] = deque(maxlen=RECENT_BATCHES)
        self._planned_at = self.clock()
        self._boundaries: list[float] = []
        self._schedules = [c for c in trainer.lr_scheduler_configs if not c.reduce_on_plateau]
        if len(self._schedules) < len(trainer.lr_scheduler_configs):
            rank_zero_warn(
                "--run.budget: ReduceLROnPlateau follows the metric, not the clock; it is not "
                "compressed into the budget"
            )
        if self._batches <= 0:
            rank_zero_warn("--run.budget needs a run with an end (trainer.max_epochs/max_steps)")
        elif self._spb is not None:
            self._set_units(trainer)

    def _set_units(self, trainer: Trainer) -> None:
        """The run's length in optimizer steps, and where this process starts in it."""
        # estimated_stepping_batches counts optimizer steps, or batches under manual optimization
        self._native_steps = int(round(self._batches * (self._spb if self._manual else 1.0)))
        self._spe = trainer.num_training_batches * self._spb
        step = self._first_step
        if step == 0:
            self._fraction = 0.0
        elif self._fraction == 0.0:  # resumed from a run without a budget: native progress
            self._fraction = step / self._native_steps
        self._anchor = (step, self._fraction)
        if self._fraction >= 1.0:  # resumed after its schedule ended: nothing left to train
            self.plan = step
            trainer.should_stop = True
            self.report.update(planned_steps=step, stopped_at_step=step)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 0 and self._epoch_end is not None:  # validation, checkpoint, reload
            self._boundaries.append(self.clock() - self._epoch_end)
            self._epoch_end = None
            self._replan_due = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._batches <= 0:
            return
        if self._spb is None:  # manual optimization: count this batch's optimizer steps
            self._spb = float(max(1, trainer.global_step - self._first_step))
            self._set_units(trainer)
        now = self.clock()
        # (the first batch of an epoch carries the boundary; the first steps of a run warm up)
        warm = trainer.global_step > self._first_step + WARMUP_STEPS * self._spb
        if self._last_end is not None and batch_idx > 0 and warm:
            self._timed_batches += 1
            self._timed_s += now - self._last_end
            self._recent.append(now - self._last_end)
        self._last_end = now
        if batch_idx + 1 >= trainer.num_training_batches:
            self._epoch_end = now
        timed = self._timed_batches >= MIN_TIMED_STEPS and self._timed_s >= MIN_TIMED_SECONDS
        if self.plan is not None and now - self._planned_at > REPLAN_SHARE * self.budget_s:
            self._replan_due = True
        if self._replan_due or (self.plan is None and (timed or self._epoch_end is not None)):
            self._replan_due = False
            self._replan(trainer)
        self._advance(trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.report.update(
            setup_s=round(self._setup_s, 2), train_end_s=round(self.clock() - self.start, 2)
        )

    # --- planning --------------------------------------------------------------------------
    def _step_seconds(self) -> float | None:
        """Seconds per optimizer step: the mean of the latest batches, once there are enough."""
        if len(self._recent) >= MIN_TIMED_STEPS:
            return sum(self._recent) / len(self._recent) / self._spb
        if self._timed_batches:
            return self._timed_s / self._timed_batches / self._spb
        return None

    def _replan(self, trainer: Trainer) -> None:
        if not self._native_steps:
            return
        step_s = self._step_seconds()
        if step_s is None:
            elapsed_train = self.clock() - self.start
            step_s = elapsed_train / max(1, trainer.global_step)  # crude; refined next epoch
        boundary_s = (
            sum(self._boundaries[-2:]) / len(self._boundaries[-2:])
            if self._boundaries
            else self._boundary_guess
        )
        left = (
            self.budget_s
            - (self.clock() - self.start)
            - TAIL_SHARE * self.budget_s
            - TAIL_SECONDS
            - min(self._setup_s, TAIL_SETUP_SHARE * self.budget_s)
            - TAIL_BOUNDARIES * boundary_s
        )
        step = trainer.global_step
        self._planned_at = self.clock()
        plan = plan_steps(step, self._native_steps, self._spe, step_s, boundary_s, left)
        if self._fraction >= 1.0:  # resumed after its schedule ended: nothing left to anneal
            plan = step
        whole = int(self._spb) if self._spb >= 1 else 1  # a batch's steps are not split
        plan = max(step, plan - (plan - step) % whole)
        if math.isfinite(self._spe) and self._spe >= 2:
            spare = plan % int(self._spe)  # a few steps into a new epoch buy little: end before
            if spare and spare < self._spe / 2 and plan - spare >= step:
                plan -= spare
        plan = int(trainer.strategy.broadcast(plan, src=0))  # every rank stops at the same step
        self._anchor = (step, self._fraction)
        first = self.plan is None
        self.plan = plan
        trainer.fit_loop.epoch_loop.max_steps = plan
        if math.isfinite(self._spe) and self._spe > 0:
            trainer.fit_loop.max_epochs = max(
                trainer.current_epoch + 1, math.ceil(plan / self._spe)
            )
        self.report.update(
            planned_steps=plan,
            native_steps=self._native_steps,
            step_s=round(step_s, 4),
            boundary_s=round(boundary_s, 3),
        )
        if first or plan <= step:
            epochs = plan / self._spe if math.isfinite(self._spe) and self._spe else float("nan")
            what = (
                "the full run fits"
                if plan == self._native_steps
                else "the learning-rate schedule is compressed to end there"
            )
            rank_zero_info(
                f"budget {self.budget_s / 60:g} min: {step_s * 1000:.1f} ms a step, "
                f"{boundary_s:.1f} s an epoch boundary -> {plan} of {self._native_steps} steps "
                f"({epochs:.1f} epochs); {what}"
            )

    def _advance(self, trainer: Trainer) -> None:
        """Move the schedule's progress to this step's fraction; stop at the planned end."""
        step = trainer.global_step
        s0, f0 = self._anchor
        if self.plan is None:  # not planned yet: the schedule goes at its own pace
            if self._native_steps:
                self._fraction = min(1.0, f0 + (step - s0) / self._native_steps)
            return
        if self.plan <= s0:
            fraction = 1.0
        else:
            fraction = f0 + (1.0 - f0) * min(1.0, (step - s0) / (self.plan - s0))
        self._fraction = max(self._fraction, fraction)
        last = step >= self.plan
        epoch_end = self._epoch_end is not None
        for config in self._schedules:
            native = self._native_steps if config.interval == "step" else self._native_epochs
            if native is None or (config.interval != "step" and not (epoch_end or last)):
                continue
            target = int(math.floor(self._fraction * native / max(1, config.frequency) + 1e-9))
            for _ in range(target - config.scheduler.last_epoch):
                config.scheduler.step()
        if last:
            trainer.should_stop = True  # validates once more, then ends (max_steps as well)
            self.report["stopped_at_step"] = step


def _finite(value: float, default: float = 0.0) -> float:
    return value if math.isfinite(value) else default
