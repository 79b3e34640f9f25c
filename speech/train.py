"""Train the keyword spotter.

python -m speech.train                          # embedded eSpeak set, ~5 min on 2 cores
python -m speech.train --config speech/configs/quick.yaml   # about a minute
python -m speech.train --data.source speechcommands --data.download true --trainer.max_epochs 30
python -m speech.train --model.labels 12 --data.labels 12   # 10 commands + unknown + silence
python -m speech.train --print_config                    # every option and its value

On a CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX) training runs in bf16 mixed
precision (about a quarter faster, same accuracy); elsewhere in float32, where emulated bf16
would be slower. `--trainer.precision` overrides the choice.
"""

from __future__ import annotations

import sys

import torch

from common.cli import train_main
from speech.data import KeywordDataModule
from speech.module import KeywordModule


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (torch's own check of the CPU flags)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def main(args: list[str] | None = None):
    args = list(sys.argv[1:] if args is None else args)
    if cpu_has_bf16():  # before the user's arguments, so any --trainer.precision or --config wins
        args = ["--trainer.precision", "bf16-mixed", *args]
    return train_main(KeywordModule, KeywordDataModule, assignment="speech", args=args)


if __name__ == "__main__":
    main()
