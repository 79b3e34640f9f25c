"""Synthetic online handwriting from the Hershey single-stroke fonts (the embedded default data).

Each `Writer` is one font plus a style of its own (slant, width, letter spacing, baseline drift,
pen speed), and every sample adds its own noise on top, so that no two lines are drawn alike.
The pen is sampled as a digitiser would (about constant time between points, so more points
where the pen slows down: in curves and corners) and lifted between strokes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import numpy as np
from HersheyFonts import HersheyFonts

from handwriting.strokes import resample_polyline, strokes_to_points, to_offsets


@dataclass(frozen=True)
class Writer:
    """A synthetic writer: a Hershey font and a personal style (lengths in cap heights)."""

    name: str
    font: str
    kind: str  # "print" or "script"
    slant: float  # shear x += slant * y (positive leans right)
    width: float  # horizontal stretch of every glyph
    spacing: float  # extra space after each character
    drift: float  # amplitude of the slow wave of the baseline
    step: float  # pen speed: arc length between two samples on a straight part
    noise: float  # std of the per-point jitter
    share: int = 1  # lines in the training set, relative to the other writers


WRITERS: dict[str, Writer] = {
    w.name: w
    for w in [
        Writer("ada", "futural", "print", 0.00, 1.00, 0.05, 0.03, 0.24, 0.006),
        Writer("ben", "rowmans", "print", 0.25, 1.15, 0.12, 0.05, 0.26, 0.008),
        # timesi draws thick parts as 2-3 parallel strokes (about 3 pen lifts per letter, twice
        # futural's): the hardest hand to learn, so it gets twice the training lines
        Writer("cleo", "timesi", "print", 0.10, 0.95, 0.04, 0.04, 0.36, 0.006, share=2),
        Writer("dora", "scripts", "script", 0.05, 1.05, 0.00, 0.05, 0.24, 0.006),
        Writer("emil", "cursive", "script", 0.15, 1.10, 0.02, 0.06, 0.26, 0.008),
    ]
}


def with_pen_step(writer: Writer, scale: float) -> Writer:
    """The same writer with its pen step scaled (fewer points per character for scale > 1)."""
    return writer if scale == 1.0 else replace(writer, step=writer.step * scale)


@cache
def _glyphs(font: str) -> dict:
    fonts = HersheyFonts()
    fonts.load_default_font(font)
    return fonts.all_glyphs


def glyph_strokes(text: str, font: str, spacing: float = 0.0) -> list[np.ndarray]:
    """Strokes of `text` in a Hershey font, cap height 1, baseline y = 0, y pointing up.

    Characters the font lacks raise ValueError (Hershey-Fonts would skip them silently).
    """
    glyphs = _glyphs(font)
    missing = sorted({c for c in text if c not in glyphs})
    if missing:
        raise ValueError(f"font {font!r} has no glyph for {missing!r}")
    strokes, x = [], 0.0
    for c in text:
        g = glyphs[c]
        scale = 1.0 / (g.base_line - g.cap_line)  # cap height -> 1
        for stroke in g.strokes:  # font units (y down) -> cap heights from (x, baseline), y up
            s = np.asarray(stroke, dtype=np.float64)
            strokes.append((s - [g.left_offset, g.base_line]) * [scale, -scale] + [x, 0.0])
        x += g.char_width * scale + spacing
    return strokes


def _join_touching(strokes: list[np.ndarray], tol: float = 0.03) -> list[np.ndarray]:
    """Merge a stroke into the previous one when it starts where that one ended (the pen
    stays down across joined script letters)."""
    out: list[np.ndarray] = []
    for s in strokes:
        if out and np.linalg.norm(out[-1][-1] - s[0]) < tol:
            out[-1] = np.vstack([out[-1], s[1:]])
        else:
            out.append(s)
    return out


def render_line(text: str, writer: Writer, rng: np.random.Generator | None = None) -> np.ndarray:
    """Draw `text` as `writer` would: (T, 3) offsets (dx, dy, pen_up), cap height about 1; `rng`
    draws per-sample variation and noise (None: the writer's clean, noise-free line)."""
    if rng is None:
        slant, width, spacing, step = writer.slant, writer.width, writer.spacing, writer.step
        noise, drift, phase, period = 0.0, 0.0, 0.0, 1.0
    else:  # each sample varies the writer's style a little
        slant = writer.slant + rng.normal(0, 0.04)
        width = writer.width * np.exp(rng.normal(0, 0.05))
        spacing = max(0.0, writer.spacing + rng.normal(0, 0.02))
        step = writer.step * np.exp(rng.normal(0, 0.08))
        noise = writer.noise
        drift = writer.drift * rng.uniform(0.3, 1.0)
        phase, period = rng.uniform(0, 6.3), rng.uniform(4, 10)
    strokes = []
    for s in _join_touching(glyph_strokes(text, writer.font, spacing / max(width, 1e-6))):
        s = s * [width, 1.0]
        s[:, 0] += slant * s[:, 1]
        s = resample_polyline(s, step)
        s[:, 1] += drift * np.sin(2 * np.pi * s[:, 0] / period + phase)
        if noise > 0:
            s = s + rng.normal(0, noise, size=s.shape)
        strokes.append(s)
    points = strokes_to_points(strokes)
    return to_offsets(points).astype(np.float32)


def draw_lines(job: list[tuple[int, str, Writer]], stream: tuple[int, ...]) -> list[np.ndarray]:
    """`render_line` of (index, text, writer) items, each with its own random stream (`stream`
    followed by the index): the same lines whichever process draws them."""
    return [render_line(t, w, np.random.default_rng([*stream, i])) for i, t, w in job]
