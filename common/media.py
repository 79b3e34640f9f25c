"""Figures and sounds in TensorBoard after every validation, not only scalars.

Through the TensorBoard logger's own experiment (a `SummaryWriter`): the speech confusion matrix
and a grid of log-mel spectrograms, a handwriting sample, a composed piano roll with a few seconds
of its audio, the blackjack strategy beside the optimal one. `tensorboard --logdir runs` shows them
under IMAGES and AUDIO, one step per validation.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

AUDIO_SECONDS = 8.0
AUDIO_RATE = 16000
# Validations between two logs (and the last): where an epoch is short, logging every one would
# cost a noticeable share of the run (the music and speech model cards have the timings).
EVERY = {"speech": 3, "handwriting": 1, "music": 5, "blackjack": 5}


def _png_to_array(path: Path) -> np.ndarray:
    """(H, W, 3) float array of a PNG written by one of the packages' plot functions."""
    import matplotlib.image

    return matplotlib.image.imread(str(path))[..., :3]


class MediaCallback(Callback):
    """After each validation (not the sanity check), log the assignment's media to TensorBoard."""

    def __init__(self, assignment: str) -> None:
        self.assignment = assignment
        self._preds: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []
        self._hook = None
        self._validations = 0
        self.seconds = 0.0  # time spent here, for whoever wonders what it costs

    # speech: collect the validation predictions as validation runs (no second forward pass),
    # from the validation accuracy's inputs: the fused logits and the targets, whatever the batch
    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._preds, self._targets = [], []
        if self.assignment == "speech" and hasattr(pl_module, "acc"):
            self._hook = pl_module.acc["val_"].register_forward_hook(self._collect)

    def _collect(self, metric, args, out) -> None:
        logits, target = args  # (B, n_classes), (B,)
        self._preds.append(logits.detach().argmax(-1).cpu())
        self._targets.append(target.detach().cpu())

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if trainer.sanity_checking:
            return
        self._validations += 1
        last = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
        if (self._validations - 1) % EVERY.get(self.assignment, 1) == 0 or last:
            self._log(trainer, pl_module)

    @rank_zero_only
    def _log(self, trainer: Trainer, pl_module: LightningModule) -> None:
        writer = next(
            (lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None
        )
        log = globals().get(f"log_{self.assignment}")
        if writer is None or log is None:  # no TensorBoard, or an assignment without media
            return
        start = time.perf_counter()
        was_training = pl_module.training
        pl_module.eval()
        try:
            with torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
                log(pl_module, writer, trainer.global_step, Path(tmp), self)
        finally:
            pl_module.train(was_training)
        writer.flush()
        self.seconds += time.perf_counter() - start


def log_speech(module, writer, step: int, tmp: Path, cb: MediaCallback) -> None:
    """Confusion matrix of this validation, and the log-mels of a few validation clips."""
    from torchvision.utils import make_grid

    from speech.plots import plot_confusion

    if cb._preds and cb._targets:
        preds, targets = torch.cat(cb._preds), torch.cat(cb._targets)
        path = plot_confusion(preds, targets, module.class_names, tmp / "cm.png")
        writer.add_image("val/confusion_matrix", _png_to_array(path), step, dataformats="HWC")
    dm = getattr(module.trainer, "datamodule", None)
    data = getattr(dm, "splits", {}).get("val")
    if data is not None and len(data):
        idx = torch.linspace(0, len(data) - 1, min(8, len(data))).long()
        wavs = torch.stack([data[int(i)][0] for i in idx]).to(module.device)  # (8, 16000)
        mels = module.model.features(wavs).float().cpu().flip(-2)  # (8, 1, n_mels, T), low down
        mels = (mels - mels.amin()) / (mels.amax() - mels.amin() + 1e-9)
        mels = torch.nn.functional.interpolate(mels, scale_factor=3, mode="nearest")
        grid = make_grid(mels, nrow=4, padding=4, pad_value=1.0)  # (3, H, W)
        writer.add_image("val/log_mel_examples", grid, step)


def log_handwriting(module, writer, step: int, tmp: Path, cb: MediaCallback) -> None:
    """The text 'hello' written in one style, as the current network writes it."""
    from handwriting.plots import save_lines

    if module.hparams.synthesis:
        text = "".join(c for c in "hello world" if c in module.hparams.alphabet) or "a"
        offsets, _, _ = module.write(text, style=None, bias=1.5, seed=0, max_steps=400)
    else:
        offsets = module.scribble(seed=0)
    path = save_lines([offsets], tmp / "sample.png")
    writer.add_image("val/handwriting_sample", _png_to_array(path), step, dataformats="HWC")


def log_music(module, writer, step: int, tmp: Path, cb: MediaCallback) -> None:
    """Four bars composed by the current network: the piano roll and its first seconds."""
    from music import midi
    from music.compose import compose
    from music.plots import plot_roll

    spq = module.steps_per_quarter
    with torch.random.fork_rng(devices=[]):  # training's randomness is not disturbed
        torch.manual_seed(0)  # the same draw every validation: the changes are the network's
        roll = compose(module.model, bars=4, spq=spq)
    plot_roll(roll, tmp / "roll.png", spq, title=f"4 bars at step {step}")
    writer.add_image("val/piano_roll", _png_to_array(tmp / "roll.png"), step, dataformats="HWC")
    audio = midi.roll_to_midi(roll, spq, 100.0).synthesize(fs=AUDIO_RATE)[
        : int(AUDIO_SECONDS * AUDIO_RATE)
    ]
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0:
        clip = torch.from_numpy(0.9 * audio / peak).float()[None]  # (1, samples)
        writer.add_audio("val/sample_audio", clip, step, sample_rate=AUDIO_RATE)


def log_blackjack(module, writer, step: int, tmp: Path, cb: MediaCallback) -> None:
    """The greedy policy's hit/stick chart beside the optimal one (differences outlined)."""
    from blackjack import rules
    from blackjack.plots import plot_strategy

    optimal = rules.optimal(module.rules).policy
    plot_strategy(module.greedy_policy(), optimal, tmp / "strategy.png")
    image = _png_to_array(tmp / "strategy.png")
    writer.add_image("val/strategy_chart", image, step, dataformats="HWC")
