"""Train the handwriting synthesis network (Graves 2013, section 5).

python -m handwriting.train                                  # default: embedded Hershey data
python -m handwriting.train --config handwriting/configs/quick.yaml
python -m handwriting.train --data.source iamondb --data.path DIR
python -m handwriting.train --model.hidden_size 384 --trainer.max_epochs 30
python -m handwriting.train --print_config

Float32 on every CPU, so that the same seed trains the same model everywhere (MODEL_CARD.md);
`--trainer.precision bf16-mixed` trains in bf16 mixed precision.
"""

from __future__ import annotations

from common.errors import command, entry_point

LINKS = {"data.alphabet": "model.alphabet"}  # the network knows the characters of its data


@entry_point
def main(argv: list[str] | None = None):
    # Imported here, not above: data generation starts worker processes (spawn), and each one
    # imports this module again before its work; Lightning at the top cost each a few seconds.
    from common.cli import train_main
    from handwriting.data import HandwritingDataModule
    from handwriting.module import HandwritingModule

    return train_main(HandwritingModule, HandwritingDataModule, argv, links=LINKS)


if __name__ == "__main__":
    command(main)
