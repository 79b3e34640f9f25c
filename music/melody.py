"""The examiner's melody as the music demos read it: notes typed as text, or the top line of a
MIDI file, as keys of the piano roll (0..87; -1 for a rest) on the model's grid."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pretty_midi

from common.errors import UserError
from music import midi

TOKEN = re.compile(
    r"^(?:(?P<rest>[Rr])|(?P<note>[A-Ga-g][#b]?)(?P<octave>-?\d+)?)(?::(?P<len>\d+(?:\.\d+)?))?$"
)
ACCIDENTALS = str.maketrans({"\u266f": "#", "\u266d": "b"})  # ♯ ♭ as typed or pasted
# Where the sopranos of the chorales lie (JSB train: MIDI 60-81); far outside, the model has
# never seen a soprano and harmonizes poorly.
SOPRANO_RANGE = (57, 84)
MAX_BARS = 1024  # a bound on the work one command asks for (about a minute): a melody, a piece


class MelodyError(UserError, ValueError):
    """A melody that cannot be used (harmonized or continued), with what to do about it."""


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
        if length == 0:
            raise MelodyError(
                f"note {i} of the melody, {token!r}, lasts no time: give it a length "
                f"of at least {1 / spq:g} quarter note(s)"
            )
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
        check_length(len(steps) + round(length), spq, f"the melody up to note {i}, {token!r},")
        steps += [key] * round(length)
    return _trimmed(np.array(steps))


def check_length(steps: int, spq: int, what: str) -> None:
    """MelodyError if `steps` on a grid of `spq` per quarter note are more than MAX_BARS bars:
    harmonizing or continuing them would take hours (a typed 'C4:99999999' did)."""
    quarters = MAX_BARS * midi.BEATS_PER_BAR
    if steps > quarters * spq:
        raise MelodyError(
            f"{what} is longer than {MAX_BARS} bars ({quarters} quarter notes), more than one "
            "command harmonizes or continues; shorten it"
        )


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
    check_length(len(roll), spq, str(path))
    said = []
    chords = int((roll.sum(1) > 1).sum())
    if chords:
        said.append(
            f"{chords} of {len(roll)} steps hold more than one note (chords or several "
            "tracks): the top note of each is taken as the melody"
        )
    return _trimmed(top_line(roll)), said


def check_range(keys: np.ndarray, what: str = "harmony") -> list[str]:
    """Notes for the user about the melody: rests, and pitches far from a chorale soprano's,
    for which `what` the model makes of it (the harmony under it, the continuation after it)
    may be poor."""
    said = []
    rests = int((keys < 0).sum())
    if rests:
        said.append(f"the melody rests at {rests} step(s): every voice rests there")
    pitches = keys[keys >= 0] + midi.LOW
    low, high = SOPRANO_RANGE
    if pitches.min() < low or pitches.max() > high:
        said.append(
            f"the melody spans MIDI {pitches.min()}-{pitches.max()}; the chorales' sopranos lie "
            f"within {low}-{high}, so the {what} may be poor (transpose it by octaves)"
        )
    return said


def top_line(roll: np.ndarray) -> np.ndarray:
    """(T,) highest sounding key of each step, -1 where nothing sounds."""
    return np.where(roll.any(1), midi.N_KEYS - 1 - np.argmax(roll[:, ::-1], axis=1), -1)


def melody_roll(keys: np.ndarray) -> np.ndarray:
    """(T,) melody keys -> (T, 88) bool roll with one key down per step (none at a rest)."""
    roll = np.zeros((len(keys), midi.N_KEYS), dtype=bool)
    sounding = np.flatnonzero(keys >= 0)
    roll[sounding, keys[sounding]] = True
    return roll
