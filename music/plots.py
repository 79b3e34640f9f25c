"""Figures: the piano roll of a composed or harmonized piece (compose, training's samples)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.plots import plt, save
from music import midi


def plot_roll(
    roll: np.ndarray, path: Path, spq: int, title: str = "", prime_steps: int = 0
) -> None:
    """The piano roll (time across in bars, MIDI pitch up) as a PNG; a red line where the prime
    ends and the composed music begins."""
    keys = np.flatnonzero(roll.any(axis=0))
    low, high = (keys.min() - 2, keys.max() + 2) if len(keys) else (27, 60)
    low, high = max(low, 0), min(high, midi.N_KEYS - 1)
    fig, ax = plt.subplots(figsize=(max(6, len(roll) / (4 * spq)), 4))
    ax.imshow(
        roll[:, low : high + 1].T,
        origin="lower",
        aspect="auto",
        cmap="Greys",
        interpolation="nearest",
        extent=(
            0,
            len(roll) / (midi.BEATS_PER_BAR * spq),
            low + midi.LOW - 0.5,
            high + midi.LOW + 0.5,
        ),
    )
    if prime_steps:  # where the prime ends and the network's own music begins
        x = prime_steps / (midi.BEATS_PER_BAR * spq)
        ax.axvline(x, color="tab:red", linewidth=2)
        ax.text(x, 0.98, " prime | composed ", color="tab:red", ha="center", va="top",
                backgroundcolor="white", transform=ax.get_xaxis_transform())  # fmt: skip
    ax.set(xlabel="bar", ylabel="MIDI pitch", title=title or "piano roll")
    save(fig, path)
