"""Learning-curve plots for one run and for a comparison of runs.

Every `plots.py` takes pyplot from here (`from common.plots import plt`), so the file-only Agg
backend (no display needed, also on a server) is chosen in this one place.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save(fig, path: Path, dpi: float | None = 100, tight: bool = True, **kwargs) -> Path:
    """Lay `fig` out (unless `tight` is False), write it to `path` (its folder made as needed;
    the format from the suffix), free it, and return the path."""
    if tight:
        fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, **kwargs)
    plt.close(fig)
    return path


def _series(epochs: list[dict[str, float]], key: str) -> tuple[list[int], list[float]]:
    points = [(e["epoch"] + 1, e[key]) for e in epochs if key in e]
    return [p[0] for p in points], [p[1] for p in points]


def plot_learning_curves(epochs: list[dict[str, float]], path: Path, monitor: str) -> None:
    """Loss (train and validation) and the monitored metric against epochs."""
    if not epochs:
        return
    panels = ["loss"] + ([monitor] if monitor not in ("val/loss", "train/loss") else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for key in ("train/loss", "val/loss"):
        x, y = _series(epochs, key)
        if x:
            axes[0, 0].plot(x, y, marker=".", label=key)
    axes[0, 0].set_title("loss")
    if len(panels) > 1:
        x, y = _series(epochs, monitor)
        axes[0, 1].plot(x, y, marker=".", color="tab:green")
        axes[0, 1].set_title(monitor)
    for ax in axes[0]:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0, 0].legend()
    save(fig, path)


def plot_comparison(curves: dict[str, list[dict[str, float]]], path: Path, monitor: str) -> None:
    """Overlay the learning curves of several runs: losses (train dashed) and the metric."""
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (name, epochs) in enumerate(curves.items()):
        color = f"C{i % 10}"
        x, y = _series(epochs, "val/loss")
        ax_loss.plot(x, y, color=color, label=f"{name} val")
        x, y = _series(epochs, "train/loss")
        ax_loss.plot(x, y, color=color, linestyle="--", alpha=0.7, label=f"{name} train")
        x, y = _series(epochs, monitor)
        ax_metric.plot(x, y, color=color, marker=".", label=name)
    ax_loss.set_title("loss (dashed: train)")
    ax_metric.set_title(monitor)
    for ax in (ax_loss, ax_metric):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save(fig, path)
