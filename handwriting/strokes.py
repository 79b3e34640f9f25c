"""Pure pen-trajectory maths (numpy only): offsets <-> absolute points, strokes, resampling.

A handwriting line is an array of shape (T, 3): (dx, dy, pen_up). Row t holds the offset from
point t-1 to point t (the first row from the origin) and pen_up = 1 when the pen is lifted after
point t, i.e. point t ends a stroke (Graves 2013, section 4.1: "end-of-stroke").
"""

from __future__ import annotations

import numpy as np


def to_absolute(offsets: np.ndarray) -> np.ndarray:
    """(T, 3) offsets -> (T, 3) absolute (x, y, pen_up) by a cumulative sum of the offsets."""
    out = np.array(offsets, dtype=np.float64, copy=True)
    out[:, :2] = np.cumsum(out[:, :2], axis=0)
    return out


def to_offsets(points: np.ndarray) -> np.ndarray:
    """(T, 3) absolute (x, y, pen_up) -> (T, 3) offsets; the inverse of `to_absolute`."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[1:, :2] = np.diff(out[:, :2], axis=0)
    return out


def strokes_to_points(strokes: list[np.ndarray]) -> np.ndarray:
    """List of (n_i, 2) polylines -> (sum n_i, 3) absolute points with pen_up at stroke ends."""
    parts = []
    for stroke in strokes:
        stroke = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        if len(stroke) == 0:
            continue
        pen = np.zeros((len(stroke), 1))
        pen[-1] = 1.0
        parts.append(np.hstack([stroke, pen]))
    if not parts:
        return np.zeros((0, 3))
    return np.vstack(parts)


def points_to_strokes(points: np.ndarray) -> list[np.ndarray]:
    """(T, 3) absolute points -> list of (n_i, 2) polylines, split after every pen_up."""
    ends = np.flatnonzero(points[:, 2] > 0.5) + 1
    pieces = np.split(points[:, :2], ends)
    return [p for p in pieces if len(p) > 0]


def resample_polyline(line: np.ndarray, step: float, corner_degrees: float = 45.0) -> np.ndarray:
    """Points along the (n, 2) polyline as a digitiser samples a pen: about one every `step` of
    arc length, each vertex turning more than `corner_degrees` kept, so curves and corners
    (where a pen slows down) get more points."""
    line = np.asarray(line, dtype=np.float64).reshape(-1, 2)
    if len(line) < 2:
        return line.copy()
    seg = np.diff(line, axis=0)
    keep = np.linalg.norm(seg, axis=1) > 1e-9
    line = np.vstack([line[:1], line[1:][keep]])
    if len(line) < 2:
        return line[:1].copy()
    # Split at corners: each piece is resampled uniformly in arc length.
    seg = np.diff(line, axis=0)
    heading = np.arctan2(seg[:, 1], seg[:, 0])
    turn = np.abs((np.diff(heading) + np.pi) % (2 * np.pi) - np.pi)
    corners = np.flatnonzero(turn > np.radians(corner_degrees)) + 1
    bounds = [0, *corners.tolist(), len(line) - 1]
    out = [line[:1]]
    for a, b in zip(bounds[:-1], bounds[1:]):
        piece = line[a : b + 1]
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(piece, axis=0), axis=1))])
        n = max(1, int(round(arc[-1] / step)))
        s = np.linspace(0.0, arc[-1], n + 1)[1:]
        out.append(
            np.column_stack([np.interp(s, arc, piece[:, 0]), np.interp(s, arc, piece[:, 1])])
        )
    return np.vstack(out)
