"""Registration with the `portfolio` command (import-light: no torch here)."""

from __future__ import annotations

from pathlib import Path

from common.registry import Assignment, Headline


def exam_demo_args(ckpt: Path, out_dir: Path, text: str | None = None) -> list[str]:
    """Write a short, unseen sentence (or the examiner's `text`) in the most legible print style
    of the model card, with its attention plot (a few seconds). The text comes last, after
    '--', so one that starts with '-' ('-hello') is text to write, not an option."""
    out_dir = Path(out_dir)
    return [
        "--ckpt", str(ckpt),
        "--style", "ada",
        "--bias", "2.0",
        "-o", str(out_dir / "handwriting.png"),
        "--attention", str(out_dir / "attention.png"),
        "--", text or "Good luck at the exam!",  # not in the training corpus
    ]  # fmt: skip


ASSIGNMENT = Assignment(
    name="handwriting",
    demo="write",
    budget_share=25,
    headline=Headline("best_score", -3.55, 0.5, "best val/nll per point (nats)"),
)
