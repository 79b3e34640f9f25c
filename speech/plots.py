"""Figures: the confusion matrix (evaluate, training's test) and one recording's classification
(demo, app): waveform, log-mel, top-10 probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common.plots import plt, save
from speech import wave

if TYPE_CHECKING:
    import torch


def plot_confusion(
    preds: torch.Tensor, targets: torch.Tensor, names: list[str], path: Path
) -> Path:
    """Row-normalised confusion matrix (true label per row) as a PNG."""
    from torchmetrics.classification import MulticlassConfusionMatrix

    cm = MulticlassConfusionMatrix(len(names), normalize="true")(preds, targets)
    size = max(5.0, 0.28 * len(names))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(cm.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = (preds == targets).float().mean().item() if len(targets) else float("nan")
    ax.set_title(f"confusion matrix (accuracy {acc:.3f}, n={len(targets)})")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save(fig, path, dpi=110)


def plot_classification(path: Path, wav: np.ndarray, module, result: dict, title: str) -> Path:
    """Waveform (chosen window shaded), log-mel of that window, top-10 probability bars; `module`
    is the KeywordModule or its ONNX export (`log_mel`, `class_names`), `result` `demo.classify`'s.
    """
    wav = np.asarray(wav, dtype=np.float32)
    start = int(result["start"] * wave.SAMPLE_RATE)
    mel = module.log_mel(wave.fit_length(wav[start : start + wave.SAMPLE_RATE]))  # (n_mels, T)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    t = np.arange(len(wav)) / wave.SAMPLE_RATE
    axes[0].plot(t, wav, lw=0.5)
    axes[0].axvspan(result["start"], result["start"] + 1.0, color="orange", alpha=0.2)
    for word, t0, t1, _ in result["detections"]:
        axes[0].text((t0 + t1) / 2, float(np.abs(wav).max()), word, ha="center", va="bottom")
    axes[0].set(title="waveform (16 kHz)", xlabel="time (s)")
    axes[1].imshow(mel, origin="lower", aspect="auto", extent=(0, 1, 0, mel.shape[0]))
    axes[1].set(title="log-mel spectrogram (normalised)", xlabel="time (s)", ylabel="mel band")
    top = np.argsort(-result["probs"], kind="stable")[:10]  # the 10 most probable words
    axes[2].barh(range(len(top))[::-1], result["probs"][top])
    axes[2].set_yticks(range(len(top))[::-1], [module.class_names[i] for i in top])
    axes[2].set(title="probabilities", xlim=(0, 1))
    fig.suptitle(title)
    return save(fig, path)
