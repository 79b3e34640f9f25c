"""Typed configuration of the data and the composer network."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    source: str = "chorales"
    """Where the pieces come from: "chorales" (music21's Bach corpus), "jsb" (pickle), "midi"."""
    path: str | None = None
    """JSB pickle file or MIDI folder; for "jsb" without a path the pickle is downloaded."""
    steps_per_quarter: int = 1
    """Grid points per quarter note: 1 quarter (the benchmark's grid), 2 eighth, 4 sixteenth."""
    transpose: int = 5
    """Training pieces are shifted by a random number of semitones in [-transpose, transpose]."""
    seq_len: int = 128
    """Training crops: pieces longer than this many steps are cut at a random place."""
    eval_len: int = 1024
    """Validation and test pieces are scored in windows of at most this many steps."""
    batch_size: int = 16
    """Pieces per batch."""
    val_fraction: float = 0.1
    """Share of pieces held out for validation (chorales and MIDI folders)."""
    test_fraction: float = 0.1
    """Share of pieces held out for testing (chorales and MIDI folders)."""
    split_seed: int = 0
    """Seed of the split by piece (independent of the training seed)."""
    max_pieces: int | None = None
    """Use only the first pieces of the collection (quick runs and tests)."""
    num_workers: int = 0
    """DataLoader worker processes."""


@dataclass
class ModelConfig:
    kind: str = "nade"
    """"lstm": independent Bernoulli per key (baseline); "nade": RNN-NADE over a frame's keys."""
    hidden: int = 256
    """LSTM units per layer (the model of time)."""
    layers: int = 2
    """Stacked LSTM layers."""
    dropout: float = 0.3
    """Dropout between and after the LSTM layers."""
    nade_hidden: int = 128
    """NADE hidden units (the model of the notes inside a frame); unused by "lstm"."""
    orderings: tuple[str, ...] = ("down",)
    """Note orderings of the NADE heads ("up", "down", "shuffleN"): one head each, evaluated as
    their mixture (an ensemble over orderings). "down" (soprano first) allows harmonizing."""
    n_keys: int = 88
    """Keys of the piano roll."""
