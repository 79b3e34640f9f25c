"""An independent judge of legibility: an off-the-shelf OCR engine reads the written lines.

RapidOCR (`rapidocr-onnxruntime`, PP-OCRv4 models inside the wheel, offline on a CPU), trained
by nobody in this project, reads each line drawn black on white (cap height `CAP_PX` pixels):
character and word error rates (CER, WER) against the text it was meant to say. The floor is
the same engine on the writer's clean font rendering: what it misreads there is the reader's
error, not the model's.
"""

from __future__ import annotations

import os
import unicodedata
from functools import cache

import numpy as np
from torchaudio.functional import edit_distance  # Levenshtein distance of two sequences

from common.errors import UserError
from handwriting.strokes import points_to_strokes, to_absolute

CAP_PX = 32  # cap height in pixels: the size OCR engines read best (about a 12 pt line)
MARGIN_PX = 8


class OCRUnavailableError(UserError, RuntimeError):
    """The OCR engine is not installed (the message says how to install it)."""


def render(offsets: np.ndarray, cap_px: int = CAP_PX, thickness: int = 3) -> np.ndarray:
    """(T, 3) offsets in cap-height units -> (H, W, 3) uint8 image, black ink on white.

    The scale is fixed (not fitted to the bounding box), so a stray mark far from the line makes
    the image bigger but does not shrink the letters.
    """
    import cv2

    points = to_absolute(np.asarray(offsets, dtype=np.float64))
    if len(points) == 0:
        return np.full((cap_px + 2 * MARGIN_PX, cap_px + 2 * MARGIN_PX, 3), 255, np.uint8)
    xy = points[:, :2] * cap_px
    xy[:, 1] = -xy[:, 1]  # image rows grow downwards
    lo = xy.min(0) - MARGIN_PX
    size = np.ceil(xy.max(0) - lo + MARGIN_PX).astype(int)
    width, height = min(int(size[0]), 8000), min(int(size[1]), 2000)  # runaway samples stay small
    img = np.full((height, width, 3), 255, np.uint8)
    strokes = points_to_strokes(np.column_stack([xy - lo, points[:, 2]]))
    polys = [np.round(s).astype(np.int32).reshape(-1, 1, 2) for s in strokes]
    cv2.polylines(img, polys, False, (0, 0, 0), thickness, cv2.LINE_AA)
    return img


@cache
def engine():
    """The RapidOCR engine (loaded once per process; one thread, as the CPU is shared)."""
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as err:  # pragma: no cover - it is a project dependency
        raise OCRUnavailableError(
            "the OCR judge needs rapidocr-onnxruntime: pip install rapidocr-onnxruntime"
        ) from err
    threads = int(os.environ.get("MAL2_OCR_THREADS", "1"))
    return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, use_cls=False)


def read(image: np.ndarray) -> str:
    """What the OCR engine reads in a one-line image ("" when it reads nothing). Recognition
    only: the detector, made for pages, cut clean lines into pieces and was slow."""
    result, _ = engine()(image, use_det=False, use_cls=False)
    if not result:
        return ""
    return unicodedata.normalize("NFKC", str(result[0][0])).strip()


def read_offsets(offsets: np.ndarray) -> str:
    """OCR of a written line given as (T, 3) offsets in cap-height units."""
    return read(render(offsets))


def normalise(text: str) -> str:
    """Single spaces, no leading/trailing ones; a space before punctuation is dropped (the
    engine often reads a gap before '.' or ','). Case is kept: mixed case is part of the test."""
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    for p in ".,;:!?'\")":
        text = text.replace(" " + p, p)
    return text


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edit distance / len(reference), after `normalise` (may exceed 1)."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    return edit_distance(ref, hyp) / max(len(ref), 1)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: edit distance over words / number of reference words."""
    ref, hyp = normalise(reference).split(), normalise(hypothesis).split()
    return edit_distance(ref, hyp) / max(len(ref), 1)


def score(references: list[str], hypotheses: list[str]) -> dict:
    """Corpus CER and WER (total edits / total length, so long lines weigh more), and the share
    of lines read exactly."""
    chars = sum(len(normalise(r)) for r in references)
    words = sum(len(normalise(r).split()) for r in references)
    c = sum(cer(r, h) * len(normalise(r)) for r, h in zip(references, hypotheses))
    w = sum(wer(r, h) * len(normalise(r).split()) for r, h in zip(references, hypotheses))
    exact = sum(normalise(r) == normalise(h) for r, h in zip(references, hypotheses))
    return {
        "cer": c / max(chars, 1),
        "wer": w / max(words, 1),
        "exact": exact / max(len(references), 1),
        "lines": len(references),
    }
