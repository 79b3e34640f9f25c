"""Benchmark of the speech assignment against issue 3's targets (2-core CPU).

    flock /tmp/mal2-cpu.lock .venv/bin/python benchmarks/speech.py          # generate + train
    .venv/bin/python benchmarks/speech.py --ckpt runs/speech/<run>/checkpoints/best.ckpt

Measures: embedded data generation time (fresh cache), default training wall time
(`python -m speech.train`), accuracy on the unseen-voice test split, batch-1 latency of one
1-second clip (features included), and the parameter count. Prints each figure and whether its
target is met; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {  # name: (limit, "max" = must stay at or below, "min" = must reach)
    "train_wall_s": (300.0, "max"),
    "test_acc": (0.97, "min"),
    "latency_ms": (5.0, "max"),
    "params": (500_000, "max"),
}


def measure_generation(data_root: Path) -> float:
    from speech.synthetic import SynthConfig, load_or_generate

    start = time.perf_counter()
    load_or_generate(SynthConfig(), data_root, verbose=False)
    return time.perf_counter() - start


def measure_training(runs_root: Path) -> dict:
    from speech import train

    name = f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    start = time.perf_counter()
    cli = train.main(
        ["--run.name", name, "--run.root", str(runs_root), "--trainer.enable_progress_bar", "false"]
    )
    return {"wall_s": time.perf_counter() - start, "summary": cli.summary}


def measure_latency(ckpt: Path, runs: int = 200) -> dict:
    from common.checkpoints import load_module
    from speech.module import KeywordModule

    module = load_module(ckpt, KeywordModule, "speech")
    clip = torch.randn(1, 16000) * 0.1
    times = []
    with torch.inference_mode():
        for _ in range(20):  # warm-up: allocator, oneDNN kernels
            module(clip)
        for _ in range(runs):
            start = time.perf_counter()
            module(clip)
            times.append(time.perf_counter() - start)
    times.sort()
    return {
        "median_ms": 1000 * statistics.median(times),
        "p90_ms": 1000 * times[int(0.9 * len(times))],
        "params": sum(p.numel() for p in module.model.parameters()),
        "threads": torch.get_num_threads(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt", type=Path, help="measure this checkpoint; skip generate+train")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="use (and keep) ./data instead of a fresh temporary data folder",
    )
    args = parser.parse_args()

    figures: dict[str, float] = {}
    print(
        f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f}"
    )
    if args.ckpt:
        ckpt = args.ckpt
        summary_path = ckpt.parent.parent / "summary.json"
        if summary_path.is_file():
            summary = json.loads(summary_path.read_text())
            figures["test_acc"] = summary["test"].get("test/acc", float("nan"))
            figures["train_wall_s"] = summary["wall_time_s"]
    else:
        tmp = Path(tempfile.mkdtemp(prefix="speech-bench-"))
        data_root = ROOT / "data" if args.keep else tmp / "data"  # fresh: time the generation
        runs_root = ROOT / "runs"  # keep the run: its checkpoint serves the demo
        os.environ["MAL2_DATA"] = str(data_root)
        gen_s = measure_generation(data_root)
        figures["generation_s"] = gen_s
        print(f"data generation (11,900 clips, fresh cache): {gen_s:.1f} s", flush=True)
        result = measure_training(runs_root)
        summary = result["summary"]
        figures["train_wall_s"] = summary["wall_time_s"]
        figures["train_plus_generation_s"] = summary["wall_time_s"] + gen_s
        figures["test_acc"] = summary["test"]["test/acc"]
        ckpt = Path(summary["best_checkpoint"])
    lat = measure_latency(ckpt)
    figures["latency_ms"] = lat["median_ms"]
    figures["latency_p90_ms"] = lat["p90_ms"]
    figures["params"] = lat["params"]

    print("\nfigure                         value      target      met")
    failed = False
    for key, value in figures.items():
        target = TARGETS.get(key)
        if target is None:
            print(f"{key:<30} {value:>10.4g}")
            continue
        limit, kind = target
        ok = value <= limit if kind == "max" else value >= limit
        failed |= not ok
        sign = "<=" if kind == "max" else ">="
        print(f"{key:<30} {value:>10.4g}   {sign} {limit:<8g}  {'yes' if ok else 'NO'}")
    print(
        f"\n(latency: median of 200 batch-1 calls with {lat['threads']} threads, log-mel "
        f"features included; p90 {lat['p90_ms']:.2f} ms; checkpoint {ckpt})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
