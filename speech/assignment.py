"""Registration with the `portfolio` command (kept import-light: nothing heavy at import)."""

from __future__ import annotations

from pathlib import Path

from common.registry import Assignment


def exam_demo_args(ckpt: Path, out_dir: Path) -> list[str]:
    """Speak two keywords with held-out eSpeak voices into `out_dir`; classify them with `ckpt`."""
    from speech.demo import write_exam_clips

    files = write_exam_clips(Path(out_dir))
    return [*map(str, files), "--ckpt", str(ckpt), "--out", str(out_dir)]


ASSIGNMENT = Assignment(
    name="speech",
    title="Recognizing speech",
    summary="BC-ResNet keyword spotter: which of the 35 Speech Commands words was said",
    train="speech.train:main",
    evaluate="speech.evaluate:main",
    demo="speech.demo:main",
    exam_demo_args=exam_demo_args,
    monitor="val/acc",
    mode="max",
    budget_share=6,  # weight in `portfolio train all --budget`: its target minutes
)
