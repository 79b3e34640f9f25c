"""Benchmark of the music assignment (issue 5): training time, NLL of the baseline and of the
RNN-NADE on held-out chorales (and on JSB Chorales when you have the pickle), compose speed.

    flock /tmp/mal2-cpu.lock .venv/bin/python benchmarks/music.py            # ~11 minutes
    .venv/bin/python benchmarks/music.py --skip-train   # re-score the last benchmark runs
    .venv/bin/python benchmarks/music.py --jsb "JSB Chorales.pickle"   # also train/score on JSB

Targets: default training <= 5 min on 2 CPU cores; test NLL (nats per frame) baseline <= 8.5,
RNN-NADE <= 6.0 (the published RNN-NADE figure on JSB is 5.19); composing 16 bars < 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRAIN_BUDGET_S = 300.0
BASELINE_TARGET, NADE_TARGET, NADE_AIM = 8.5, 6.0, 5.19
COMPOSE_BUDGET_S = 2.0
# the default model last, so that it is the latest run `portfolio demo music` picks up
RUNS = {"lstm": ["--config", "music/configs/experiments/lstm_baseline.yaml"], "nade": []}


def train(name: str, extra: list[str]) -> float:
    """Run `python -m music.train` as a user would; return its wall time in seconds."""
    cmd = [sys.executable, "-m", "music.train", "--run.name", name, *extra]
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"training failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall


def best_checkpoint(name: str) -> Path:
    """The best checkpoint the run's summary names (Lightning adds -v1 to a reused name)."""
    summary = json.loads((ROOT / "runs" / "music" / name / "summary.json").read_text())
    return Path(summary["best_checkpoint"])


def latest_bench_run(data_name: str, kind: str) -> str:
    runs = sorted((ROOT / "runs" / "music").glob(f"bench-*-{data_name}-{kind}/summary.json"))
    if not runs:
        sys.exit(f"no earlier benchmark run for {data_name}/{kind}: run without --skip-train")
    return runs[-1].parent.name


def score_run(name: str, source_args: list[str]) -> dict:
    import contextlib
    import io

    from music.evaluate import main as evaluate

    ckpt = best_checkpoint(name)
    with contextlib.redirect_stdout(io.StringIO()):
        result = evaluate(["--ckpt", str(ckpt), "--samples", "8", *source_args])
    summary = json.loads((ROOT / "runs" / "music" / name / "summary.json").read_text())
    return {
        "test_nll": round(result["nll"], 3),
        "test_frame_acc": round(result["frame_acc"], 3),
        "val_nll": round(summary["best_score"], 3),
        "epochs": summary["epochs"],
        "train_wall_s": summary["wall_time_s"],
        "generated": {k: v for k, v in result["generated"].items() if k != "pitch_class_histogram"},
        "train_data_polyphony": round(result["train_data"]["polyphony"], 3),
        "train_data_in_key_share": round(result["train_data"]["in_key_share"], 3),
    }


def compose_speed(name: str) -> dict:
    import tempfile

    import torch

    from music.compose import compose, load_composer, write_outputs

    ckpt = best_checkpoint(name)
    module, _ = load_composer(str(ckpt))
    times, gen_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(5):
            torch.manual_seed(seed)
            start = time.perf_counter()
            roll = compose(module.model, 16, module.steps_per_quarter, 0.9)
            gen_times.append(time.perf_counter() - start)
            write_outputs(roll, Path(tmp) / "bench.mid", module.steps_per_quarter)
            times.append(time.perf_counter() - start)
        cmd = [sys.executable, "-m", "music.compose", "--ckpt", str(ckpt), "--bars", "16"]
        start = time.perf_counter()
        subprocess.run([*cmd, "-o", f"{tmp}/cli.mid"], cwd=ROOT, check=True, capture_output=True)
        cli = time.perf_counter() - start
    return {
        "generate_16_bars_s": round(statistics.median(gen_times), 3),
        "generate_and_write_midi_png_wav_s": round(statistics.median(times), 3),
        "cli_process_wall_s": round(cli, 2),
    }


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--skip-train", action="store_true", help="score the existing bench-* runs")
    p.add_argument("--jsb", help="JSB Chorales pickle: also train and score on it")
    args = p.parse_args()
    os.chdir(ROOT)
    print(f"CPU threads: {os.cpu_count()}, load average before: {os.getloadavg()}")

    datasets = {"chorales": []}
    if args.jsb:
        datasets["jsb"] = ["--data.source", "jsb", "--data.path", args.jsb]
    report: dict = {}
    names: dict = {}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for data_name, data_args in datasets.items():
        for kind, extra in RUNS.items():
            if args.skip_train:
                name, wall = latest_bench_run(data_name, kind), None
            else:
                name = f"bench-{stamp}-{data_name}-{kind}"
                wall = train(name, extra + data_args)
            names[f"{data_name}-{kind}"] = name
            entry = score_run(name, data_args)
            entry["train_process_wall_s"] = round(wall, 1) if wall else None
            report[f"{data_name}-{kind}"] = entry
            print(json.dumps({name: entry}, indent=2), flush=True)
    speed = compose_speed(names["chorales-nade"])
    report["compose"] = speed
    print(json.dumps({"compose": speed}, indent=2))

    nade, lstm = report["chorales-nade"], report["chorales-lstm"]
    train_time = nade["train_process_wall_s"] or nade["train_wall_s"]
    checks = [
        (f"default training {train_time:.0f} s <= {TRAIN_BUDGET_S:.0f} s",
         train_time <= TRAIN_BUDGET_S),
        (f"chorales baseline test NLL {lstm['test_nll']:.2f} <= {BASELINE_TARGET}",
         lstm["test_nll"] <= BASELINE_TARGET),
        (f"chorales RNN-NADE test NLL {nade['test_nll']:.2f} <= {NADE_TARGET}",
         nade["test_nll"] <= NADE_TARGET),
        (f"chorales RNN-NADE test NLL {nade['test_nll']:.2f} < {NADE_AIM} (aim)",
         nade["test_nll"] < NADE_AIM),
        (f"compose 16 bars {speed['generate_and_write_midi_png_wav_s']:.2f} s < "
         f"{COMPOSE_BUDGET_S} s", speed["generate_and_write_midi_png_wav_s"] < COMPOSE_BUDGET_S),
    ]  # fmt: skip
    if args.jsb:
        for kind, target in (("lstm", BASELINE_TARGET), ("nade", NADE_TARGET)):
            nll = report[f"jsb-{kind}"]["test_nll"]
            checks.append((f"JSB {kind} test NLL {nll:.2f} <= {target}", nll <= target))
    print("\ntargets:")
    for text, ok in checks:
        print(f"  [{verdict(ok)}] {text}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
