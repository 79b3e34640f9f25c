"""Drawing pen trajectories: PNG/SVG pages, the attention plot, and a GIF animation of the pen."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.plots import plt, save
from handwriting.strokes import points_to_strokes, to_absolute


def _draw(ax, offsets: np.ndarray, dy: float = 0.0, color: str = "black", lw: float = 1.6) -> None:
    points = to_absolute(offsets)
    for stroke in points_to_strokes(points):
        ax.plot(stroke[:, 0], stroke[:, 1] - dy, color=color, lw=lw, solid_capstyle="round")


def save_lines(lines: list[np.ndarray], path: Path, titles: list[str] | None = None) -> Path:
    """Draw each (T, 3) offset line on its own row of one page; .png or .svg by suffix.

    Rows are stacked by their real heights, so lines that drift up or down never overlap.
    """
    path = Path(path)
    points = [to_absolute(o) if len(o) else np.zeros((1, 3)) for o in lines]
    width = max(4.0, max(float(np.ptp(p[:, 0])) for p in points))
    fig, ax = plt.subplots()
    top = 0.0
    for i, (offsets, p) in enumerate(zip(lines, points)):
        if titles:
            ax.text(p[:, 0].min(), top, titles[i], fontsize=8, color="tab:gray", va="top")
            top -= 0.5
        dy = p[:, 1].max() - top  # shift this row so its highest point sits at `top`
        if len(offsets):
            _draw(ax, offsets, dy=dy)
        top -= float(np.ptp(p[:, 1])) + 0.6
    fig.set_size_inches(min(30, 0.5 * width + 1), min(60, 0.5 * -top + 0.5))
    ax.set_aspect("equal")
    ax.axis("off")
    return save(fig, path, dpi=110 if path.suffix != ".svg" else None, bbox_inches="tight")


def save_attention(phi: np.ndarray, text: str, path: Path) -> Path:
    """Window weights phi (T, U): which character the model attends to at each pen step."""
    fig, ax = plt.subplots(figsize=(max(6, phi.shape[0] / 40), max(3, len(text) / 4)))
    ax.imshow(phi.T, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(len(text)), [c if c != " " else "␣" for c in text], fontsize=7)
    ax.set(xlabel="pen step t", ylabel="character u")
    ax.set_title("attention window phi(t, u) (Graves 2013, eq. 46)")
    return save(fig, path)


def savable_formats() -> tuple[set[str], set[str]]:
    """The suffixes `save_attention` (matplotlib) and `save_animation` (Pillow, every frame)
    can write, as ".png"."""
    from matplotlib.backend_bases import FigureCanvasBase
    from PIL import Image

    figures = {f".{ext}" for ext in FigureCanvasBase.get_supported_filetypes()}
    animations = {
        ext for ext, kind in Image.registered_extensions().items() if kind in Image.SAVE_ALL
    }
    return figures, animations


def save_animation(offsets: np.ndarray, path: Path, frames: int = 60) -> Path:
    """A GIF of the pen writing the line (Pillow writer, offline)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    points = to_absolute(offsets)
    fig, ax = plt.subplots(figsize=(min(20, 0.6 * float(np.ptp(points[:, 0])) + 1), 2))
    low, high = points[:, :2].min(0) - 0.2, points[:, :2].max(0) + 0.2
    ax.set(xlim=(low[0], high[0]), ylim=(low[1], high[1]), aspect="equal")
    ax.axis("off")
    cuts = np.linspace(1, len(points), frames).astype(int)

    def update(k: int):
        for line in list(ax.lines):
            line.remove()
        for stroke in points_to_strokes(points[: cuts[k]]):
            ax.plot(stroke[:, 0], stroke[:, 1], color="black", lw=1.6)
        return ax.lines

    FuncAnimation(fig, update, frames=frames).save(path, writer=PillowWriter(fps=20))
    plt.close(fig)
    return path
