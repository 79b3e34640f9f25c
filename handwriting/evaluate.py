"""Evaluate a handwriting checkpoint: validation NLL, samples of unseen text, legibility.

    python -m handwriting.evaluate --ckpt runs/handwriting/NAME/checkpoints/best.ckpt
    python -m handwriting.evaluate --ckpt CKPT --out-dir samples/ --legibility-texts 20

Prints JSON: NLL per point and per line (nats, in the model's normalised offset units) on the
validation lines (text never seen in training), and, for a synthesis network, the legibility
proxy of `handwriting.legibility` per style, with the written samples saved as PNGs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from handwriting import hershey, legibility, mdn

FONT_FAMILY = {"futural": "simplex", "rowmans": "simplex", "timesi": "times italic",
               "scripts": "script", "cursive": "script"}  # fmt: skip


@torch.no_grad()
def validation_nll(module, datamodule, max_batches: int | None = None) -> dict:
    """Mean NLL per point and per line over the validation set."""
    datamodule.setup("validate")
    # Score in the units the network was trained in (its own copy of the training scale).
    datamodule.val_set.scale = torch.tensor([*module.scale.tolist(), 1.0])
    total, points, lines = 0.0, 0, 0
    for i, batch in enumerate(datamodule.val_dataloader()):
        if max_batches is not None and i >= max_batches:
            break
        x, mask = batch["x"], batch["mask"]
        start = x.new_tensor([0.0, 0.0, 1.0]).expand(len(x), 1, 3)
        inputs = torch.cat([start, x[:, :-1]], 1)
        y, _, _ = module.model(inputs, batch["chars"], style=module._styles(batch, "val"))
        nll = mdn.nll(mdn.split_params(y, module.config.n_mixtures), x) * mask
        total += float(nll.sum())
        points += int(mask.sum())
        lines += len(x)
    return {
        "val_nll_per_point": total / points,
        "val_nll_per_line": total / lines,
        "val_lines": lines,
        "val_points": points,
    }


def legibility_test(
    module,
    texts: list[str],
    styles: list[str],
    n_distractors: int = 9,
    bias: float = 2.0,
    seed: int = 0,
    out_dir: Path | None = None,
) -> dict:
    """Write each unseen text in each style and check that the sample resembles the clean font
    rendering of its own text more than that of `n_distractors` other texts of similar length
    (see handwriting.legibility), and that it stayed in the primed writer's font family.
    Returns top-1 and style-kept rates per style, timing and finish counts."""
    from handwriting.plot import save_lines

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
            save_lines(
                rows, Path(out_dir) / f"unseen_{style}.png", [f"{style}: {t}" for t in texts]
            )
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


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(
        prog="python -m handwriting.evaluate", description=__doc__.split("\n")[0]
    )
    p.add_argument("--ckpt", help="checkpoint (default: latest handwriting run's best)")
    p.add_argument(
        "--out-dir", help="where to write the samples (default: next to the checkpoint's run)"
    )
    p.add_argument("--legibility-texts", type=int, default=10, help="unseen lines per style")
    p.add_argument("--bias", type=float, default=2.0, help="sampling bias for the samples")
    p.add_argument(
        "--max-batches", type=int, default=None, help="validation batches (default: all)"
    )
    args = p.parse_args(argv)

    from common.checkpoints import CheckpointError, find_checkpoint, load_checkpoint, load_module
    from handwriting.data import HandwritingDataModule
    from handwriting.module import HandwritingModule

    try:
        ckpt = Path(args.ckpt) if args.ckpt else find_checkpoint("handwriting")
        module = load_module(ckpt, HandwritingModule, "handwriting")
        dm_hparams = load_checkpoint(ckpt, "handwriting").get("datamodule_hyper_parameters", {})
        datamodule = HandwritingDataModule(
            **{k: v for k, v in dm_hparams.items() if not k.startswith("_")}
        )
    except (CheckpointError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    out_dir = Path(args.out_dir) if args.out_dir else ckpt.parent.parent / "evaluation"
    report = {"checkpoint": str(ckpt), **validation_nll(module, datamodule, args.max_batches)}
    if module.hparams.synthesis and args.legibility_texts > 0:
        texts = unseen_texts(datamodule, args.legibility_texts)
        report["legibility"] = legibility_test(
            module, texts, list(hershey.WRITERS), bias=args.bias, out_dir=out_dir
        )
        report["samples"] = str(out_dir)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
    sys.exit(0)
