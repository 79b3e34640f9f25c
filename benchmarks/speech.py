"""Benchmark of the speech assignment against issues 3 and 11's targets (2-core CPU).

    flock /tmp/mal2-cpu.lock .venv/bin/python benchmarks/speech.py   # generate + 3 trainings
    .venv/bin/python benchmarks/speech.py --seeds 1      # one training seed only
    .venv/bin/python benchmarks/speech.py --ckpt runs/speech/<run>/checkpoints/best.ckpt

Measures: embedded data generation time (fresh cache), default training wall time
(`python -m speech.train`, seeds 42, 43, 44: each figure's mean, standard deviation and range),
accuracy on the unseen-voice test split, batch-1 latency of one
1-second clip (features included), the parameter count, and, where `--real-dir` holds real
recordings (default `../shared/real_speech` when present; `<word>/<digit>_<speaker>_<i>.wav`),
the accuracy on real voices: 35-way (the model's task), digits only (argmax over the ten
digits), and per speaker. Real-speech figures are development figures: that set was used to
choose the recipe. Prints each figure and whether its target is met; exits 1 when one is missed.
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

from common.errors import DataError, command, entry_point  # noqa: E402

TARGETS = {  # name: (limit, "max" = must stay at or below, "min" = must reach)
    "train_plus_generation_s": (360.0, "max"),
    "test_acc": (0.97, "min"),
    "real_acc_35": (0.80, "min"),
    "enrolled_acc_35": (0.97, "min"),
    "enroll_s": (30.0, "max"),
    "latency_ms": (5.0, "max"),
    "params": (500_000, "max"),
}
# ../shared beside the checkout (or beside the folder of worktrees that holds it)
SHARED = next(
    (p / "shared" for p in ROOT.parents if (p / "shared").is_dir()), ROOT.parent / "shared"
)
DEFAULT_REAL = SHARED / "real_speech"
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def load_real(real_dir: Path) -> dict:
    """Real recordings of `<real_dir>/<word>/<digit>_<speaker>_<i>.wav` -> {"wavs" (N, 16000)
    fitted as `speech.evaluate` fits them, "words", "speakers", "paths"}."""
    from speech import audio

    wavs, words, speakers, paths = [], [], [], []
    for folder in sorted(p for p in Path(real_dir).iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.wav")):
            wavs.append(audio.fit_length(audio.load_audio(path)))
            words.append(folder.name)
            parts = path.stem.split("_")
            speakers.append(parts[1] if len(parts) >= 3 else "(unknown)")
            paths.append(path)
    if not wavs:
        raise SystemExit(f"error: {real_dir}: no <word>/*.wav recordings")
    return {"wavs": torch.stack(wavs), "words": words, "speakers": speakers, "paths": paths}


@torch.inference_mode()
def real_figures(module, real: dict, batch_size: int = 256) -> dict:
    """Accuracy on real recordings: 35-way, digits only, and both per speaker."""
    module.eval()
    names = module.class_names
    if not any(d in names for d in DIGITS):
        raise DataError(
            f"the checkpoint's classes ({', '.join(names)}) include none of the digits the real "
            "recordings say: benchmark a checkpoint trained on the default label set"
        )
    logits = torch.cat(
        [module(real["wavs"][i : i + batch_size]) for i in range(0, len(real["wavs"]), batch_size)]
    ).float()
    known = [i for i, w in enumerate(real["words"]) if w in names]
    target = torch.tensor([names.index(real["words"][i]) for i in known])
    logits = logits[known]
    ok35 = logits.argmax(dim=1) == target
    digit_idx = torch.tensor([names.index(d) for d in DIGITS if d in names])
    pred10 = digit_idx[logits[:, digit_idx].argmax(dim=1)]
    ok10 = pred10 == target
    speakers = [real["speakers"][i] for i in known]
    out = {"real_acc_35": ok35.float().mean().item(), "real_acc_10": ok10.float().mean().item()}
    for spk in sorted(set(speakers)):
        mask = torch.tensor([s == spk for s in speakers])
        out[f"real_acc_35_{spk}"] = ok35[mask].float().mean().item()
        out[f"real_acc_10_{spk}"] = ok10[mask].float().mean().item()
    return out


def enroll_figures(ckpt: Path, real: dict, per_word: int = 5) -> dict:
    """For each speaker: enroll the first `per_word` clips of each digit (`speech.enroll`),
    then the 35-way accuracy on that speaker's other clips, and the adaptation time."""
    import shutil

    from common.checkpoints import load_trained
    from speech.enroll import enroll

    out = {}
    for spk in sorted(set(real["speakers"])):
        idx = [i for i, s in enumerate(real["speakers"]) if s == spk]
        chosen, rest = [], []
        for word in sorted({real["words"][i] for i in idx}):
            of_word = sorted(
                (i for i in idx if real["words"][i] == word), key=lambda i: str(real["paths"][i])
            )
            chosen += of_word[:per_word]
            rest += of_word[per_word:]
        with tempfile.TemporaryDirectory() as tmp:
            for i in chosen:
                folder = Path(tmp) / "voice" / real["words"][i]
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy(real["paths"][i], folder)
            report = enroll(ckpt, Path(tmp) / "voice", Path(tmp) / "personal.ckpt", verbose=False)
            module = load_trained("speech", Path(tmp) / "personal.ckpt").module
        held = {k: [real[k][i] for i in rest] for k in ("words", "speakers", "paths")}
        held["wavs"] = real["wavs"][rest]
        figures = real_figures(module, held)
        out[f"enrolled_acc_35_{spk}"] = figures["real_acc_35"]
        out[f"enroll_s_{spk}"] = report["adaptation_s"]
    speakers = sorted(set(real["speakers"]))
    out["enrolled_acc_35"] = statistics.mean(out[f"enrolled_acc_35_{s}"] for s in speakers)
    out["enroll_s"] = max(out[f"enroll_s_{s}"] for s in speakers)
    return out


def measure_generation(data_root: Path) -> float:
    from speech.data import KeywordDataModule
    from speech.synthetic import load_or_generate

    start = time.perf_counter()
    load_or_generate(KeywordDataModule().synth_config(), data_root, verbose=False)
    return time.perf_counter() - start


def measure_training(runs_root: Path, seed: int = 42, extra: list[str] | None = None) -> dict:
    from speech import train

    name = f"bench-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}"
    start = time.perf_counter()
    cli = train.main(
        [
            "--run.name",
            name,
            "--run.root",
            str(runs_root),
            "--trainer.enable_progress_bar",
            "false",
            "--seed_everything",
            str(seed),
            *(extra or []),
        ]
    )
    return {"wall_s": time.perf_counter() - start, "summary": cli.summary}


def measure_latency(ckpt: Path, runs: int = 200) -> dict:
    """Batch-1 latency of a 1 s clip through the checkpoint's module (torch), and through its
    ONNX export with onnxruntime when a current one lies beside it (what the demo runs)."""
    from common.checkpoints import load_trained
    from common.export import current

    module = load_trained("speech", ckpt).module
    clip = torch.randn(1, 16000) * 0.1
    with torch.inference_mode():
        times = timed(lambda: module(clip), runs)
    out = {
        "median_ms": 1000 * statistics.median(times),
        "p90_ms": 1000 * times[int(0.9 * len(times))],
        "params": sum(p.numel() for p in module.model.parameters()),
        "threads": torch.get_num_threads(),
    }
    onnx = current(ckpt, "speech")
    if onnx is not None:
        from speech.exported import ExportedModel

        exported, wav = ExportedModel(onnx), clip.numpy()
        out["onnx_median_ms"] = 1000 * statistics.median(
            timed(lambda: exported.predict_proba(wav), runs)
        )
    return out


def timed(call, runs: int) -> list[float]:
    """Sorted wall times of `runs` calls, after 20 warm-up calls (allocator, oneDNN kernels)."""
    for _ in range(20):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return sorted(times)


def spread(values: list[float]) -> str:
    """'mean +- sd (min-max, n)' of one figure over seeds."""
    if len(values) == 1:
        return f"{values[0]:.4g}"
    mean, sd = statistics.mean(values), statistics.stdev(values)
    return f"{mean:.4g} +- {sd:.2g} ({min(values):.4g}-{max(values):.4g}, n={len(values)})"


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--ckpt", type=Path, nargs="*", help="measure these checkpoints; no training"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="use (and keep) ./data instead of a fresh temporary data folder",
    )
    parser.add_argument(
        "--seeds", type=int, default=3, help="training runs (seeds 42, 43, ...): mean and spread"
    )
    parser.add_argument(
        "--real-dir",
        type=Path,
        default=DEFAULT_REAL if DEFAULT_REAL.is_dir() else None,
        help="real recordings <word>/<digit>_<speaker>_<i>.wav (default: ../shared/real_speech "
        "when present)",
    )
    parser.add_argument(
        "--no-enroll", action="store_true", help="skip the enrollment figures on --real-dir"
    )
    parser.add_argument(
        "--train-args", default="", help="extra arguments for speech.train (quoted, one string)"
    )
    args = parser.parse_args(argv)

    from benchmarks.verdict import Check, check, print_machine, verdict
    from common.checkpoints import load_trained
    from common.paths import runs_root

    print_machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    real = load_real(args.real_dir) if args.real_dir else None
    runs: list[dict[str, float]] = []
    ckpts: list[Path] = []
    if args.ckpt:
        for ckpt in args.ckpt:
            figures: dict[str, float] = {}
            summary_path = ckpt.parent.parent / "summary.json"
            if summary_path.is_file():
                summary = json.loads(summary_path.read_text())
                figures["test_acc"] = summary["test"].get("test/acc", float("nan"))
                figures["train_wall_s"] = summary["wall_time_s"]
            runs.append(figures)
            ckpts.append(ckpt)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="speech-bench-"))
        data_root = ROOT / "data" if args.keep else tmp / "data"  # fresh: time the generation
        root = runs_root().resolve()  # keep the run: its checkpoint serves the demo
        os.environ["MAL2_DATA"] = str(data_root)
        gen_s = measure_generation(data_root)
        print(f"data generation (11,900 clips, fresh cache): {gen_s:.1f} s", flush=True)
        for i in range(args.seeds):
            result = measure_training(root, 42 + i, args.train_args.split())
            summary = result["summary"]
            figures = {"generation_s": gen_s, "train_wall_s": summary["wall_time_s"]}
            figures["train_plus_generation_s"] = summary["wall_time_s"] + gen_s
            figures["test_acc"] = summary["test"]["test/acc"]
            runs.append(figures)
            ckpts.append(Path(summary["best_checkpoint"]))
    for figures, ckpt in zip(runs, ckpts):
        if real is not None:
            figures.update(real_figures(load_trained("speech", ckpt).module, real))
            if not args.no_enroll:
                figures.update(enroll_figures(ckpt, real))
        print(f"{ckpt}: " + ", ".join(f"{k} {v:.4g}" for k, v in figures.items()), flush=True)
    lat = measure_latency(ckpts[0])
    runs[0]["latency_ms"] = lat["median_ms"]
    runs[0]["latency_p90_ms"] = lat["p90_ms"]
    runs[0]["params"] = lat["params"]
    if "onnx_median_ms" in lat:  # the demo's path: onnxruntime on the export
        runs[0]["latency_onnx_ms"] = lat["onnx_median_ms"]

    checks = []
    for key in runs[0]:
        values = [r[key] for r in runs if key in r]
        if key not in TARGETS:
            checks.append(Check(key, spread(values)))
            continue
        limit, kind = TARGETS[key]
        checks.append(check(key, statistics.mean(values), limit, kind, measured=spread(values)))
    print(
        f"\n(latency: median of 200 batch-1 calls with {lat['threads']} threads, log-mel "
        f"features included; p90 {lat['p90_ms']:.2f} ms; checkpoint {ckpts[0]}; latency_onnx_ms: "
        f"the same through its ONNX export with onnxruntime, what speech.demo runs)"
    )
    if real is not None:
        print(f"(real_*: development figures on {args.real_dir}, {len(real['wavs'])} clips)")
    return verdict(checks, "speech: issues 3 and 11's targets (mean (min-max) over runs)")


if __name__ == "__main__":
    command(main)
