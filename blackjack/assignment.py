"""Registration with the `portfolio` command (kept import-light: no torch here)."""

from __future__ import annotations

from pathlib import Path

from common.registry import Assignment, Headline


def exam_demo_args(ckpt: Path, out_dir: Path, hand: str | None = None) -> list[str]:
    """The agent plays three seeded hands, explaining each move; frames go to out_dir/frames.
    With the examiner's `hand` ('10 6 vs 9') each of the three is dealt from those cards (given
    as --hand=..., so a hand that starts with '-' is refused as a hand, not as an option)."""
    return [
        "--ckpt", str(ckpt),
        "--auto", "3",
        "--seed", "0",
        "--frames", str(out_dir / "frames"),
        *([f"--hand={hand}"] if hand else []),
    ]  # fmt: skip


ASSIGNMENT = Assignment(
    name="blackjack",
    demo="play",
    overfit=None,  # train/loss is a TD error on replayed play, val/loss the distance to Q*
    budget_share=3,
    headline=Headline("exact_return", -0.04394, 0.005, "exact expected return per hand"),
)
