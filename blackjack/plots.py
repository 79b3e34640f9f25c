"""Strategy charts in the manner of Sutton & Barto Fig. 5.2, learning curves, game frames, and
the policy CSV the strategy chart is drawn from."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from blackjack.rules import DEALER_CARDS, policy_rows
from common.plots import plt, save

CSV_COLUMNS = ("player_sum", "dealer_card", "usable_ace", "action")
_PANELS = (
    ("hard totals (no usable ace)", 0, range(4, 22)),
    ("soft totals (usable ace)", 1, range(12, 22)),
)


def write_policy_csv(policy: np.ndarray, path: Path) -> int:
    """Write `player_sum,dealer_card,usable_ace,action` (1 = hit, 0 = stick) for every decision
    observation; returns the number of rows."""
    rows = policy_rows(policy)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    return len(rows)


def plot_strategy(
    policy: np.ndarray, optimal: np.ndarray, path: Path, title: str = "learned"
) -> int:
    """Hit/stick charts of `policy` (top) and the optimal policy (bottom), hard and soft totals
    against the dealer's card; cells where they differ are outlined in red. Returns that count."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 11), gridspec_kw={"height_ratios": [18, 10]})
    differ = 0
    for row, (panel, usable, sums) in enumerate(_PANELS):  # hard totals, soft totals
        for col, (name, table) in enumerate(((title, policy), ("optimal", optimal))):
            ax = axes[row, col]
            sums_desc = list(sums)[::-1]
            grid = np.array([[table[s, d, usable] for d in DEALER_CARDS] for s in sums_desc])
            ax.imshow(grid, cmap="coolwarm_r", vmin=-0.5, vmax=1.5, aspect="auto")
            for i, s in enumerate(sums_desc):
                for j, d in enumerate(DEALER_CARDS):
                    ax.text(j, i, "H" if grid[i, j] >= 0.5 else "S", ha="center", va="center")
                    if round(policy[s, d, usable]) != round(optimal[s, d, usable]):
                        ax.add_patch(
                            Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2.5)
                        )
                        differ += col == 0  # count each cell once
            ax.set_xticks(range(10), ["A", *map(str, range(2, 11))])
            ax.set_yticks(range(len(sums_desc)), sums_desc)
            ax.set(xlabel="dealer showing", ylabel="player sum")
            ax.set_title(f"{name}: {panel}", fontsize=10)
    fig.suptitle(f"H = hit, S = stick; red: {differ} cells where {title} differs from optimal")
    save(fig, path, dpi=90)
    return differ


def plot_learning_curve(
    curves: list[dict[str, float]] | dict[str, tuple[list[float], list[float]]],
    optimum: float,
    path: Path,
) -> None:
    """Exact expected return against episodes played. `curves` is either a run's per-epoch
    metrics (with `train/episodes` and `val/return`) or {name: (episodes, returns)}."""
    if isinstance(curves, list):
        points = [(e["train/episodes"], e["val/return"]) for e in curves if "val/return" in e]
        points = [p for p in points if np.isfinite(p[0])]
        curves = {"DQN": ([p[0] for p in points], [p[1] for p in points])}
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (episodes, returns) in curves.items():
        ax.plot(episodes, returns, marker=".", label=name)
    ax.axhline(optimum, color="black", ls="--", lw=1, label=f"optimal ({optimum:.4f})")
    ax.set(xscale="log", xlabel="episodes (hands played, log scale)")
    ax.set_ylabel("exact expected return per hand")
    ax.set_ylim(max(-0.45, ax.get_ylim()[0]), optimum + 0.02)
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, path)


def save_frame(image: np.ndarray, caption: str, path: Path) -> None:
    """Gymnasium's rendered table (an RGB array) with `caption` beneath, as a PNG."""
    width, height = image.shape[1] / 100, image.shape[0] / 100  # inches at 100 dpi
    fig = plt.figure(figsize=(width, height + 0.7), dpi=100)
    ax = fig.add_axes((0, 0.7 / (height + 0.7), 1, height / (height + 0.7)))
    ax.imshow(image)
    ax.axis("off")
    fig.text(0.5, 0.02, caption, ha="center", va="bottom", fontsize=9)
    save(fig, path, dpi=None, tight=False)  # the axes fill the figure as placed
