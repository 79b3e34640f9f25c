"""Typed configuration for the keyword-spotting assignment, and its label sets."""

from __future__ import annotations

from dataclasses import dataclass, field

# The 35 words of Google Speech Commands v2 (Warden 2018), in the dataset's alphabetical order.
WORDS_35 = [
    "backward",
    "bed",
    "bird",
    "cat",
    "dog",
    "down",
    "eight",
    "five",
    "follow",
    "forward",
    "four",
    "go",
    "happy",
    "house",
    "learn",
    "left",
    "marvin",
    "nine",
    "no",
    "off",
    "on",
    "one",
    "right",
    "seven",
    "sheila",
    "six",
    "stop",
    "three",
    "tree",
    "two",
    "up",
    "visual",
    "wow",
    "yes",
    "zero",
]
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
    """BC-ResNet and its front end."""

    sample_rate: int = 16000
    """Audio sample rate in Hz; every input is resampled to it."""
    n_mels: int = 40
    """Mel bands of the log-mel features (BC-ResNet needs 40)."""
    hop_ms: float = 10.0
    """Frame hop of the log-mel features in ms (window 30 ms)."""
    f_max: float | None = None
    """Highest mel frequency in Hz (None: the Nyquist frequency)."""
    norm: str = "utterance"
    """Feature normalisation per clip: utterance (mean/std) or band (each band's mean first)."""
    top_db: float = 80.0
    """Floor of the log-mels below each clip's loudest bin, in dB."""
    lifter: int = 0
    """Cepstral smoothing: keep this many DCT coefficients of each log-mel frame (0: off)."""
    width: int = 24
    """Base channel count, the paper's 8*tau (BC-ResNet-3: 24)."""
    depth: list[int] = field(default_factory=lambda: [2, 2, 4, 4])
    """BC-ResBlocks in each of the four stages."""
    activation: str = "silu"
    """Activation in the temporal branch: relu, silu, gelu or tanh."""
    dropout: float = 0.1
    """Dropout2d rate at the end of each block."""
    freq_mask: int = 7
    """SpecAugment: widest frequency mask (mel bands)."""
    time_mask: int = 20
    """SpecAugment: widest time mask (frames)."""
    n_masks: int = 2
    """SpecAugment: masks of each kind per clip (0 turns SpecAugment off)."""


@dataclass
class DataConfig:
    """Where the clips come from and how they are batched."""

    source: str = "espeak"
    """espeak (embedded synthetic set), speechcommands (Google v2) or folder (<root>/<label>/)."""
    root: str | None = None
    """Folder of speechcommands/folder data (default: data/speech/SpeechCommands)."""
    download: bool = False
    """speechcommands: download the 2.3 GB archive when `root` has no data."""
    labels: str = "35"
    """35 (all words), 12 (10 commands + _unknown_ + _silence_) or a comma-separated word list."""
    train_per_word: int = 240
    """espeak: training clips per word."""
    val_per_word: int = 40
    """espeak: validation clips per word."""
    test_per_word: int = 60
    """espeak: test clips per word (held-out voices)."""
    seed: int = 0
    """espeak: generation seed."""
    time_shift_ms: float = 100.0
    """Training: random time shift of up to this many ms."""
    noise_prob: float = 0.8
    """speechcommands/folder training: probability of mixing in background noise."""
    silence_fraction: float = 0.1
    """12-class task: number of _silence_ clips as a fraction of each split."""
    batch_size: int = 128
    """Clips per batch."""
    num_workers: int = 0
    """DataLoader worker processes."""
