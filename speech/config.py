"""Typed configuration for the keyword-spotting assignment, and its label sets."""

from __future__ import annotations

from dataclasses import dataclass

# The 35 words of Google Speech Commands v2 (Warden 2018), in the dataset's alphabetical order.
WORDS_35 = [
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four",
    "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right",
    "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
]  # fmt: skip
# The 10 command words of the 12-class task; the other 25 words become _unknown_.
COMMANDS_10 = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
UNKNOWN, SILENCE = "_unknown_", "_silence_"
LABELS_12 = [*COMMANDS_10, UNKNOWN, SILENCE]


def label_set(name: str) -> list[str]:
    """The class names of task `name` ("35" or "12")."""
    if name == "35":
        return list(WORDS_35)
    if name == "12":
        return list(LABELS_12)
    raise ValueError(f"unknown label set {name!r}; use '35' (all words) or '12' (10 + 2)")


@dataclass
class ModelConfig:
    """BC-ResNet and its front end, built by `KeywordModule` from its arguments (see there)."""

    width: int
    time_stride: int
    depth: list[int]
    activation: str
    dropout: float
    hop_ms: float
    f_max: float | None
    norm: str
    top_db: float
    lifter: int
    freq_mask: int
    time_mask: int
    n_masks: int
    pretrained: bool
    gate: bool
    sample_rate: int = 16000  # not a setting: every input is resampled to it
    n_mels: int = 40  # not a setting: BC-ResNet's frequency axis is built for 40 bands
    win_ms: float = 30.0  # not a setting: the analysis window of the log-mels
