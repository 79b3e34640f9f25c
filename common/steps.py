"""The training, validation and test steps of a LightningModule that does each stage's work in
one `_step(batch, stage)`: it returns the loss and logs `<stage>/...` (speech, music)."""

from __future__ import annotations

from typing import Any

import torch


class StageSteps:
    """Mix in before `LightningModule`; the class defines `_step(batch, stage) -> loss`."""

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "test")
