"""The composer network's shape, built by `ComposerModule` from its arguments (see there)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    kind: str
    hidden: int
    layers: int
    dropout: float
    nade_hidden: int
    orderings: tuple[str, ...]
    context_frames: int
    n_keys: int = 88  # not a setting: the keys of the piano roll
