"""Accuracy of a checkpoint, printed as the JSON report (assignment, checkpoint, data, metrics,
files) and written to <out>/evaluation.json: overall, per class, per speaker group; plus a
confusion-matrix PNG.

    python -m speech.evaluate --ckpt runs/speech/<run>/checkpoints/best.ckpt          # test split
    python -m speech.evaluate --ckpt CKPT --data-dir my_recordings/   # <dir>/<label>/*.wav

A folder may hold `metadata.csv` (a `path` column relative to the folder, plus group columns such
as `accent`) for accuracy per group. Labels the model does not know are skipped and counted.
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import evaluation
from common.checkpoints import Trained, load_trained
from common.demo import command_parser
from common.errors import command, entry_point
from speech import audio
from speech.data import DataError, FileDataset, KeywordDataModule, read_groups, scan_folder
from speech.data import target_of as _target_of
from speech.plots import plot_confusion


def folder_dataset(root: Path, names: list[str]) -> tuple:
    """(dataset, groups, skipped labels, unreadable files) for a `<root>/<label>/*.wav` folder."""
    known, skipped = scan_folder(root, names)
    meta = read_groups(root)
    paths, targets, unreadable = [], [], {}
    group_rows = []
    for label, files in known.items():
        for path in files:
            try:  # check once, so one bad file is reported instead of stopping the run
                short = audio.too_short(audio.load_audio(path))
            except audio.AudioError as err:
                unreadable[str(path)] = str(err).split(": ", 1)[-1]
                continue
            if short:
                unreadable[str(path)] = short
                continue
            paths.append(path)
            targets.append(_target_of(label, names))
            group_rows.append(meta.get(f"{label}/{path.name}", {}))
    if not paths:
        first = next(iter(unreadable.items()), ("-", "-"))
        raise DataError(
            f"{root}: none of the {len(unreadable)} audio files can be classified (e.g. "
            f"{first[0]}: {first[1]}); give readable WAV/FLAC/OGG recordings of a word"
        )
    keys = sorted({k for row in group_rows for k in row})
    groups = {k: [row.get(k, "(unknown)") for row in group_rows] for k in keys}
    return FileDataset(paths, targets), groups, skipped, unreadable


def evaluate(
    trained: Trained, data_dir: Path | None, out: Path, split: str = "test", batch_size: int = 64
) -> tuple[str, dict, dict]:
    """Score a checkpoint on a folder or on its own data module's split; write the confusion
    matrix PNG. Returns the report's data, metrics and files."""
    module = trained.module
    names = module.class_names
    skipped: dict[str, int] = {}
    unreadable: dict[str, str] = {}
    if data_dir is not None:
        dataset, groups, skipped, unreadable = folder_dataset(data_dir, names)
        source = str(data_dir)
        for path, why in list(unreadable.items())[:5]:  # all of them are in the JSON
            print(f"speech.evaluate: not scored: {path}: {why}", file=sys.stderr)
    else:
        dm = trained.datamodule(KeywordDataModule)
        dm.setup("test")
        dataset = dm.splits[split]
        groups = getattr(dataset, "groups", {})
        source = f"{dm.hparams.source}:{split}"
    preds, targets = module.predict_dataset(dataset, batch_size)
    metrics = {"labels": len(names), **module.accuracy_report(preds, targets, groups)}
    metrics["skipped_labels"] = skipped
    metrics["n_skipped"] = sum(skipped.values())
    metrics["unreadable_files"] = unreadable
    stem = Path(data_dir).name if data_dir else split
    png = plot_confusion(preds, targets, names, out / f"confusion_{stem}.png")
    return source, metrics, {"confusion_matrix": str(png)}


@entry_point
def main(argv: list[str] | None = None) -> dict:
    parser = command_parser("speech.evaluate", __doc__)
    evaluation.add_arguments(
        parser,
        data_dir="folder laid out as <dir>/<label>/*.wav (default: the checkpoint's own data set)",
        split_help="split of the checkpoint's data set when no --data-dir is given",
    )
    args = parser.parse_args(argv)
    trained = load_trained("speech", args.ckpt)
    out = evaluation.out_dir(args.out, trained.path)
    data, metrics, files = evaluate(trained, args.data_dir, out, args.split, args.batch_size)
    return evaluation.report("speech", trained.path, data, metrics, files, out)


if __name__ == "__main__":
    command(main)
