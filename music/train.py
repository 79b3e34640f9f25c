"""Train the composer.

    python -m music.train                                    # Bach chorales, RNN-NADE, <= 5 min
    python -m music.train --config music/configs/quick.yaml  # a one-minute smoke run
    python -m music.train --config music/configs/experiments/lstm_baseline.yaml
    python -m music.train --data.source jsb --data.path "JSB Chorales.pickle"
    python -m music.train --data.source midi --data.path ~/nottingham --data.steps_per_quarter 2

Runs land in runs/music/<name>/ (see DEVELOPERS.md); the main metric is val/nll (nats per frame).
"""

from __future__ import annotations

from common.cli import train_main
from common.errors import command, entry_point
from music.data import MusicDataModule
from music.module import ComposerModule

LINKS = {"data.steps_per_quarter": "model.data_steps_per_quarter"}  # the model follows the data


@entry_point
def main(argv: list[str] | None = None):
    return train_main(ComposerModule, MusicDataModule, argv, links=LINKS)


if __name__ == "__main__":
    command(main)
