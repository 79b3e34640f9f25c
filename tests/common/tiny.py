"""A tiny regression task, trained through the real PortfolioCLI by the common tests."""

from __future__ import annotations

import os
import signal
import time

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from common.cli import train_main
from common.errors import command


class TinyData(LightningDataModule):
    def __init__(self, n: int = 256, batch_size: int = 32, nan_after: int = -1) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, 4, generator=g)
        y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=g)
        if nan_after >= 0:
            x[nan_after:] = float("nan")
        self.train_set = TensorDataset(x[: n // 2], y[: n // 2])
        self.val_set = TensorDataset(x[n // 2 :], y[n // 2 :])
        self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.batch_size)


class TinyModule(LightningModule):
    def __init__(
        self,
        hidden: int = 16,
        lr: float = 1e-2,
        dropout: float = 0.1,
        interrupt_at_step: int = -1,
        kill_at_step: int = -1,
        nan_at_step: int = -1,
        term_at_step: int = -1,
        schedule: str = "none",
        step_sleep: float = 0.0,
        manual_steps: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        # manual_steps > 0: that many optimizer steps per batch, as blackjack's DQN does
        self.automatic_optimization = manual_steps == 0
        self.net = nn.Sequential(
            nn.Linear(4, hidden), nn.Tanh(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def _step(self, batch, stage: str):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x).squeeze(-1), y)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True)
        if stage != "train":
            self.log(f"{stage}/mae", (self.net(x).squeeze(-1) - y).abs().mean())
        return loss

    def training_step(self, batch, batch_idx):
        # Fault injection for the resume tests: a real Ctrl-C (SIGINT), SIGTERM or a hard kill.
        if self.global_step == self.hparams.interrupt_at_step:
            os.kill(os.getpid(), signal.SIGINT)
        if self.global_step == self.hparams.term_at_step:
            os.kill(os.getpid(), signal.SIGTERM)
        if self.global_step == self.hparams.kill_at_step:
            os._exit(137)
        if self.hparams.step_sleep:  # a slower model, for the budget tests
            time.sleep(self.hparams.step_sleep)
        loss = self._step(batch, "train")
        if self.global_step == self.hparams.nan_at_step:
            loss = loss * float("nan")
        if not self.automatic_optimization:
            return self._manual_steps(batch)
        return loss

    def _manual_steps(self, batch) -> None:
        optimizer, schedules = self.optimizers(), self.lr_schedulers()
        for _ in range(self.hparams.manual_steps):
            x, y = batch
            loss = nn.functional.mse_loss(self.net(x).squeeze(-1), y)
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            if schedules is not None:
                schedules.step()

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        if self.hparams.schedule == "cosine":  # by step, to lr / 100
            steps = self.trainer.estimated_stepping_batches * max(1, self.hparams.manual_steps)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, self.hparams.lr / 100)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        if self.hparams.schedule == "exponential":  # by epoch, halving
            return [opt], [torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)]
        return opt


def main(argv=None):
    return train_main(TinyModule, TinyData, assignment="tiny", args=argv)


def demo(args=None):
    """Prints the tiny model's prediction for one input: what `portfolio demo tiny` runs."""
    import argparse

    from common.checkpoints import load_module

    parser = argparse.ArgumentParser()
    parser.add_argument("--ckpt", required=True)
    ns = parser.parse_args(args)
    module = load_module(ns.ckpt, TinyModule, "tiny")
    x = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    print(f"tiny demo prediction: {module.net(x).item():.3f}")


def assignment():
    from common.registry import Assignment

    return Assignment(
        name="tiny",
        title="Tiny regression",
        summary="A 4-input regression used by the tests.",
        train="tests.common.tiny:main",
        evaluate="tests.common.tiny:demo",
        demo="tests.common.tiny:demo",
        exam_demo_args=lambda ckpt, out: ["--ckpt", str(ckpt)],
        package="tests.common",
    )


if __name__ == "__main__":
    command(main)
