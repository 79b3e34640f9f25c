"""Registration with `portfolio` (import-light: nothing heavy is imported here)."""

from __future__ import annotations

from pathlib import Path

from common.registry import Assignment, Headline


def exam_demo_args(
    ckpt: Path, out_dir: Path, prime: Path | None = None, melody: str | None = None
) -> list[str]:
    """Compose 8 bars from the checkpoint into out_dir: MIDI, piano-roll PNG and WAV; with the
    examiner's `prime` (a MIDI file) or `melody` (typed notes) the piece continues it; given
    as --melody=..., so a value that starts with '-' is not read as an option."""
    return [
        "--ckpt", str(ckpt),
        "--bars", "8",
        "--temperature", "0.9",
        "--seed", "0",
        *([f"--prime={prime}"] if prime else []),
        *([f"--melody={melody}"] if melody else []),
        "-o", str(Path(out_dir) / "composition.mid"),
    ]  # fmt: skip


ASSIGNMENT = Assignment(
    name="music",
    demo="compose",
    budget_share=8,
    headline=Headline("test/nll", 5.44, 0.5, "test NLL per frame"),
)
