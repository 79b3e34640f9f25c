"""A measurable proxy for "legible" (numpy only): can the written line be told apart from other
lines by comparing it with clean font renderings?

For a sample of text t in style s we render t and K distractor texts of about the same length
cleanly in s, rasterise all lines to the same small image (each stretched to fill it with
its bounding box, then blurred), and ask which rendering the sample resembles most (cosine
similarity). A legible line picks its own text; a scribble picks one at random (chance is
1 / (K + 1)). The top-1 rate over many samples is our legibility score.
"""

from __future__ import annotations

import numpy as np

from handwriting.strokes import points_to_strokes, to_absolute

HEIGHT, WIDTH = 24, 192


def _kernel(sigma: float) -> np.ndarray:
    r = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return k / k.sum()


def rasterise(offsets: np.ndarray, height: int = HEIGHT, width: int = WIDTH, blur: float = 1.5):
    """(T, 3) offsets -> (height, width) image of the pen's ink, its bounding box stretched to
    the image (so the writer's size, width and spacing do not matter, only the shapes and where
    they are along the line), blurred with a Gaussian and scaled to unit norm."""
    img = np.zeros((height, width))
    points = to_absolute(offsets)
    if len(points) == 0:
        return img
    lo = points[:, :2].min(0)
    scale = np.array([width - 1, height - 1]) / np.maximum(np.ptp(points[:, :2], axis=0), 1e-6)
    for stroke in points_to_strokes(points):
        if len(stroke) == 1:
            stroke = np.vstack([stroke, stroke])
        seg_len = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
        for a, b, n in zip(stroke[:-1], stroke[1:], seg_len):
            k = max(2, int(n * scale.max() * 2))  # about two samples per pixel
            pts = a + np.linspace(0, 1, k)[:, None] * (b - a)
            u = ((pts - lo) * scale).round().astype(int)
            img[height - 1 - u[:, 1], u[:, 0]] = 1.0
    k = _kernel(blur)
    img = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, img)
    img = np.apply_along_axis(lambda c: np.convolve(c, k, mode="same"), 0, img)
    return img / max(np.linalg.norm(img), 1e-12)


def pick(sample: np.ndarray, references: list[np.ndarray]) -> int:
    """Index of the reference rendering the sample looks most like."""
    img = rasterise(sample)
    return int(np.argmax([(img * rasterise(r)).sum() for r in references]))
