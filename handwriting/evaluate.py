"""Evaluate a handwriting checkpoint: validation NLL, and unseen text read back by an OCR engine.

    python -m handwriting.evaluate --ckpt runs/handwriting/NAME/checkpoints/best.ckpt
    python -m handwriting.evaluate --ckpt CKPT --out samples/ --seeds 3 --proxy-texts 20

Prints the JSON report (assignment, checkpoint, data, metrics, files; also written to
<out>/evaluation.json). Metrics: NLL per point and per line on the validation lines, and, for
a synthesis network, the OCR judge of `handwriting.ocr` reading the unseen phrases of
`handwriting/unseen.txt` written in each style: CER and WER per style over sampling seeds,
beside the same OCR on the style's clean font (the reader's floor). `--proxy-texts N` adds the
shape proxy of `handwriting.legibility`. Samples are saved as PNGs.
"""

from __future__ import annotations

import argparse
import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from common import evaluation
from common.demo import command_parser, number
from common.errors import command, entry_point
from handwriting import hershey, legibility, ocr
from handwriting.config import CANDIDATES
from handwriting.text import wrap
from handwriting.write import MAX_LINE_CHARS, write_lines

FONT_FAMILY = {"futural": "simplex", "rowmans": "simplex", "timesi": "times italic",
               "scripts": "script", "cursive": "script"}  # fmt: skip


@torch.no_grad()
def validation_nll(module, datamodule, max_batches: int | None = None) -> dict:
    """Mean NLL per point and per line over the validation set."""
    datamodule.setup("validate")
    # Score in the units the network was trained in (its own copy of the training scale).
    datamodule.val_set.scale = torch.tensor([*module.scale.tolist(), 1.0])
    total, points, lines = 0.0, 0, 0
    for batch in islice(datamodule.val_dataloader(), max_batches):  # None: all of them
        total += float(module.point_nll(batch).sum())
        points += int(batch["mask"].sum())
        lines += len(batch["x"])
    return {
        "val_nll_per_point": total / points,
        "val_nll_per_line": total / lines,
        "val_lines": lines,
        "val_points": points,
    }


def ocr_test(
    module,
    phrases: list[str],
    styles: list[str],
    bias: float = 2.0,
    seeds: tuple[int, ...] = (0, 1, 2),
    out_dir: Path | None = None,
    exam_line: str | None = "Good luck at the exam!",
    candidates: int = CANDIDATES,
) -> dict:
    """Write every phrase in every style with each sampling seed, read it with the OCR judge.

    A style's phrases are one batch per seed (`write_many`); the exam line is written as
    `handwriting.write` writes it; every line is the likeliest of `candidates` draws.
    Returns per style: CER, WER and exact-line share (mean, min, max over seeds), the floor, the
    first seed's readings; the exam line per seed and its reading; sampling points per second.
    """
    from handwriting.plots import save_lines

    result, points, took = {}, 0, 0.0
    for style in styles:
        writer = hershey.WRITERS[style]
        per_seed, readings = [], []
        for seed in seeds:
            start = time.perf_counter()  # all phrases in one batch: one seed draws them all
            written = module.write_many(phrases, style, bias, seed, candidates=candidates)
            rows = [o for o, _, _ in written]
            took += time.perf_counter() - start
            points += sum(len(o) for o in rows)
            hyps = [ocr.read_offsets(o) for o in rows]
            per_seed.append(ocr.score(phrases, hyps))
            if seed == seeds[0]:
                readings = hyps
                if out_dir is not None:
                    titles = [f"{style}: {t}  ->  OCR: {h}" for t, h in zip(phrases, hyps)]
                    save_lines(rows, Path(out_dir) / f"ocr_{style}.png", titles)
        floor = ocr.score(
            phrases, [ocr.read_offsets(hershey.render_line(t, writer)) for t in phrases]
        )
        result[style] = {
            **{k: _spread([s[k] for s in per_seed]) for k in ("cer", "wer", "exact")},
            "floor": {k: floor[k] for k in ("cer", "wer", "exact")},
            "read": [{"text": t, "ocr": h} for t, h in zip(phrases, readings)],
        }
    report = {
        "per_style": result,
        "phrases": len(phrases),
        "seeds": list(seeds),
        "bias": bias,
        "candidates": candidates,
        "points_per_second": points / max(took, 1e-9),
    }
    if exam_line is not None:
        style = "ada" if "ada" in styles else styles[0]
        reads = []
        for seed in seeds:
            lines = write_lines(
                module, wrap(exam_line, MAX_LINE_CHARS), style, bias, seed, None, candidates
            )
            reads.append(" ".join(ocr.read_offsets(o) for o, _, _ in lines))
        report["exam_line"] = {
            "text": exam_line,
            "style": style,
            "ocr": reads,
            "exact": _spread([float(ocr.normalise(r) == exam_line) for r in reads]),
        }
    return report


def _spread(values: list[float]) -> dict:
    """Mean, min and max of a figure over sampling seeds."""
    return {"mean": float(np.mean(values)), "min": float(min(values)), "max": float(max(values))}


def legibility_test(
    module,
    texts: list[str],
    styles: list[str],
    n_distractors: int = 9,
    bias: float = 2.0,
    seed: int = 0,
    out_dir: Path | None = None,
) -> dict:
    """The cheap 1-of-10 shape proxy (not a reader; see handwriting.ocr for that).

    Write each unseen text in each style and check that the sample resembles the clean font
    rendering of its own text more than that of `n_distractors` other texts of similar length
    (see handwriting.legibility), and that it stayed in the primed writer's font family.
    Returns top-1 and style-kept rates per style, timing and finish counts."""
    from handwriting.plots import save_lines

    rng = np.random.default_rng(seed)
    result, generated, gen_time = {}, 0, 0.0
    for style in styles:
        writer = hershey.WRITERS[style]
        hits, kept, finished, rows = 0, 0, 0, []
        for i, text in enumerate(texts):
            others = [t for t in texts if t != text]
            others.sort(key=lambda t: (abs(len(t) - len(text)), rng.random()))
            candidates = [text, *others[:n_distractors]]
            start = time.perf_counter()
            sample, _, done = module.write(text, style=style, bias=bias, seed=seed + i)
            gen_time += time.perf_counter() - start
            generated += len(sample)
            finished += done
            refs = [hershey.render_line(t, writer) for t in candidates]
            hits += legibility.pick(sample, refs) == 0
            # Style kept: of the same text in every writer's clean hand, the sample looks most
            # like one in the primed writer's font family (futural and rowmans share glyphs).
            hands = [hershey.render_line(text, w) for w in hershey.WRITERS.values()]
            picked = list(hershey.WRITERS.values())[legibility.pick(sample, hands)]
            kept += FONT_FAMILY[picked.font] == FONT_FAMILY[writer.font]
            rows.append(sample)
        if out_dir is not None:
            save_lines(rows, Path(out_dir) / f"proxy_{style}.png", [f"{style}: {t}" for t in texts])
        n = len(texts)
        result[style] = {"top1": hits / n, "style_kept": kept / n, "finished": finished / n}
    return {
        "per_style": result,
        "chance": 1 / (1 + min(n_distractors, len(texts) - 1)),
        "points_per_second": generated / max(gen_time, 1e-9),
        "bias": bias,
    }


def unseen_texts(datamodule, n: int, max_chars: int = 20, seed: int = 0) -> list[str]:
    """Up to `n` lines from the held-out validation sentences (never in the training text), at
    most one per sentence, so that no two candidates share a phrase: "the worm." and "catches the
    worm." would be near-duplicates that even a perfect hand cannot be told apart by."""
    from handwriting.text import load_corpus, sample_lines, split_sentences

    sentences = getattr(datamodule, "val_sentences", None)
    if not sentences:
        _, sentences = split_sentences(load_corpus(), datamodule.hparams.seed, 0.15)
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for i in rng.permutation(len(sentences)):
        lines = [t for t in sample_lines([sentences[i]], 20, max_chars, rng) if len(t) >= 8]
        if lines:
            out.append(max(lines, key=len))
        if len(out) == n:
            break
    return out


@entry_point
def main(argv: list[str] | None = None) -> dict:
    p = command_parser("handwriting.evaluate", __doc__)
    evaluation.add_arguments(
        p,
        data_dir="IAM-OnDB folder to score instead of the checkpoint's own data (its archives)",
        splits=("val",),
        split="val",
        split_help="the validation lines (text never trained on); there is no test split",
        batch_size=32,
        out="the run folder's evaluation/; the samples go there too",
    )
    p.add_argument("--out-dir", dest="out", type=Path, help=argparse.SUPPRESS)  # old name
    p.add_argument(
        "--phrases", type=int, default=None, help="unseen phrases to read (default: all 65)"
    )
    p.add_argument("--seeds", type=int, default=1, help="sampling seeds per phrase (0, 1, ...)")
    p.add_argument(
        "--styles", default=",".join(hershey.WRITERS), help="comma-separated styles to judge"
    )
    p.add_argument(
        "--proxy-texts",
        type=number(0, integer=True),
        default=0,
        help="also run the 1-of-10 shape proxy on N lines",
    )
    p.add_argument(  # as handwriting.write's: nan broke the sampler (RuntimeError)
        "--bias", type=number(0, 10), default=2.0, help="sampling bias for the samples"
    )
    p.add_argument(
        "--candidates",
        type=int,
        default=CANDIDATES,
        help="draws of each line, the likeliest to the network kept (1: the first draw)",
    )
    p.add_argument(
        "--max-batches",
        type=number(1, integer=True),
        default=None,
        help="validation batches (default: all)",
    )
    args = p.parse_args(argv)
    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    unknown = [s for s in styles if s not in hershey.WRITERS]
    if unknown or not styles:
        what = f"unknown --styles {unknown}" if unknown else "--styles names no style"
        p.error(f"{what}; choose from {', '.join(hershey.WRITERS)}")
    if args.seeds < 1 or args.candidates < 1 or (args.phrases is not None and args.phrases < 1):
        p.error("--seeds, --candidates and --phrases must be at least 1")

    from common.checkpoints import load_trained
    from handwriting.data import HandwritingDataModule

    trained = load_trained("handwriting", args.ckpt)
    module = trained.module
    data = {"batch_size": args.batch_size}
    if args.data_dir is not None:
        data.update(source="iamondb", path=str(args.data_dir))
    datamodule = trained.datamodule(HandwritingDataModule, **data)
    out_dir = evaluation.out_dir(args.out, trained.path)
    report = validation_nll(module, datamodule, args.max_batches)
    if module.hparams.synthesis:
        from handwriting.text import load_unseen

        phrases = load_unseen()[: args.phrases]
        seeds = tuple(range(args.seeds))
        report["ocr"] = ocr_test(
            module, phrases, styles, args.bias, seeds, out_dir, candidates=args.candidates
        )
        if args.proxy_texts > 0:
            texts = unseen_texts(datamodule, args.proxy_texts)
            report["shape_proxy"] = legibility_test(
                module, texts, styles, bias=args.bias, out_dir=out_dir
            )
    files = {"samples": str(out_dir)} if module.hparams.synthesis else {}
    data = f"{datamodule.hparams.source}:{args.split}"
    return evaluation.report("handwriting", trained.path, data, report, files, out_dir)


if __name__ == "__main__":
    command(main)
