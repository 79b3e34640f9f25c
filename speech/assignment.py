"""Registration with the `portfolio` command (kept import-light: nothing heavy at import)."""

from __future__ import annotations

from pathlib import Path

from common.registry import Assignment, Headline


def exam_demo_args(
    ckpt: Path,
    out_dir: Path,
    text: str | None = None,
    wav: Path | None = None,
    listen: str | None = None,
) -> list[str]:
    """Speak two keywords with held-out eSpeak voices into `out_dir`; classify them with `ckpt`.
    The examiner's own recording (`wav`) or words to speak (`text`) replace them; `listen`
    (seconds) spots the keywords the examiner says into the microphone instead. The words go as
    --speak=..., the recording after '--': one that starts with '-' is not read as an option."""
    if listen:
        return ["--listen", "--seconds", str(listen), "--ckpt", str(ckpt), "--out", str(out_dir)]
    if wav or text:
        speak = [f"--speak={text}"] if text else []
        files = ["--", str(wav)] if wav else []
        return [*speak, "--ckpt", str(ckpt), "--out", str(out_dir), *files]
    from speech.demo import write_exam_clips

    files = write_exam_clips(Path(out_dir))
    return [*map(str, files), "--ckpt", str(ckpt), "--out", str(out_dir)]


ASSIGNMENT = Assignment(
    name="speech",
    demo="demo",
    budget_share=6,
    headline=Headline("test/acc", 0.9724, 0.05, "test accuracy, unseen voices"),
)
