"""Score a checkpoint: NLL (nats per frame) and frame accuracy on a split, and statistics of
composed pieces next to the training data's, printed as the JSON report (assignment, checkpoint,
data, metrics, files) and written to <out>/evaluation.json.

    python -m music.evaluate --ckpt runs/music/NAME/checkpoints/best.ckpt
    python -m music.evaluate --ckpt CKPT --data.source jsb --data.path "JSB Chorales.pickle"
    python -m music.evaluate --ckpt CKPT --split val --samples 16 --bars 16 --out eval/

Without --ckpt, the best checkpoint of the latest music run. The data options default to the ones
the checkpoint was trained with.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from common import evaluation
from common.demo import command_parser, number
from common.errors import DataError, UserError, command, entry_point
from music import midi
from music.compose import compose
from music.data import MusicDataModule, WindowDataset, pad_collate
from music.module import FrameAccuracy

DATA_OPTIONS = ("source", "path", "max_pieces", "eval_len", "split_seed")
SPLITS = {"train": "train", "val": "valid", "test": "test"}  # --split -> the data's key


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = command_parser("music.evaluate", __doc__)
    evaluation.add_arguments(
        p,
        data_dir="JSB pickle or MIDI folder to score (as --data.path; default: the checkpoint's)",
        split_aliases={"valid": "val"},  # JSB's own name for the validation split
        batch_size=16,
    )
    at_least_one = number(1, integer=True)  # 0 and below: a traceback, or pieces quietly left out
    old_name = "--batch_size"  # before --batch-size
    p.add_argument(old_name, dest="batch_size", type=at_least_one, help=argparse.SUPPRESS)
    p.add_argument(
        "--data.source",
        dest="source",
        choices=("chorales", "jsb", "midi"),
        help="data to score (default: the checkpoint's)",
    )
    p.add_argument("--data.path", dest="path", help="JSB pickle or MIDI folder")
    p.add_argument(
        "--data.max_pieces", dest="max_pieces", type=at_least_one, help="only the first pieces"
    )
    p.add_argument(
        "--data.eval_len",
        dest="eval_len",
        type=at_least_one,
        help="steps per scored window (longer: cut)",
    )
    p.add_argument(
        "--data.split_seed", dest="split_seed", type=int, help="seed of the split by piece"
    )
    p.add_argument(
        "--transpositions",
        type=int,
        help="score with an ensemble over the piece shifted by -N..N semitones "
        "(default: the checkpoint's eval_transpositions; 0 = the single model)",
    )
    p.add_argument("--samples", type=int, default=8, help="pieces to compose for the statistics")
    p.add_argument("--bars", type=int, default=16, help="length of each composed piece")
    p.add_argument("--temperature", type=float, default=0.9, help="sampling temperature")
    p.add_argument("--seed", type=int, default=0, help="seed of the composed pieces")
    args = p.parse_args(argv)
    if args.data_dir is not None:
        args.path = str(args.data_dir)
        if args.source is None:  # a folder is MIDI files, a file a JSB pickle (as --help says)
            args.source = "midi" if args.data_dir.is_dir() else "jsb"
    return args


@torch.no_grad()
def score(
    module, rolls: list[np.ndarray], eval_len: int, batch_size: int = 16, transpositions: int = 0
) -> dict:
    """NLL in nats per frame (summed over the 88 keys, averaged over frames) and Bay et al.
    frame accuracy of `module` on the pieces, each frame predicted from the true frames before;
    with `transpositions` > 0 the NLL is the transposition ensemble's (frame accuracy is the
    single model's)."""
    module.eval()
    windows = DataLoader(WindowDataset(rolls, eval_len), batch_size, collate_fn=pad_collate)
    total, frames, acc = 0.0, 0, FrameAccuracy()
    for x, mask in windows:
        total += float(module.frame_nll(x, transpositions)[mask].sum())
        frames += int(mask.sum())
        acc.update(module.model.predict(x)[mask], x[mask])
    return {"nll": total / max(frames, 1), "frame_acc": float(acc.compute()), "frames": frames}


@entry_point
def main(argv: list[str] | None = None) -> dict:
    from common.checkpoints import load_trained

    args = parse_args(argv)
    if args.samples < 0 or args.bars < 1 or args.temperature <= 0:
        raise UserError("--samples >= 0, --bars >= 1 and --temperature > 0 are required")
    trained = load_trained("music", args.ckpt)
    module, path = trained.module, trained.path
    data = {k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None}
    if args.source and args.source != trained.data_hparams.get("source") and args.path is None:
        data["path"] = None  # another source: do not reuse the old source's path
    dm = trained.datamodule(MusicDataModule, **data, steps_per_quarter=module.steps_per_quarter)
    rolls = dm.load()
    c = dm.hparams
    given = {v: k for k, v in SPLITS.items() if v in rolls}  # the data's key -> --split
    if SPLITS[args.split] not in rolls:
        raise DataError(
            f"{c.path} has no '{args.split}' split (held out); "
            f"score --split {' or '.join(given.values())} instead"
        )
    pieces = rolls[SPLITS[args.split]]

    shifts = (
        module.hparams.eval_transpositions if args.transpositions is None else args.transpositions
    )
    if shifts < 0:
        raise UserError(f"--transpositions must be 0 or more, got {shifts}")
    start = time.perf_counter()
    data = {"source": c.source, "path": c.path, "steps_per_quarter": c.steps_per_quarter}
    data.update(split=args.split, pieces=len(pieces))
    result = {
        "model": module.hparams.kind,
        "transpositions": shifts,
        **score(module, pieces, c.eval_len, args.batch_size, shifts),
    }
    result["score_seconds"] = round(time.perf_counter() - start, 2)

    torch.manual_seed(args.seed)
    spq = module.steps_per_quarter
    generated = [
        compose(module.model, args.bars, spq, args.temperature) for _ in range(args.samples)
    ]
    train_stats = midi.roll_statistics(rolls["train"])
    if generated:
        gen_stats = midi.roll_statistics(generated)
        gen_stats["pitch_class_distance_to_train"] = midi.histogram_distance(
            gen_stats["pitch_class_histogram"], train_stats["pitch_class_histogram"]
        )
        result["generated"] = gen_stats
    result["train_data"] = train_stats
    out = evaluation.out_dir(args.out, path)
    return evaluation.report("music", path, data, result, {}, out)


if __name__ == "__main__":
    command(main)
