"""IAM-OnDB (Liwicki & Bunke 2005) from the archives a registered user downloads.

`lineStrokes-all.tar.gz` holds one XML file per text line
(lineStrokes/a01/a01-000/a01-000u-01.xml: <StrokeSet><Stroke><Point x= y= time=/>...), and
`ascii-all.tar.gz` one text file per form (ascii/a01/a01-000/a01-000u.txt) whose "CSR:" section
lists the form's lines in order: line k belongs to a01-000u-{k:02d}.xml.
"""

from __future__ import annotations

import re
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from common.cache import load_tensors, save_tensors
from common.errors import DataError
from handwriting.strokes import resample_polyline, strokes_to_points, to_offsets

PARSER_VERSION = 1
STROKES_ARCHIVE = "lineStrokes-all.tar.gz"
ASCII_ARCHIVE = "ascii-all.tar.gz"


def parse_transcriptions(text: str) -> list[str]:
    """The lines of a form's "CSR:" section (the corrected transcription), in order."""
    match = re.search(r"CSR:\s*\n(.*)", text, flags=re.S)
    if not match:
        return []
    return [line.strip() for line in match.group(1).strip("\n").splitlines() if line.strip()]


def parse_strokes(xml_bytes: bytes) -> list[np.ndarray]:
    """The strokes of one line file: (n, 2) arrays of (x, y), y pointing up."""
    root = ET.fromstring(xml_bytes)
    strokes = []
    for stroke in root.iter("Stroke"):
        pts = [(float(p.get("x")), -float(p.get("y"))) for p in stroke.iter("Point")]
        if pts:
            strokes.append(np.array(pts))
    return strokes


def normalise_line(strokes: list[np.ndarray], step: float = 0.1) -> np.ndarray:
    """Strokes in tablet units -> (T, 3) offsets: the line's body height (5-95 % of y) becomes
    1, the line starts at the origin, and the pen is resampled to about `step` between points
    (the tablet samples far denser than a CPU needs). Global scaling to unit variance of the
    offsets (Graves 2013, 4.1) happens in the data module, over the training set."""
    allpts = np.vstack(strokes)
    lo, hi = np.percentile(allpts[:, 1], [5, 95])
    height = max(hi - lo, 1e-6)
    origin = np.array([allpts[:, 0].min(), lo])
    resampled = [resample_polyline((s - origin) / height, step) for s in strokes]
    return to_offsets(strokes_to_points(resampled)).astype(np.float32)


def read_archives(
    folder: Path, min_points: int = 10, max_jump: float = 8.0
) -> tuple[list, Counter]:
    """(line id, text, offsets) for every usable line, and a count of dropped lines by reason.

    Lines are dropped when they have no transcription, no or too few points, unreadable XML,
    or a jump between points longer than `max_jump` body heights (a broken recording).
    """
    folder = Path(folder)
    for name in (STROKES_ARCHIVE, ASCII_ARCHIVE):
        if not (folder / name).exists():
            raise DataError(
                f"{folder / name} not found: download {STROKES_ARCHIVE} and {ASCII_ARCHIVE} "
                "from https://fki.tic.heia-fr.ch/databases/iam-on-line-handwriting-database "
                f"(free registration) into {folder}"
            )
    texts: dict[str, str] = {}
    with tarfile.open(folder / ASCII_ARCHIVE) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".txt"):
                form = Path(member.name).stem  # a01-000u
                content = tar.extractfile(member).read().decode("latin-1")
                for k, line in enumerate(parse_transcriptions(content), start=1):
                    texts[f"{form}-{k:02d}"] = line
    lines, dropped = [], Counter()
    with tarfile.open(folder / STROKES_ARCHIVE) as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith(".xml")):
                continue
            line_id = Path(member.name).stem
            if line_id not in texts:
                dropped["no transcription"] += 1
                continue
            try:
                strokes = parse_strokes(tar.extractfile(member).read())
            except ET.ParseError:
                dropped["unreadable xml"] += 1
                continue
            if sum(len(s) for s in strokes) < min_points:
                dropped["too few points"] += 1
                continue
            offsets = normalise_line(strokes)
            if np.abs(offsets[1:, :2]).max() > max_jump:
                dropped["jump too long"] += 1
                continue
            lines.append((line_id, texts[line_id], offsets))
    return lines, dropped


def load_or_parse(folder: Path, cache_dir: Path, val_fraction: float, seed: int) -> dict:
    """Parsed IAM-OnDB split into train/val by form (a writer's form stays on one side),
    cached under cache_dir with a version stamp."""
    cache = cache_dir / f"iamondb-v{PARSER_VERSION}-s{seed}-v{val_fraction}.pt"
    cached = load_tensors(cache, "IAM-OnDB")
    if cached is not None:
        return cached
    lines, dropped = read_archives(folder)
    if dropped:
        print("IAM-OnDB: dropped " + ", ".join(f"{n} lines ({why})" for why, n in dropped.items()))
    if not lines:
        raise DataError(f"no usable lines in the IAM-OnDB archives under {folder}")
    forms = sorted({lid.rsplit("-", 1)[0] for lid, _, _ in lines})
    order = torch.randperm(len(forms), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, int(round(val_fraction * len(forms))))
    val_forms = {forms[i] for i in order[:n_val]}
    out = {}
    for split in ("train", "val"):
        part = [ln for ln in lines if (ln[0].rsplit("-", 1)[0] in val_forms) == (split == "val")]
        out[split] = {
            "offsets": [torch.from_numpy(o) for _, _, o in part],
            "texts": [t for _, t, _ in part],
            "writers": [lid.rsplit("-", 1)[0] for lid, _, _ in part],
        }
    out["dropped"] = dict(dropped)
    save_tensors(out, cache)
    return out
