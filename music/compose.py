"""Compose a piece with a trained checkpoint: MIDI, a piano-roll PNG and a WAV.

    python -m music.compose --bars 16 --temperature 0.9 -o out.mid
    python -m music.compose --prime music/examples/bach_bwv66.6_opening.mid --bars 8
    python -m music.compose --melody "C D E C E F G:2" --bars 8        # a typed opening
    python -m music.compose --ckpt runs/music/NAME/checkpoints/best.ckpt -o continued.mid

`music/examples/bach_bwv66.6_opening.mid` is the opening of J. S. Bach's chorale BWV 66.6
(public domain; from the music21 corpus) for trying --prime.

Without --ckpt the best checkpoint of the latest music run is used. With --prime, the piece starts
with the prime (on the model's grid) and continues it; --melody gives the opening as notes
instead, written as `music.harmonize --melody` reads them (C4 is middle C, ':N' quarter notes, R
a rest, a note without an octave the one nearest the note before); notes far from where the
chorales' sopranos lie are named in a note, as harmonize names them. Runs offline, in about a
second.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from common.checkpoints import load_trained
from common.demo import command_parser, demo_dir, json_text, progress, writable
from common.errors import UserError, command, entry_point
from music import midi
from music.melody import MAX_BARS, check_length, check_range, melody_roll, parse_melody
from music.model import Composer
from music.plots import plot_roll

SAMPLE_RATE = 22050

TEMPO_RANGE = (4.0, 1000.0)  # quarter notes per minute; a MIDI file holds none below about 3.6
PROGRESS_FROM_BARS = 128  # pieces from this long show their progress (about 8 s)


def compose(
    model: Composer,
    bars: int,
    spq: int = 1,
    temperature: float = 1.0,
    prime: np.ndarray | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """(T, 88) bool roll: the prime (if any) followed by `bars` new bars; with `show_progress`,
    the bars done so far go to stderr every tenth of the piece."""
    model.eval()
    prime_t = torch.from_numpy(prime).float() if prime is not None else None
    steps_per_bar = midi.BEATS_PER_BAR * spq
    bars_done = progress(bars, "bars", "composed ") if show_progress else None
    report = (lambda frames: bars_done(frames // steps_per_bar)) if bars_done else None
    new = model.generate(bars * steps_per_bar, temperature, prime_t, report)  # (steps, 88)
    roll = new.bool().numpy()
    return roll if prime is None else np.concatenate([prime.astype(bool), roll])


def render_wav(pm, path: Path) -> str:
    """Write the audio: FluidSynth with its General MIDI sound font when installed, else
    pretty_midi's sine-wave synthesiser. Returns the synthesiser's name."""
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth: optional)

        audio, how = pm.fluidsynth(fs=SAMPLE_RATE), "fluidsynth"
    except Exception:  # not installed, or no sound font: the plain synthesiser always works
        audio, how = pm.synthesize(fs=SAMPLE_RATE), "sine"
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0:
        audio = 0.9 * audio / peak
    sf.write(str(path), audio.astype(np.float32), SAMPLE_RATE)
    return how


def write_outputs(
    roll: np.ndarray, out: Path, spq: int, tempo: float = 100.0, prime_steps: int = 0
) -> dict:
    """Write out.mid, out.png and out.wav next to each other; return their paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pm = midi.roll_to_midi(roll, spq, tempo)
    pm.write(str(out))
    png, wav = out.with_suffix(".png"), out.with_suffix(".wav")
    plot_roll(roll, png, spq, title=out.stem, prime_steps=prime_steps)
    synth = render_wav(pm, wav)
    notes = sum(len(i.notes) for i in pm.instruments)
    return {"midi": str(out), "png": str(png), "wav": str(wav), "synth": synth, "notes": notes}


def load_prime(path: str | Path, spq: int) -> np.ndarray:
    """(T, 88) roll of a prime MIDI file on a grid of `spq` steps per quarter note; MidiError
    when it cannot be read or holds no note long enough for the grid, MelodyError when it is
    longer than MAX_BARS bars (a 6000-quarter file took half a minute and 2.9 GB)."""
    prime = midi.midi_to_roll(midi.load_midi(path), spq)
    if len(prime) == 0:
        raise midi.MidiError(
            f"{path} has no note long enough for a grid of {spq} steps per quarter note; give a "
            "longer prime"
        )
    check_length(len(prime), spq, str(path))
    return prime


def melody_prime(text: str, spq: int) -> tuple[np.ndarray, list[str]]:
    """A typed melody (`parse_melody`) as a (T, 88) prime roll to continue, and notes for the
    user about it: rests, and pitches far from a chorale soprano's (`check_range`, as
    music.harmonize gives them for the melody it harmonizes)."""
    melody = parse_melody(text, spq)
    return melody_roll(melody), check_range(melody, "continuation")


def compose_piece(
    module, bars: int, temperature: float, seed: int, prime, out: Path, tempo: float = 100.0
) -> dict:
    """Compose `bars` bars after `prime` (a roll or None) and write them (`write_outputs`);
    return the files' paths, the bars, steps and seconds taken."""
    spq = module.steps_per_quarter
    torch.manual_seed(seed)
    start = time.perf_counter()
    long = bars >= PROGRESS_FROM_BARS
    roll = compose(module.model, bars, spq, temperature, prime, show_progress=long)
    prime_steps = min(len(prime) if prime is not None else 0, len(roll))
    written = write_outputs(roll, out, spq, tempo, prime_steps=prime_steps)
    seconds = round(time.perf_counter() - start, 3)
    return {"bars": bars, "steps": int(len(roll)), "seconds": seconds, **written}


def add_shared_arguments(p: argparse.ArgumentParser, tempo: float, what: str) -> None:
    """The options compose and harmonize share (`checked_output` checks them)."""
    p.add_argument("--ckpt", help="checkpoint (default: best of the latest music run)")
    p.add_argument(
        "-o", "--output", help="MIDI path; .png/.wav beside (default: runs/demo/music/<time>/)"
    )
    p.add_argument("--temperature", type=float, default=0.9, help="< 1 safer, > 1 wilder")
    p.add_argument("--tempo", type=float, default=tempo, help="quarter notes per minute")
    p.add_argument("--seed", type=int, default=0, help=f"random seed (same seed, same {what})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = command_parser("music.compose", __doc__)
    p.add_argument("--bars", type=int, default=16, help="new bars of 4/4 to compose")
    opening = p.add_mutually_exclusive_group()
    opening.add_argument("--prime", help="MIDI file to continue (its non-drum tracks)")
    opening.add_argument("--melody", help="notes to continue instead, e.g. 'C D E C G:2'")
    add_shared_arguments(p, tempo=100.0, what="piece")
    return p.parse_args(argv)


def checked_output(args: argparse.Namespace, default_name: str) -> Path:
    """Check --temperature, --tempo and the -o name before any work (compose and harmonize share
    them); return the MIDI path to write (runs/demo/music/<time>/<default_name> without -o).
    Whether its folder is writable is checked by the caller (it creates the folder)."""
    if not (math.isfinite(args.temperature) and args.temperature > 0):
        raise UserError(
            f"--temperature must be positive (a number above 0), got {args.temperature}"
        )
    low, high = TEMPO_RANGE  # --tempo 1 failed writing the MIDI file, after the composing
    if not (math.isfinite(args.tempo) and low <= args.tempo <= high):
        raise UserError(
            f"--tempo must be positive: {low:g} to {high:g} quarter notes per minute (a MIDI "
            f"file holds none slower than about 3.6), got {args.tempo}"
        )
    out = Path(args.output) if args.output else demo_dir("music") / default_name
    if out.suffix.lower() not in (".mid", ".midi"):
        raise UserError(f"--output {out} should end in .mid (the PNG and WAV go beside it)")
    return out


@entry_point
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if not 1 <= args.bars <= MAX_BARS:
        raise UserError(
            f"--bars must be 1 to {MAX_BARS} (about a second per 16 bars), got {args.bars}"
        )
    out = writable(checked_output(args, "composition.mid"))
    trained = load_trained("music", args.ckpt)
    spq = trained.module.steps_per_quarter
    prime = load_prime(args.prime, spq) if args.prime else None
    said: list[str] = []
    if args.melody is not None:
        prime, said = melody_prime(args.melody, spq)
    for line in said:
        print(f"note: {line}", file=sys.stderr)
    piece = compose_piece(
        trained.module, args.bars, args.temperature, args.seed, prime, out, args.tempo
    )
    result = {"checkpoint": str(trained.path), **piece, "messages": said}
    print(json_text(result))
    return result


if __name__ == "__main__":
    command(main)
