"""Train the DQN agent on Gymnasium Blackjack-v1.

    python -m blackjack.train                                   # default: <= 2 min on 2 cores
    python -m blackjack.train --config blackjack/configs/quick.yaml         # ~20 s smoke run
    python -m blackjack.train --model.hidden '[64, 64]' --model.lr 3e-3 --trainer.max_epochs 10
    python -m blackjack.train --model.sab false --model.natural true      # casino 3:2 naturals
    python -m blackjack.train --print_config

The run folder runs/blackjack/<name>/ gets checkpoints, metrics.csv, learning_curves.png,
learning_curve.png (exact return against episodes), strategy.png and policy.csv.
"""

from __future__ import annotations

from blackjack.module import DQNAgent
from common.cli import train_main
from common.errors import command, entry_point


@entry_point
def main(argv: list[str] | None = None):
    return train_main(DQNAgent, None, argv)


if __name__ == "__main__":
    command(main)
