"""Which keyword was said? Top-5 words per recording, and a figure (waveform, log-mel, bars).

    python -m speech.demo yes.wav                      # latest checkpoint of runs/speech/
    python -m speech.demo a.wav b.flac --ckpt CKPT --out demo_out/
    python -m speech.demo recordings/                  # every recording in a folder
    python -m speech.demo --speak "left stop" --voice en-gb-scotland+f5   # synthesize, classify
    python -m speech.demo --listen                     # the microphone, until Ctrl-C
    python -m speech.demo --ckpt personal.ckpt --listen --seconds 30

A recording longer than one second is scanned with a 1-second window every 250 ms; the
keywords detected above `--threshold` are listed with their times. One longer than a minute is
read block by block (bounded memory, no figure). `--listen` spots keywords in the microphone's
stream the same way: an energy gate keeps silence and steady noise away from the classifier,
and each keyword is printed with its time and probability.

`--ckpt model.onnx`, or an up-to-date `best.onnx` beside the checkpoint (training writes it),
runs the network's ONNX export without torch, in a fraction of the memory (model card); only
`--speak` loads torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from common.demo import command_parser, demo_dir, number, text, writable
from common.errors import DataError, command, entry_point
from speech import stream, wave

HOP = stream.HOP
LONG_SECONDS = 60.0  # longer recordings are streamed block by block


def classify(module, wav: np.ndarray, threshold: float = 0.6) -> dict:
    """Classify a 16 kHz recording (an array or a CPU tensor) of any length with a model that
    has `class_names` and `predict_proba` (the KeywordModule or its ONNX export).

    Returns {"probs": (n_classes,) of the most confident window, "start": its start in seconds,
    "detections": [(word, start_s, end_s, prob)] for windows above `threshold`}.
    """
    wav = np.asarray(wav, dtype=np.float32)
    windows, starts = wave.sliding_windows(wav, wave.SAMPLE_RATE, HOP)  # (W, 16000)
    windows = np.ascontiguousarray(windows)
    loud = np.array([not wave.is_silent(w, -50.0) for w in windows])
    probs = np.concatenate(  # (W, n_classes), 64 windows at a time: bounded activations
        [np.asarray(module.predict_proba(windows[i : i + 64])) for i in range(0, len(windows), 64)]
    )
    best = int(np.where(loud, probs.max(axis=1), -1.0).argmax())
    detections: list[list] = []
    t0 = (starts[loud] / wave.SAMPLE_RATE).tolist()
    end = len(wav) / wave.SAMPLE_RATE
    stream.detect(module.class_names, probs[loud], t0, threshold, detections, end)
    return {
        "probs": probs[best],
        "start": int(starts[best]) / wave.SAMPLE_RATE,
        "detections": [tuple(d) for d in detections],
    }


def top_words(probs: np.ndarray, names: list[str], k: int) -> list[tuple[str, float]]:
    """The `k` most probable words of a (n_classes,) probability vector, most probable first."""
    order = np.argsort(-np.asarray(probs), kind="stable")[:k]
    return [(names[i], float(probs[i])) for i in order]


def load_model(ckpt: Path | None):
    """(what to print as the checkpoint, the model): the ONNX export for `--ckpt X.onnx` or for
    a checkpoint with an up-to-date export beside it (no torch), else the checkpoint itself."""
    from common import export
    from common.checkpoints import find_checkpoint
    from speech.exported import ExportedModel  # numpy and onnxruntime only

    if ckpt is not None and ckpt.suffix.lower() == ".onnx":
        return str(ckpt), ExportedModel(ckpt)
    path = ckpt or find_checkpoint("speech")
    if onnx := export.current(path, "speech"):
        return f"{path} (run from its ONNX export {onnx.name})", ExportedModel(onnx)
    if export.beside(path).is_file():
        print(
            f"note: {export.beside(path)} is not the export of this checkpoint (made from another "
            f"one, or unreadable): loading the checkpoint with torch (about 1 GB). "
            f"`portfolio export speech --ckpt {path}` writes a current one.",
            file=sys.stderr,
        )
    from common.checkpoints import load_trained

    trained = load_trained("speech", path)
    return str(trained.path), trained.module


def speak(words: list[str], voice: str, path: Path, rate: int = 160, gap: float = 0.8) -> Path:
    """Synthesize words with eSpeak NG, `gap` seconds apart, over faint pink noise, into a
    16 kHz mono WAV (exactly 1 s for one word)."""
    import soundfile as sf
    import torch

    from speech import audio, espeak

    pieces = []
    for word in words:
        wav, rate_hz = espeak.synthesize(word, voice, rate=rate)
        wav = audio.resample(torch.from_numpy(wav), rate_hz, audio.SAMPLE_RATE)
        start, end = audio.active_region(wav)
        pieces.append(wav[max(0, start - 1600) : end + 1600])
        pieces.append(torch.zeros(int(gap * audio.SAMPLE_RATE)))
    wav = torch.cat(pieces[:-1])
    wav = audio.fit_length(wav) if len(words) == 1 else wav
    wav = 0.5 * wav / (wav.abs().max() + 1e-9)
    gen = torch.Generator().manual_seed(0)  # a quiet room rather than digital silence
    wav = wav + 0.002 * audio.coloured_noise(1, len(wav), torch.ones(1), gen)[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wav.numpy(), audio.SAMPLE_RATE)
    return path


def write_exam_clips(out_dir: Path) -> list[Path]:
    """Two recordings in voices held out of training: one word, and two words in 2.5 seconds."""
    from speech.synthetic import split_variants

    first, second = split_variants()["test"][:2]
    one = speak(["yes"], f"en-us+{first}", out_dir / f"yes_{first}.wav")
    pair = speak(["left", "stop"], f"en-gb-scotland+{second}", out_dir / f"left_stop_{second}.wav")
    return [one, pair]


def list_voices() -> str:
    """The accents and voice variants --voice accepts (ACCENT or ACCENT+VARIANT)."""
    from speech.synthetic import ACCENTS, VARIANTS

    lines = ["--voice ACCENT or ACCENT+VARIANT, e.g. en-us+f3 or en-gb-scotland+m2", "accents:"]
    lines += [f"  {code:<16} {name}" for code, name in ACCENTS.items()]
    lines.append("variants: " + " ".join(VARIANTS))
    return "\n".join(lines)


def figure_path(out: Path, audio_path: Path, used: set[Path]) -> Path:
    """x.wav -> x.wav.png, x.flac -> x.flac.png; a second x.wav (another folder) -> x.wav-2.png."""
    fig, n = out / f"{audio_path.name}.png", 1
    while fig in used:
        n += 1
        fig = out / f"{audio_path.name}-{n}.png"
    used.add(fig)
    return fig


def scan_long(module, path: Path, threshold: float) -> None:
    """Keywords of a recording too long for memory, read and classified block by block."""
    from speech.exported import ExportedModel

    if not isinstance(module, ExportedModel):  # on stderr: the printed results stay the same
        print(
            "note: the checkpoint runs with torch (about 1 GB at peak for any length); "
            "`portfolio export speech --ckpt CKPT` once, and the demo runs its export in about "
            "120 MB",
            file=sys.stderr,
        )
    print(f"\n{path} ({wave.duration(path):.1f} s, read block by block; no figure)")
    found = [
        f"{w} at {t0:.2f} s ({p:.0%})"
        for w, t0, p in stream.spot(module, wave.read_blocks(path), threshold)
    ]
    print(f"  keywords detected: {', '.join(found) or 'none'}")


def listen(module, threshold: float, seconds: float | None) -> int:
    """Spot keywords in the default microphone's stream (MicrophoneError without one)."""
    from speech import microphone

    mic = microphone.input_stream(wave.SAMPLE_RATE, blocksize=HOP)  # MicrophoneError: exit 2
    print("listening (Ctrl-C to stop); time, keyword, probability:", flush=True)
    try:
        count = stream.listen(module, mic, threshold, seconds, lambda s: print(s, flush=True))
    finally:
        mic.stop()
        mic.close()
    print(f"{count} keyword(s) heard")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("speech.demo", __doc__)
    parser.add_argument(
        "files", nargs="*", type=Path, help="audio files (WAV, FLAC, OGG, ...) or folders of them"
    )
    parser.add_argument(
        "--ckpt",
        type=Path,
        help="checkpoint, or its ONNX export (model.onnx: no torch, bounded memory; default: "
        "latest speech run's best, through best.onnx when that is its up-to-date export)",
    )
    parser.add_argument(
        "--out", type=Path, help="folder for the figures (default: runs/demo/speech/<time>/)"
    )
    parser.add_argument(
        "--top",
        type=number(1, 1000, integer=True),
        default=5,
        help="how many words to list per file",
    )
    parser.add_argument(
        "--threshold",
        type=number(0.0, 1.0),
        default=0.6,
        help="probability above which a window counts as a detection",
    )
    parser.add_argument(
        "--speak", type=text, help="synthesize this text with eSpeak NG and classify it"
    )
    parser.add_argument("--voice", help="eSpeak voice for --speak (default: en-us+f3)")
    parser.add_argument("--no-figure", action="store_true", help="skip the PNG figures")
    parser.add_argument(
        "--list-voices", action="store_true", help="list the eSpeak voices for --voice and exit"
    )
    parser.add_argument(
        "--listen", action="store_true", help="spot keywords in the microphone's stream"
    )
    parser.add_argument(
        "--seconds", type=float, help="--listen: stop after this long (default: Ctrl-C)"
    )
    return parser


def classify_file(module, path: Path, args, used: set[Path]) -> bool:
    """Classify one audio file and print the result (and save its figure); False when it cannot
    be read."""
    try:
        if wave.duration(path) > LONG_SECONDS:
            scan_long(module, path, args.threshold)
            return True
        data, rate = wave.read(path)
        wav = wave.resample(data, rate, wave.SAMPLE_RATE)
    except wave.AudioError as err:
        print(f"\n{path}: cannot classify: {str(err).split(': ', 1)[-1]}")
        return False
    seconds = len(wav) / wave.SAMPLE_RATE
    print(f"\n{path} ({seconds:.2f} s)")
    if short := wave.too_short(wav):
        print(f"  {short}")
        return True
    if not wave.has_speech(wav):
        print("  silence or steady noise only (no louder sound stands out); no word to classify")
        return True
    result = classify(module, wav, args.threshold)
    where = f" (best window at {result['start']:.2f} s)" if seconds > 1.0 else ""
    print(f"  top {args.top}{where}:")
    for word, p in top_words(result["probs"], module.class_names, args.top):
        print(f"    {word:<10} {p:6.1%}  {'#' * round(30 * p)}")
    if seconds > 1.0:
        found = [f"{w} {t0:.2f}-{t1:.2f} s ({p:.0%})" for w, t0, t1, p in result["detections"]]
        print(f"  keywords detected: {', '.join(found) or 'none'}")
    if not args.no_figure:
        from speech.plots import plot_classification

        fig = plot_classification(
            figure_path(args.out, path, used), wav, module, result, str(path.name)
        )
        print(f"  figure: {fig}")
    return True


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_voices:
        print(list_voices())
        return 0
    for extra, partner, given in (
        ("--seconds", "--listen", args.listen),
        ("--voice", "--speak", args.speak),
    ):
        if getattr(args, extra[2:]) is not None and not given:  # else ignored without a word
            parser.error(f"{extra} applies to {partner}; give {partner} too, or leave {extra} out")
    args.out = writable(args.out or demo_dir("speech"), is_folder=True)
    if args.listen and (args.files or args.speak):
        parser.error("--listen reads the microphone; give files (or --speak) without it")
    if args.seconds is not None and args.seconds <= 0:
        parser.error(f"--seconds {args.seconds}: give a positive number of seconds")
    files = []
    for path in args.files:  # a folder stands for the recordings in it
        found = wave.audio_files(path) if path.is_dir() else [path]
        if not found:
            suffixes = ", ".join(sorted(wave.AUDIO_SUFFIXES))
            raise DataError(f"{path}: a folder without recordings ({suffixes}); give audio files")
        files += found
    if args.speak:
        from speech.espeak import ESpeakError

        try:
            voice = args.voice or "en-us+f3"
            files.append(speak(args.speak.split(), voice, args.out / "spoken.wav"))
        except ESpeakError as err:
            raise ESpeakError(f"{err}; see --list-voices") from None
    if not files and not args.listen:
        parser.error("give at least one audio file (or --speak TEXT, or --listen)")
    ckpt, module = load_model(args.ckpt)
    print(f"checkpoint: {ckpt}")
    if args.listen:
        return listen(module, args.threshold, args.seconds)

    used: set[Path] = set()  # figure names taken
    failures = sum(not classify_file(module, path, args, used) for path in files)  # in turn
    if failures == len(files):  # the files the user gave: their error, not a failed run
        raise DataError(
            f"no file could be classified ({', '.join(map(str, files))}; the reason for each "
            "is above): give WAV/FLAC/OGG recordings of a word"
        )
    return 0


if __name__ == "__main__":
    command(main)
