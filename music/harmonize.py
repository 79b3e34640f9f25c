"""Harmonize a melody: the model writes alto, tenor and bass under a given soprano.

    python -m music.harmonize melody.mid -o chorale.mid
    python -m music.harmonize --melody "G4 G4 D5 B4:2 A4 G4 A4 B4:2 R A4:2" -o chorale.mid

A text melody is a list of notes (C4 is middle C; sharps '#', flats 'b'), each a quarter note,
or as many quarters as ':N' says; R is a rest. A note without an octave takes the octave nearest
the note before it, a first one octave 4 ("C D E C" from middle C, "B C" steps up to C5). From a MIDI file the highest note sounding at each
step of the model's grid is the melody (a chord is reduced to its top note, and the output says
so); drum tracks are ignored. At a rest every voice rests.

The RNN-NADE's "down" head visits the keys from the top, so the soprano comes first: clamping it
and drawing the keys below it samples exactly from p(lower voices | soprano, the piece so far).
Writes the MIDI, a piano-roll PNG and a WAV beside it (like music.compose); nothing is written
when the input cannot be used. Without --ckpt the best checkpoint of the latest music run.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import pretty_midi
import torch

from common.demo import command_parser, json_text, writable
from common.errors import UserError, command, entry_point
from music import midi

TOKEN = re.compile(
    r"^(?:(?P<rest>[Rr])|(?P<note>[A-Ga-g][#b]?)(?P<octave>-?\d+)?)(?::(?P<len>\d+(?:\.\d+)?))?$"
)
ACCIDENTALS = str.maketrans({"\u266f": "#", "\u266d": "b"})  # ♯ ♭ as typed or pasted
# Where the sopranos of the chorales lie (JSB train: MIDI 60-81); far outside, the model has
# never seen a soprano and harmonizes poorly.
SOPRANO_RANGE = (57, 84)


class MelodyError(UserError, ValueError):
    """A melody that cannot be harmonized, with what to do about it."""


def parse_melody(text: str, spq: int = 1) -> np.ndarray:
    """Notes separated by spaces or commas ("C4 D4 E4:2 R F#4:0.5") -> (T,) melody keys (0..87;
    -1 for a rest) on a grid of `spq` steps per quarter note. A note without an octave ("C D E
    C") is the one nearest the note before it (a first note: octave 4, from middle C up)."""
    tokens = [t for t in re.split(r"[\s,]+", text.translate(ACCIDENTALS).strip()) if t]
    if not tokens:
        raise MelodyError("the melody is empty; give notes such as --melody 'C4 D4 E4:2'")
    steps: list[int] = []
    previous = None  # the last note's pitch
    for i, token in enumerate(tokens, 1):
        match = TOKEN.match(token)
        if not match:
            raise MelodyError(
                f"note {i} of the melody, {token!r}, is not a note: write a letter A-G, an "
                "optional # or b and an octave (C4 is middle C, Bb3, F#5; without one, the "
                "octave nearest the note before), optionally ':N' quarter notes long (G4:2), "
                "or R for a rest"
            )
        length = float(match["len"] or 1) * spq
        if length < 1 or abs(length - round(length)) > 1e-9:
            raise MelodyError(
                f"note {i} of the melody, {token!r}, does not fit the model's grid of {spq} "
                f"step(s) per quarter note: use lengths that are multiples of {1 / spq:g}"
            )
        if match["rest"]:
            key = -1
        else:
            name = match["note"][0].upper() + match["note"][1:]
            if match["octave"] is not None:
                pitch = int(pretty_midi.note_name_to_number(name + match["octave"]))
            else:  # octave 4 first, then the octave nearest the note before (a tie goes up)
                pitch = int(pretty_midi.note_name_to_number(name + "4"))
                if previous is not None:
                    pitch += 12 * math.floor((previous - pitch) / 12 + 0.5)
            previous = pitch
            if not midi.LOW <= pitch <= midi.HIGH:
                raise MelodyError(
                    f"note {i} of the melody, {token!r} (MIDI {pitch}), is outside the piano's "
                    f"range A0-C8 (MIDI {midi.LOW}-{midi.HIGH}); move it by an octave"
                )
            key = pitch - midi.LOW
        steps += [key] * round(length)
    return _trimmed(np.array(steps))


def _trimmed(keys: np.ndarray) -> np.ndarray:
    sounding = np.flatnonzero(keys >= 0)
    if len(sounding) == 0:
        raise MelodyError("the melody has only rests; give at least one note")
    return keys[sounding[0] : sounding[-1] + 1]


def melody_from_midi(path: str | Path, spq: int = 1) -> tuple[np.ndarray, list[str]]:
    """(T,) melody keys from a MIDI file (top note of each grid step) and notes for the user."""
    pm = midi.load_midi(path)  # MidiError for a missing, broken, empty or drums-only file
    notes = midi.midi_to_notes(pm)
    outside = [(p, s) for p, s, _ in notes if not midi.LOW <= p <= midi.HIGH]
    if outside:
        pitch, start = outside[0]
        raise MelodyError(
            f"{path}: {len(outside)} note(s) outside the piano's range A0-C8 (MIDI "
            f"{midi.LOW}-{midi.HIGH}), the first MIDI {pitch} at quarter note {start:g}; "
            "transpose the melody"
        )
    roll = midi.notes_to_roll(notes, spq)
    if not roll.any():
        raise MelodyError(
            f"{path} has no note long enough for a grid of {spq} step(s) per quarter note"
        )
    said = []
    chords = int((roll.sum(1) > 1).sum())
    if chords:
        said.append(
            f"{chords} of {len(roll)} steps hold more than one note (chords or several "
            "tracks): the top note of each is taken as the melody"
        )
    return _trimmed(top_line(roll)), said


def check_range(keys: np.ndarray) -> list[str]:
    """Notes for the user about the melody: rests, and pitches far from a chorale soprano's."""
    said = []
    rests = int((keys < 0).sum())
    if rests:
        said.append(f"the melody rests at {rests} step(s): every voice rests there")
    pitches = keys[keys >= 0] + midi.LOW
    low, high = SOPRANO_RANGE
    if pitches.min() < low or pitches.max() > high:
        said.append(
            f"the melody spans MIDI {pitches.min()}-{pitches.max()}; the chorales' sopranos lie "
            f"within {low}-{high}, so the harmony may be poor (transpose it by octaves)"
        )
    return said


def harmonize(model, melody: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(T, 88) bool roll: the melody on top, the model's lower voices under it."""
    model.eval()
    return model.harmonize(torch.from_numpy(melody).long(), temperature).bool().cpu().numpy()


def top_line(roll: np.ndarray) -> np.ndarray:
    """(T,) highest sounding key of each step, -1 where nothing sounds."""
    return np.where(roll.any(1), midi.N_KEYS - 1 - np.argmax(roll[:, ::-1], axis=1), -1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from music.compose import add_shared_arguments

    p = command_parser("music.harmonize", __doc__)
    p.add_argument("melody_file", nargs="?", help="MIDI file whose top line is the melody")
    p.add_argument("--melody", help="the melody as text instead, e.g. 'C4 D4 E4:2 R G4'")
    add_shared_arguments(p, tempo=80.0, what="harmony")
    return p.parse_args(argv)


@entry_point(also=(ValueError,))  # a model without the top-down head
def main(argv: list[str] | None = None) -> dict:
    from common.checkpoints import load_trained
    from music.compose import checked_output, write_outputs

    args = parse_args(argv)
    if (args.melody_file is None) == (args.melody is None):
        raise UserError("give a melody: a MIDI file, or --melody 'C4 D4 E4' (not both)")
    out = checked_output(args, "chorale.mid")
    trained = load_trained("music", args.ckpt)
    module, path = trained.module, trained.path
    module.model.ordering_index("down")
    spq = module.steps_per_quarter
    if args.melody is not None:
        melody, said = parse_melody(args.melody, spq), []
    else:
        melody, said = melody_from_midi(args.melody_file, spq)
    said += check_range(melody)
    writable(out)  # only now: a melody refused above leaves no empty folder behind
    for line in said:
        print(f"note: {line}", file=sys.stderr)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    roll = harmonize(module.model, melody, args.temperature)
    seconds = time.perf_counter() - start
    written = write_outputs(roll, out, spq, args.tempo)
    result = {
        "checkpoint": str(path),
        "steps": int(len(roll)),
        "bars": round(len(roll) / (4 * spq), 2),
        "soprano_kept": bool(np.array_equal(top_line(roll), melody)),
        "harmonize_seconds": round(seconds, 3),
        "seconds": round(time.perf_counter() - start, 3),
        "messages": said,
        **written,
    }
    print(json_text(result))
    return result


if __name__ == "__main__":
    command(main)
