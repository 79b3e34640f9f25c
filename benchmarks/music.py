"""Benchmark of the music assignment (issues 5 and 16): training time, NLL in nats per frame,
compose and harmonize speed, how much the soprano tells the model, voice leading.

    flock /tmp/mal2-cpu.lock .venv/bin/python benchmarks/music.py      # music21 chorales
    .venv/bin/python benchmarks/music.py --jsb ../shared/jsb/jsb_chorales_train_valid.pickle
    .venv/bin/python benchmarks/music.py --jsb FILE --seeds 1 \
        --config music/configs/experiments/nade256.yaml   # one experiment's figure
    .venv/bin/python benchmarks/music.py --jsb FILE --skip-train        # re-score the last runs

Without --jsb: the baseline and the default RNN-NADE on music21's chorales (test split).
With --jsb: the default recipe (plus --config overrides) trained with --seeds seeds on the JSB
pickle; NLL on `valid` (the dev figure: the file in ../shared holds no test split) and on `test`
when the file has it. Runs go to $MAL2_RUNS/music (default ./runs/music).

Prints the verdict table and exits 1 when a target (not an aim) is missed.

Targets: default training <= 8 min on a CPU without native bf16; JSB NLL <= 5.19 (aim 5.0);
music21 chorales test NLL baseline <= 8.5, RNN-NADE <= 6.0; compose and harmonize 16 bars < 2 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.verdict import Check, check, print_machine, verdict  # noqa: E402
from common.errors import command  # noqa: E402

TRAIN_BUDGET_S = 480.0
BASELINE_TARGET, NADE_TARGET = 8.5, 6.0  # music21 chorales, test split (issue 5)
JSB_TARGET, JSB_AIM = 5.19, 5.0  # RNN-NADE with Hessian-free training, 2012 (issue 16)
SPEED_BUDGET_S = 2.0
BARS = 16


def runs_dir() -> Path:
    from common.paths import runs_root

    return runs_root().resolve() / "music"


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


def summary_of(name: str) -> dict:
    return json.loads((runs_dir() / name / "summary.json").read_text())


def latest_runs(label: str) -> list[str]:
    """The runs of the latest earlier benchmark invocation with this label."""
    found = sorted(runs_dir().glob(f"bench-*-{label}-s*/summary.json"))
    if not found:
        sys.exit(f"no earlier benchmark run for {label}: run without --skip-train")
    stamp = found[-1].parent.name.split(f"-{label}-")[0]
    return sorted(p.parent.name for p in found if p.parent.name.startswith(stamp + f"-{label}-"))


def quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def score(name: str, data_args: list[str], split: str, transpositions: int | None = None) -> dict:
    """NLL (the checkpoint's evaluation: its transposition ensemble, if any) and frame accuracy;
    the single model's NLL beside it when an ensemble is scored."""
    from music.evaluate import main as evaluate

    ckpt = summary_of(name)["best_checkpoint"]
    args = ["--ckpt", ckpt, "--split", split, "--samples", "0", *data_args]
    if transpositions is not None:
        args += ["--transpositions", str(transpositions)]
    result = quiet(evaluate, args)["metrics"]
    out = {"nll": round(result["nll"], 4), "frame_acc": round(result["frame_acc"], 4)}
    out["transpositions"] = result["transpositions"]
    if result["transpositions"]:
        single = quiet(evaluate, [*args, "--transpositions", "0"])["metrics"]
        out["single_model_nll"] = round(single["nll"], 4)
    return out


def speed(ckpt: str, melody_steps: list) -> dict:
    """Median seconds to compose / harmonize 16 bars, with and without writing MIDI/PNG/WAV."""
    import numpy as np
    import torch

    from common.checkpoints import load_trained
    from music.compose import compose, write_outputs
    from music.harmonize import harmonize

    module = load_trained("music", ckpt).module
    spq = module.steps_per_quarter
    melody = np.array(melody_steps)
    out: dict[str, list[float]] = {
        k: [] for k in ("compose", "compose_write", "harm", "harm_write")
    }
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(5):
            torch.manual_seed(seed)
            start = time.perf_counter()
            roll = compose(module.model, BARS, spq, 0.9)
            out["compose"].append(time.perf_counter() - start)
            write_outputs(roll, Path(tmp) / "c.mid", spq)
            out["compose_write"].append(time.perf_counter() - start)
            start = time.perf_counter()
            roll = harmonize(module.model, melody, 0.9)
            out["harm"].append(time.perf_counter() - start)
            write_outputs(roll, Path(tmp) / "h.mid", spq)
            out["harm_write"].append(time.perf_counter() - start)
    return {k: round(statistics.median(v), 3) for k, v in out.items()}


def harmony_report(name: str, jsb: str) -> dict:
    """Soprano given vs not (lower-voice NLL), and voice leading of real, harmonized and
    generated chorales, on the valid pieces."""
    import warnings

    import numpy as np
    import torch

    from benchmarks.music_voices import lower_voice_nll, voice_leading_statistics
    from common.checkpoints import load_trained
    from music.data import load_jsb
    from music.harmonize import harmonize, top_line

    module = load_trained("music", summary_of(name)["best_checkpoint"]).module
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        valid = load_jsb(jsb)["valid"]
    torch.manual_seed(0)
    nll = lower_voice_nll(module.model, valid, samples=64)
    harmonized, generated = [], []
    for roll in valid:
        melody = top_line(roll)
        harmonized.append(harmonize(module.model, melody, 1.0))
        assert np.array_equal(top_line(harmonized[-1]), melody)  # the soprano is kept
        generated.append(module.model.generate(len(roll), 1.0).bool().numpy())
    table = {}
    for label, rolls in (("real", valid), ("harmonized", harmonized), ("generated", generated)):
        stats = voice_leading_statistics(rolls)
        table[label] = {k: round(v, 3) if isinstance(v, float) else v for k, v in stats.items()}
    return {
        "lower_voice_nll": {k: round(v, 3) if isinstance(v, float) else v for k, v in nll.items()},
        "voice_leading": table,
        "temperature": 1.0,
    }


def run_jsb(args, stamp: str) -> list[Check]:
    from music.harmonize import parse_melody

    data_args = ["--data.source", "jsb", "--data.path", args.jsb]
    label = "jsb" + (f"-{Path(args.config).stem}" if args.config else "")
    extra = data_args + (["--config", args.config] if args.config else [])
    names = latest_runs(label) if args.skip_train else []
    walls = []
    for seed in range(args.seeds) if not args.skip_train else []:
        name = f"bench-{stamp}-{label}-s{seed}"
        walls.append(train(name, [*extra, "--seed_everything", str(seed)]))
        names.append(name)
    splits = ["valid"]
    with contextlib.suppress(Exception):
        from music.data import RestrictedUnpickler

        with open(args.jsb, "rb") as f:
            if "test" in RestrictedUnpickler(f, encoding="latin1").load():
                splits.append("test")
    per_seed = []
    for i, name in enumerate(names):
        s = summary_of(name)
        entry = {"run": name, "epochs": s["epochs"], "train_wall_s": s["wall_time_s"]}
        entry["train_process_wall_s"] = round(walls[i], 1) if walls else None
        for split in splits:
            entry[split] = score(name, data_args, split, args.transpositions)
        per_seed.append(entry)
        print(json.dumps(entry), flush=True)
    report: dict = {"label": label, "seeds": per_seed}
    for split in splits:
        for key, figure in (("nll", "nll"), ("single_model_nll", "single_model_nll")):
            values = [e[split][key] for e in per_seed if key in e[split]]
            if not values:
                continue
            report[f"{split}_{figure}_mean"] = round(statistics.mean(values), 4)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            report[f"{split}_{figure}_std"] = round(std, 4)
            report[f"{split}_{figure}_range"] = [min(values), max(values)]
    times = [e["train_process_wall_s"] or e["train_wall_s"] for e in per_seed]
    report["train_s_max"] = max(times)
    melody = parse_melody(" ".join(["G4 G4 D5 D5 E5 E5 D5:2 C5 C5 B4 B4 A4 A4 G4:2"] * 2), 1)
    report["speed_16_bars_s"] = speed(summary_of(names[0])["best_checkpoint"], melody.tolist())
    report["harmony"] = harmony_report(names[0], args.jsb)
    print(json.dumps(report, indent=2), flush=True)
    mean = report["valid_nll_mean"]
    sp = report["speed_16_bars_s"]
    single = report.get("valid_single_model_nll_mean")
    nll = f"JSB valid NLL (mean of {len(names)} seeds)"
    checks = [check(nll, mean, JSB_TARGET, "max", fmt=".3f")]
    checks.append(replace(check(nll, mean, JSB_AIM, "max", fmt=".3f"), required=False))
    if single:
        nll = "JSB valid NLL of the single model (no ensemble)"
        checks.append(replace(check(nll, single, JSB_TARGET, "max", fmt=".3f"), required=False))
    return [
        *checks,
        check("training (slowest seed)", max(times), TRAIN_BUDGET_S, "max", fmt=".0f", unit="s"),
        check("harmonize 16 bars (MIDI, PNG, WAV written)", sp["harm_write"], SPEED_BUDGET_S,
              "max<", fmt=".2f", unit="s"),
        check("compose 16 bars (MIDI, PNG, WAV written)", sp["compose_write"], SPEED_BUDGET_S,
              "max<", fmt=".2f", unit="s"),
    ]  # fmt: skip


def run_chorales(args, stamp: str) -> list[Check]:
    configs = {"lstm": ["--config", "music/configs/experiments/lstm_baseline.yaml"], "nade": []}
    report = {}
    for kind, extra in configs.items():  # the default model last: the latest run for demos
        name = latest_runs(f"chorales-{kind}")[0] if args.skip_train else None
        wall = None
        if not name:
            name = f"bench-{stamp}-chorales-{kind}-s0"
            wall = train(name, extra)
        s = summary_of(name)
        report[kind] = {
            "run": name,
            "epochs": s["epochs"],
            "train_wall_s": s["wall_time_s"],
            "train_process_wall_s": round(wall, 1) if wall else None,
            "val_nll": round(s["best_score"], 4),
            "test": score(name, [], "test"),
        }
        print(json.dumps({kind: report[kind]}), flush=True)
    lstm, nade = report["lstm"]["test"]["nll"], report["nade"]["test"]["nll"]
    train_s = report["nade"]["train_process_wall_s"] or report["nade"]["train_wall_s"]
    return [
        check("default training", train_s, TRAIN_BUDGET_S, "max", fmt=".0f", unit="s"),
        check("chorales baseline test NLL", lstm, BASELINE_TARGET, "max", fmt=".2f"),
        check("chorales RNN-NADE test NLL", nade, NADE_TARGET, "max", fmt=".2f"),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--jsb", help="JSB Chorales pickle (train and valid; test when it has one)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds for the JSB figure")
    p.add_argument("--config", help="extra training config (an experiment) for the JSB runs")
    p.add_argument(
        "--transpositions",
        type=int,
        help="score with this transposition ensemble (default: each checkpoint's own setting)",
    )
    p.add_argument("--skip-train", action="store_true", help="score the latest bench runs")
    args = p.parse_args(argv)
    if args.jsb:
        args.jsb = str(Path(args.jsb).resolve())
    if args.config:
        args.config = str(Path(args.config).resolve())
    os.environ["MAL2_RUNS"] = str(runs_dir().parent)  # as given, before the chdir below
    os.chdir(ROOT)
    print_machine()
    print(f"runs in {runs_dir()}", flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    checks = run_jsb(args, stamp) if args.jsb else run_chorales(args, stamp)
    return verdict(checks, "music: issues 5 and 16's targets")


if __name__ == "__main__":
    command(main)
