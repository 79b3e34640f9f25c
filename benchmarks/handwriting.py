"""Benchmark of the handwriting assignment (issue 4 targets), on CPU.

    .venv/bin/python benchmarks/handwriting.py                   # train the default, then measure
    .venv/bin/python benchmarks/handwriting.py --ckpt CKPT       # measure an existing checkpoint

Targets: default training (first-time data generation included) <= 20 minutes on 2 cores;
afterwards text the model never saw in training is legible in every print style; sampling speed
>= 500 points per second; validation NLL per point is reported.

"Legible" is measured by the proxy in handwriting/legibility.py: each unseen line, written with
the style's priming line, must resemble the clean font rendering of its own text more than those
of 9 other unseen lines of about the same length (chance: 10 %). A style passes when at least
80 % of its lines are recognised. Look at the PNGs as well: they are written next to the run.
Run it under `flock /tmp/mal2-cpu.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN_BUDGET_S = 20 * 60
SPEED_TARGET = 500.0
LEGIBLE_TOP1 = 0.8


def train_default(run_name: str) -> tuple[Path, float]:
    """`python -m handwriting.train` as `portfolio train handwriting` runs it, with an empty data
    cache so that the first-time data generation is part of the measured time."""
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "MAL2_DATA": data, "PYTHONPATH": str(ROOT)}
        env.pop("MAL2_RUN_NAME", None)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "handwriting.train", "--run.name", run_name], cwd=ROOT, env=env
        )
        took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"default training failed with exit code {proc.returncode}")
    from common.paths import runs_root

    return runs_root() / "handwriting" / run_name / "checkpoints" / "best.ckpt", took


def sampling_speed(module, text: str = "The quick brown fox jumps", repeats: int = 3) -> float:
    """Points per second when writing one line, priming included in the time, not the count.
    One torch thread, as `handwriting.write` uses."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    points, took = 0, 0.0
    for seed in range(repeats):
        start = time.perf_counter()
        offsets, _, _ = module.write(text, style="ada", bias=1.5, seed=seed)
        took += time.perf_counter() - start
        points += len(offsets)
    torch.set_num_threads(threads)
    return points / took


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", help="measure this checkpoint instead of training the default")
    p.add_argument("--texts", type=int, default=20, help="unseen lines per style")
    p.add_argument("--bias", type=float, default=2.0, help="sampling bias for the legibility test")
    args = p.parse_args()

    import torch

    from common.checkpoints import load_checkpoint, load_module
    from handwriting import hershey
    from handwriting.data import HandwritingDataModule
    from handwriting.evaluate import legibility_test, unseen_texts, validation_nll
    from handwriting.module import HandwritingModule

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    train_s, train_what = None, "default training wall time (data generation included)"
    if args.ckpt:
        train_what = "training wall time of that run (fit only, summary.json)"
        ckpt = Path(args.ckpt)
        summary = ckpt.parent.parent / "summary.json"
        if summary.exists():
            train_s = json.loads(summary.read_text()).get("wall_time_s")
    else:
        ckpt, train_s = train_default(f"bench-{time.strftime('%Y%m%d-%H%M%S')}")
    module = load_module(ckpt, HandwritingModule, "handwriting")
    dm_hp = load_checkpoint(ckpt, "handwriting").get("datamodule_hyper_parameters", {})
    dm = HandwritingDataModule(**{k: v for k, v in dm_hp.items() if not k.startswith("_")})
    nll = validation_nll(module, dm)
    texts = unseen_texts(dm, args.texts)
    out_dir = ckpt.parent.parent / "benchmark"
    leg = legibility_test(module, texts, list(hershey.WRITERS), bias=args.bias, out_dir=out_dir)
    speed = sampling_speed(module)

    load = os.getloadavg()
    print(f"\nhandwriting benchmark  (checkpoint {ckpt})")
    print(
        f"CPU: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"load average now {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)"
    )
    rows = []
    if train_s is not None:
        rows.append((train_what, f"{train_s / 60:.1f} min", "<= 20 min",
                     train_s <= TRAIN_BUDGET_S))  # fmt: skip
    rows.append(("validation NLL per point", f"{nll['val_nll_per_point']:.3f} nats",
                 "(reported)", None))  # fmt: skip
    rows.append(
        ("validation NLL per line", f"{nll['val_nll_per_line']:.1f} nats", "(reported)", None)
    )
    for style, r in leg["per_style"].items():
        kind = hershey.WRITERS[style].kind
        target = f">= {LEGIBLE_TOP1:.0%}" if kind == "print" else "(script, reported)"
        ok = r["top1"] >= LEGIBLE_TOP1 if kind == "print" else None
        name = f"legible unseen text, {style} ({hershey.WRITERS[style].font})"
        value = f"{r['top1']:.0%} (style kept {r['style_kept']:.0%})"
        rows.append((name, value, target, ok))
    rows.append(("sampling speed", f"{speed:.0f} points/s", f">= {SPEED_TARGET:.0f}",
                 speed >= SPEED_TARGET))  # fmt: skip
    width = max(len(r[0]) for r in rows)
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("MET" if ok else "NOT MET")
        print(f"  {name:<{width}}  {value:<24} {target:<20} {verdict}")
    print(
        f"  (legibility: {len(texts)} unseen lines per style, chance {leg['chance']:.0%}, "
        f"bias {args.bias}; samples in {out_dir})"
    )
    met = all(ok for *_, ok in rows if ok is not None)
    print("ALL TARGETS MET" if met else "SOME TARGETS NOT MET")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
