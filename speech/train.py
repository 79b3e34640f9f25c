"""Train the keyword spotter.

python -m speech.train                          # embedded eSpeak set, ~5 min on 2 cores
python -m speech.train --config speech/configs/quick.yaml   # about a minute
python -m speech.train --data.source speechcommands --data.download true --trainer.max_epochs 30
python -m speech.train --data.labels 12     # 10 commands + unknown + silence (model follows)
python -m speech.train --print_config                    # every option and its value

bf16 mixed precision on a CPU with native bfloat16, float32 elsewhere (DEVELOPERS.md);
`--trainer.precision` overrides the choice.
"""

from __future__ import annotations

from common.errors import command, entry_point

LINKS = {"data.labels": "model.labels"}  # the model's outputs follow the data's labels


@entry_point
def main(argv: list[str] | None = None):
    # Imported here, not above: data generation starts worker processes (spawn), and each one
    # imports this module again before its work; Lightning at the top cost each a few seconds.
    from common.cli import train_main
    from speech.data import KeywordDataModule
    from speech.module import KeywordModule

    return train_main(KeywordModule, KeywordDataModule, argv, bf16_where_native=True, links=LINKS)


if __name__ == "__main__":
    command(main)
