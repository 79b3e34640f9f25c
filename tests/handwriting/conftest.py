"""Shared fixtures: a tiny IAM-OnDB download in the real archive layout."""

import io
import tarfile

import numpy as np
import pytest

from handwriting import iamondb


def stroke_xml(strokes) -> bytes:
    body = "".join(
        '<Stroke colour="black" start_time="0" end_time="1">'
        + "".join(f'<Point x="{x}" y="{y}" time="0"/>' for x, y in s)
        + "</Stroke>"
        for s in strokes
    )
    session = f"<WhiteboardCaptureSession><StrokeSet>{body}</StrokeSet></WhiteboardCaptureSession>"
    return ('<?xml version="1.0"?>' + session).encode()


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def line(x0: float, n: int = 30, jump: float = 0.0):
    """Two strokes in tablet units (y grows downwards), about 200 units high."""
    xs = x0 + np.arange(n) * 10.0
    return [
        [(x, 1000 + 100 * np.sin(x / 40)) for x in xs],
        [(xs[-1] + 30 + jump, 900), (xs[-1] + 60 + jump, 1100)],
    ]


@pytest.fixture
def archive(tmp_path):
    forms = {
        "a01-000u": ["A MOVE to stop", "Mr. Gaitskell from"],
        "b02-011z": ["nominating any more", "Labour life Peers", "is to be made"],
    }
    with tarfile.open(tmp_path / iamondb.ASCII_ARCHIVE, "w:gz") as tar:
        for form, lines in forms.items():
            text = "OCR:\n\nsome ocr text\n\nCSR:\n\n" + "\n".join(lines) + "\n"
            add(tar, f"ascii/{form[:3]}/{form[:7]}/{form}.txt", text.encode())
    with tarfile.open(tmp_path / iamondb.STROKES_ARCHIVE, "w:gz") as tar:

        def put(form, k, strokes):
            add(tar, f"lineStrokes/{form[:3]}/{form[:7]}/{form}-{k:02d}.xml", stroke_xml(strokes))

        put("a01-000u", 1, line(0))
        put("a01-000u", 2, line(500))
        put("b02-011z", 1, line(100))
        put("b02-011z", 2, [[(0, 0), (1, 1)]])  # broken: too few points
        put("b02-011z", 3, line(100, jump=5000))  # broken: the pen jumps across the tablet
        put("b02-011z", 4, line(100))  # no transcription line 4
    return tmp_path
