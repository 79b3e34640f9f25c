"""Run an assignment's real training entry point with a fault at a given training step.

    python -m tests.common.faults blackjack.train:main kill 250 -- --trainer.max_epochs 3 ...

`kill` ends the process at once (as kill -9 or a power cut would), `int` sends it a real SIGINT
(Ctrl-C), `term` a real SIGTERM. The fault fires right before the given global step is trained,
or, where a batch makes several optimizer steps (manual optimization), before the first batch
that starts at or past it.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

from lightning.pytorch import Callback


class SimulatedCrash(Exception):
    """What `crash` raises: the process goes on, the training does not (like a crash in fit)."""


class FaultAtStep(Callback):
    def __init__(self, how: str, step: int) -> None:
        self.how, self.step, self.fired = how, step, False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.fired or trainer.global_step < self.step:
            return
        self.fired = True
        if self.how == "kill":
            os._exit(137)
        if self.how == "crash":
            raise SimulatedCrash(f"simulated crash before step {self.step}")
        os.kill(os.getpid(), signal.SIGINT if self.how == "int" else signal.SIGTERM)


def main() -> None:
    target, how, step, sep, *args = sys.argv[1:]
    assert sep == "--" and how in ("kill", "int", "term"), sys.argv
    from common.cli import PortfolioCLI

    original = PortfolioCLI.instantiate_trainer

    def instantiate_trainer(self, **kwargs):
        trainer = original(self, **kwargs)
        trainer.callbacks.insert(0, FaultAtStep(how, int(step)))
        return trainer

    PortfolioCLI.instantiate_trainer = instantiate_trainer
    module, func = target.split(":")
    getattr(importlib.import_module(module), func)(args)


if __name__ == "__main__":
    main()


def with_fault(monkeypatch, how: str, step: int) -> None:
    """Make every PortfolioCLI in this process fault at `step` (in-process tests)."""
    from common.cli import PortfolioCLI

    original = PortfolioCLI.instantiate_trainer

    def instantiate_trainer(self, **kwargs):
        trainer = original(self, **kwargs)
        trainer.callbacks.insert(0, FaultAtStep(how, step))
        return trainer

    monkeypatch.setattr(PortfolioCLI, "instantiate_trainer", instantiate_trainer)
