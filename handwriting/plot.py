"""Drawing pen trajectories: PNG/SVG pages, the attention plot, and a GIF animation of the pen."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from handwriting.strokes import points_to_strokes, to_absolute  # noqa: E402


def _draw(ax, offsets: np.ndarray, dy: float = 0.0, color: str = "black", lw: float = 1.6) -> None:
    points = to_absolute(offsets)
    for stroke in points_to_strokes(points):
        ax.plot(stroke[:, 0], stroke[:, 1] - dy, color=color, lw=lw, solid_capstyle="round")


def save_lines(lines: list[np.ndarray], path: Path, titles: list[str] | None = None) -> Path:
    """Draw each (T, 3) offset line on its own row of one page; .png or .svg by suffix.

    Lines must be in cap-height units (about 1 high): `HandwritingRNN.generate` returns them so.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    widths = [float(np.ptp(to_absolute(o)[:, 0])) if len(o) else 1.0 for o in lines]
    width = max(4.0, max(widths, default=4.0))
    gap = 2.2
    fig, ax = plt.subplots(figsize=(min(30, 0.6 * width + 1), 0.9 * gap * len(lines) + 0.4))
    for i, offsets in enumerate(lines):
        if len(offsets):
            _draw(ax, offsets, dy=i * gap)
        if titles:
            ax.text(0, -i * gap + 1.45, titles[i], fontsize=8, color="tab:gray")
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110 if path.suffix != ".svg" else None, bbox_inches="tight")
    plt.close(fig)
    return path


def save_attention(phi: np.ndarray, text: str, path: Path) -> Path:
    """Window weights phi (T, U): which character the model attends to at each pen step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(max(6, phi.shape[0] / 40), max(3, len(text) / 4)))
    ax.imshow(phi.T, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(len(text)))
    ax.set_yticklabels([c if c != " " else "␣" for c in text], fontsize=7)
    ax.set_xlabel("pen step t")
    ax.set_ylabel("character u")
    ax.set_title("attention window phi(t, u) (Graves 2013, eq. 46)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_animation(offsets: np.ndarray, path: Path, frames: int = 60) -> Path:
    """A GIF of the pen writing the line (Pillow writer, offline)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    points = to_absolute(offsets)
    fig, ax = plt.subplots(figsize=(min(20, 0.6 * float(np.ptp(points[:, 0])) + 1), 2))
    ax.set_xlim(points[:, 0].min() - 0.2, points[:, 0].max() + 0.2)
    ax.set_ylim(points[:, 1].min() - 0.2, points[:, 1].max() + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    cuts = np.linspace(1, len(points), frames).astype(int)

    def update(k: int):
        ax.lines.clear() if hasattr(ax.lines, "clear") else None
        for line in list(ax.lines):
            line.remove()
        for stroke in points_to_strokes(points[: cuts[k]]):
            ax.plot(stroke[:, 0], stroke[:, 1], color="black", lw=1.6)
        return ax.lines

    FuncAnimation(fig, update, frames=frames).save(path, writer=PillowWriter(fps=20))
    plt.close(fig)
    return path
