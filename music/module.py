"""The LightningModule: NLL in nats per frame (the JSB Chorales benchmark's measure) and frame
accuracy (Bay et al. 2009), logged for train/val/test."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryJaccardIndex

from common.errors import ConfigError
from common.settings import network_config
from common.steps import StageSteps
from music.config import ModelConfig
from music.model import Composer, ensemble_nll

# Bay et al. (2009) frame-level accuracy, TP / (TP + FP + FN) counted over all keys of all
# frames, is the Jaccard index of the sounding keys.
FrameAccuracy = BinaryJaccardIndex


class AveragedWeights(EMAWeightAveraging):
    """Lightning's exponential moving average of the weights: validation and checkpoints hold the
    average; training goes on from the raw weights, which a checkpoint keeps for resuming.
    Outside fit it restores nothing, so a test scores the checkpoint's average (Lightning's
    callback warns there, and an instance still holding its average from fit would put the
    checkpoint's raw weights back)."""

    def __init__(self, decay: float):
        super().__init__(decay=decay, use_buffers=False)  # the parameters, as a plain EMA

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)


class ComposerModule(StageSteps, L.LightningModule):
    """The composer (`--model.*`).

    Trains a `Composer` to maximise the likelihood of the next frame of the piano roll.

    Args:
        kind: lstm (independent keys, the baseline) or nade (RNN-NADE over a frame's keys).
        hidden: LSTM units per layer (the model of time).
        layers: Stacked LSTM layers.
        dropout: Dropout between and after the LSTM layers.
        nade_hidden: NADE hidden units (the model of the notes inside a frame); unused by lstm.
        orderings: Note orderings of the NADE heads (up, down, shuffleN): one head each,
            evaluated as their mixture; down (soprano first) allows harmonizing.
        context_frames: Frames that reach the head directly, beside the LSTM: 1 = the previous
            frame (a linear path); N > 1 adds a causal convolution over frames t-2 .. t-N.
        lr: Adam learning rate.
        weight_decay: Decoupled weight decay (AdamW).
        lr_schedule: plateau (halve after lr_patience validation rounds without a better
            val/nll), cosine (to zero over trainer.max_epochs) or constant.
        lr_patience: Validation rounds without a better val/nll that plateau tolerates: the
            next such round halves the rate (0: every round without a better val/nll does).
        ema_decay: Validate, test, checkpoint and compose with an exponential moving average
            of the weights (e.g. 0.998 per step); 0 = off.
        eval_transpositions: Test (and `music.evaluate`) with an ensemble over the piece
            transposed by -N..N semitones; 0 = the single model (which validation always uses).
        data_steps_per_quarter: Grid of the data it learned from (from --data.steps_per_quarter).
        sample_bars: Length of the sample written into the run folder after training.
    """

    def __init__(
        self,
        kind: str = "nade",
        hidden: int = 256,
        layers: int = 1,
        dropout: float = 0.2,
        nade_hidden: int = 512,
        orderings: tuple[str, ...] = ("down",),
        context_frames: int = 1,
        lr: float = 4e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "cosine",
        lr_patience: int = 10,
        ema_decay: float = 0.0,
        eval_transpositions: int = 5,
        data_steps_per_quarter: int | None = None,
        sample_bars: int = 8,
    ):
        super().__init__()
        self.save_hyperparameters()
        if lr_schedule not in ("plateau", "cosine", "constant"):
            raise ConfigError(f"lr_schedule {lr_schedule!r}: choose plateau, cosine or constant")
        if not 0 <= ema_decay < 1:
            raise ConfigError(f"ema_decay must be in [0, 1), got {ema_decay}")
        config = network_config(ModelConfig, self.hparams, orderings=tuple(orderings))
        self.model = Composer(config)
        self.nll = torch.nn.ModuleDict({s: MeanMetric() for s in ("val", "test")})
        self.acc = torch.nn.ModuleDict({s: FrameAccuracy() for s in ("val", "test")})

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if dm is not None and hasattr(dm, "steps_per_quarter"):
            spq = self.hparams.data_steps_per_quarter
            if spq is not None and spq != dm.steps_per_quarter:
                raise ValueError(
                    f"this model learned a grid of {spq} steps per quarter; the data uses "
                    f"{dm.steps_per_quarter}: set --data.steps_per_quarter {spq}"
                )
            self.hparams.data_steps_per_quarter = dm.steps_per_quarter  # saved with the checkpoint

    def configure_callbacks(self) -> list:
        return [AveragedWeights(self.hparams.ema_decay)] if self.hparams.ema_decay else []

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        # a checkpoint from before Lightning's averaging kept the average beside the weights
        # (`ema.module.*`; `ema_in_model`, in every one, said which of the two `model.*` held)
        state_dict = dict(state_dict)
        in_model = bool(state_dict.pop("ema_in_model", True))
        old = {k: state_dict.pop(k) for k in [k for k in state_dict if k.startswith("ema.")]}
        if not in_model:  # `model.*` held the raw weights: compose with the average
            state_dict |= {
                "model." + k.removeprefix("ema.module."): v
                for k, v in old.items()
                if k.startswith("ema.module.")
            }
        return super().load_state_dict(state_dict, strict, assign)

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, mask = batch  # (B, T, 88), (B, T)
        h = None  # the context, where this stage's NLL computed it
        if stage == "train":  # every head learns to be a model on its own (orderless NADE)
            nll = self.model.ordering_nll(x).mean(0)[mask]
        elif stage == "test":  # the ensembles: over orderings, and over transpositions if asked
            nll = self.frame_nll(x, self.hparams.eval_transpositions)[mask]
        else:  # the ensemble's NLL over orderings; the frame guesses reuse the context
            h = self.model.context(x)  # (B, T, hidden)
            nll = ensemble_nll(self.model.ordering_nll(x, h))[mask]  # (frames,) nats per frame
        loss = nll.mean()
        batch_size = int(mask.sum())
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=batch_size)
        if stage != "train":
            self.nll[stage].update(nll)  # mean over all frames of the split, not over batches
            self.acc[stage].update(self.model.predict(x, h)[mask], x[mask])
            self.log(f"{stage}/nll", self.nll[stage], on_step=False, on_epoch=True)
            self.log(f"{stage}/frame_acc", self.acc[stage], on_step=False, on_epoch=True)
        return loss

    def frame_nll(self, x: torch.Tensor, transpositions: int = 0) -> torch.Tensor:
        """(B, T, 88) rolls -> (B, T) NLL of each frame in nats, each predicted from the true
        frames before it: the ensemble over note orderings, and over `transpositions` semitone
        shifts each way (0: none). What validation, test and `music.evaluate` report."""
        return self.model.transposition_nll(x, transpositions)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(
            self.model.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        if self.hparams.lr_schedule == "cosine":
            epochs = self.trainer.max_epochs
            if not epochs or epochs < 1:
                raise ValueError("lr_schedule cosine needs a fixed --trainer.max_epochs")
            return [opt], [torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)]
        if self.hparams.lr_schedule == "constant":
            return opt
        # Halving on a plateau needs no fixed length: it suits a run cut by time or by
        # early stopping.
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=0.5, patience=self.hparams.lr_patience
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": plateau, "monitor": "val/nll"}}

    @property
    def steps_per_quarter(self) -> int:
        return self.hparams.data_steps_per_quarter or 1

    def write_artifacts(self, run_dir: Path, datamodule) -> dict:
        """A sample piece (MIDI, PNG, WAV) and its statistics, next to the training data's."""
        from music import midi
        from music.compose import compose, write_outputs

        torch.manual_seed(0)
        roll = compose(self.model, bars=self.hparams.sample_bars, spq=self.steps_per_quarter)
        write_outputs(roll, run_dir / "sample.mid", self.steps_per_quarter)
        stats = midi.roll_statistics([roll])
        return {
            "sample_polyphony": stats["polyphony"],
            "sample_in_key_share": stats["in_key_share"],
        }
