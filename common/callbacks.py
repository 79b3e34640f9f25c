"""Callbacks of every run: checkpoint tagging, RNG state for exact resume, NaN guard, plain log."""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info

from common.errors import UserError

CHECKPOINT_FORMAT = 1


class NonFiniteLossError(UserError, RuntimeError):
    """The training loss became NaN or infinite."""


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states, in types that `torch.load(weights_only=True)` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), cached],
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])


class PortfolioCallback(Callback):
    """Tags checkpoints with their assignment, restores RNG state on resume, stops on NaN loss.

    Restoring the RNG state (which Lightning does not save) is what makes a resumed run end with
    the same metrics as an uninterrupted one: the next epoch's shuffle and dropout masks match.
    """

    def __init__(self, assignment: str) -> None:
        self.assignment = assignment
        self._restore: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint) -> None:
        checkpoint["mal2"] = {
            "assignment": self.assignment,
            "format": CHECKPOINT_FORMAT,
            "rng": rng_state(),
        }

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint) -> None:
        # The checkpoint was saved right before the next epoch's DataLoader iterator was made;
        # on resume that iterator is made after the sanity check, which draws from the RNG
        # too, so the state is set now and set again once the sanity check is over.
        self._restore = checkpoint.get("mal2", {}).get("rng")
        if self._restore is not None:
            set_rng_state(self._restore)

    def on_sanity_check_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._restore is not None:
            set_rng_state(self._restore)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore = None

    def on_before_backward(self, trainer: Trainer, pl_module: LightningModule, loss) -> None:
        if not torch.isfinite(loss).all():
            raise NonFiniteLossError(
                f"the training loss became {loss.item()} at step {trainer.global_step} "
                f"(epoch {trainer.current_epoch}); training stopped before the weights were "
                "corrupted. Lower the learning rate, enable gradient clipping "
                "(--trainer.gradient_clip_val 1.0) or check the input data; the last good "
                "checkpoint is kept."
            )


class EpochPrinter(Callback):
    """One plain line per epoch, for logs and terminals without a progress bar.

    The line is printed once the epoch is fully over (at the next epoch's start, or at the end
    of training), so that metrics the module logs in its own `on_train_epoch_end` are included.
    """

    def __init__(self) -> None:
        self._pending: tuple[int, float] | None = None

    def _flush(self, trainer: Trainer) -> None:
        if self._pending is None:
            return
        epoch, took = self._pending
        self._pending = None
        metrics = {
            k: float(v)
            for k, v in sorted(trainer.callback_metrics.items())
            if "/" in k and v.numel() == 1
        }
        text = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        rank_zero_info(f"epoch {epoch + 1}/{trainer.max_epochs}  {text}  ({took:.1f} s)")

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._flush(trainer)
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._pending = (trainer.current_epoch, time.perf_counter() - self._start)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._flush(trainer)
