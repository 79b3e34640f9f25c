"""Peak memory of `speech.demo` on long recordings (issue 17: a 30-minute WAV peaked at 7.5 GB;
<= 500 MB wanted for any length), from the checkpoint (torch) and from its ONNX export.

    .venv/bin/python benchmarks/speech_memory.py                # latest speech run, 30 minutes
    .venv/bin/python benchmarks/speech_memory.py --ckpt CKPT --minutes 30 --keep DIR

Writes a recording of `--minutes` at 16 kHz and one at 8 kHz (eSpeak NG words of the model's
own vocabulary every 2-5 s, several voices, over faint pink noise; written block by block), a
2.5-second two-word clip and a 59-second recording (the longest the demo reads whole and draws),
exports the checkpoint to ONNX, then runs the demo on each in a fresh process under GNU time
(`/usr/bin/time -f %M`, the peak resident set): from the checkpoint (torch and Lightning:
`--ckpt best.ckpt` with no export beside it) and from the export (onnxruntime, no torch:
`--ckpt best.onnx`, and `--ckpt best.ckpt` with its current export beside it). All three must
print the same lines. For scale it measures `import torch` alone: the checkpoint path cannot go
below that.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.errors import command, entry_point  # noqa: E402

LIMIT_MB = 500.0
VOICES = ["en-us+m3", "en+f2", "en-gb-scotland+m2", "en-us+f4", "en-029+m5"]


def write_recording(path: Path, words: list[str], minutes: float, rate: int, seed: int = 0):
    """`minutes` of words (eSpeak NG, cycling through VOICES) 2-5 s apart over pink noise,
    written 10 s at a time. -> the number of words placed."""
    import torch

    from speech import audio, espeak

    rng = np.random.default_rng(seed)
    clips = []
    for i, word in enumerate(words):
        wav, sr = espeak.synthesize(word, VOICES[i % len(VOICES)])
        clips.append(0.3 * audio.resample(torch.from_numpy(wav), sr, rate).numpy())
    total, block = int(minutes * 60 * rate), 10 * rate
    placed, next_word, pending = 0, rate, np.zeros(0)  # pending: a word's rest past a block
    with sf.SoundFile(path, "w", rate, 1, "PCM_16") as f:
        for start in range(0, total, block):
            n = min(block, total - start)
            white = np.fft.rfft(rng.standard_normal(n))
            pink = np.fft.irfft(white / np.sqrt(np.arange(len(white)) + 1.0), n)
            x = 0.003 * pink / (pink.std() + 1e-9)
            k = min(len(pending), n)
            x[:k] += pending[:k]
            pending = pending[k:]
            while next_word < start + n:
                clip, at = clips[placed % len(clips)], next_word - start
                m = min(len(clip), n - at)
                x[at : at + m] += clip[:m]
                pending = clip[m:]
                placed += 1
                next_word += len(clip) + int(rng.uniform(2.0, 5.0) * rate)
            f.write(np.clip(x, -1, 1).astype(np.float32))
    return placed


def peak_mb(args: list[str], log: Path) -> tuple[float, str, float]:
    """(peak RSS in MB, stdout, seconds) of a fresh `python ARGS` under GNU time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(log), sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"`python {' '.join(args)}` failed:\n{done.stderr[-3000:]}")
    return int(log.read_text().split()[-1]) / 1024, done.stdout, seconds


def keywords(stdout: str) -> list[str]:
    """The demo's printed lines after `checkpoint:` (what it found), folder names removed."""
    return [s for s in stdout.splitlines() if not s.startswith("checkpoint:")]


@entry_point
def main(argv: list[str] | None = None) -> int:
    from benchmarks.verdict import Check, check, print_machine, verdict

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", type=Path, help="speech checkpoint (default: latest run's best)")
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the recordings")
    parser.add_argument("--keep", type=Path, help="write the recordings here and keep them")
    args = parser.parse_args(argv)
    if not shutil.which("/usr/bin/time"):
        raise SystemExit("needs GNU time (/usr/bin/time): apt-get install time")
    print_machine()
    from common import export
    from common.checkpoints import find_checkpoint, load_trained

    ckpt = args.ckpt or find_checkpoint("speech")
    names = [w for w in load_trained("speech", ckpt).module.class_names if not w.startswith("_")]
    work = args.keep or Path(tempfile.mkdtemp(prefix="speech_memory_"))
    (work / "torch").mkdir(parents=True, exist_ok=True)
    (work / "onnx").mkdir(exist_ok=True)
    shutil.copy(ckpt, work / "torch" / "best.ckpt")  # no export beside: the torch path
    shutil.copy(ckpt, work / "onnx" / "best.ckpt")
    print(f"checkpoint: {ckpt}; work folder: {work}", flush=True)
    export.export("speech", "onnx", work / "onnx" / "best.ckpt")  # -> work/onnx/best.onnx
    files = {}
    for rate in (16000, 8000):
        path = work / f"long_{rate // 1000}k.wav"
        if not path.is_file():
            placed = write_recording(path, names, args.minutes, rate)
            print(f"wrote {path} ({args.minutes:g} min at {rate} Hz, {placed} words)", flush=True)
        files[f"{args.minutes:g} min {rate // 1000} kHz"] = path
    short = work / "two_words.wav"
    write_recording(short, names[:2], 2.5 / 60, 16000, seed=1)
    files["2.5 s 16 kHz, figure"] = short
    minute = work / "just_under_a_minute.wav"  # the longest file read whole, with its figure
    write_recording(minute, names, 59 / 60, 8000, seed=2)
    files["59 s 8 kHz, figure"] = minute

    log = work / "time.txt"
    rows, checks = [], []
    torch_mb, _, _ = peak_mb(["-c", "import torch"], log)
    checks.append(Check("`python -c 'import torch'` alone", f"{torch_mb:.0f} MB"))
    models = {
        "checkpoint (torch)": work / "torch" / "best.ckpt",
        "ONNX export": work / "onnx" / "best.onnx",
        "checkpoint with its export beside": work / "onnx" / "best.ckpt",
    }
    for what, path in files.items():
        figure = [] if "figure" in what else ["--no-figure"]
        outputs = {}
        for label, model in models.items():
            argv = ["-m", "speech.demo", str(path), "--ckpt", str(model), "--out", str(work)]
            mb, out, seconds = peak_mb(argv + figure, log)
            outputs[label] = keywords(out)
            rows.append(f"  {what:<22} {label:<34} {mb:7.0f} MB  {seconds:6.1f} s")
            print(rows[-1], flush=True)
            checks.append(check(f"peak RSS, {what}, {label}", mb, LIMIT_MB, "max", ".0f", "MB"))
        same = all(o == outputs["checkpoint (torch)"] for o in outputs.values())
        found = sum(
            0 if s.endswith(": none") else len(s.split(", "))
            for s in outputs["ONNX export"]
            if s.strip().startswith("keywords detected:")
        )
        checks.append(
            Check(f"same output from all three, {what}", f"{same} ({found} keywords)", "True", same)
        )
    print(
        f"\nThe checkpoint path imports torch (its CUDA wheel: {torch_mb:.0f} MB at peak before "
        "any work) and Lightning; it cannot reach the target. The demo meets it from the ONNX "
        "export: `portfolio export speech` (writes best.onnx beside best.ckpt, which the demo "
        "then uses by itself), or `--ckpt model.onnx`."
    )
    return verdict(checks, "speech.demo peak memory (issue 17)")


if __name__ == "__main__":
    command(main)
