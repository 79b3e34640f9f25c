"""Piano rolls and the music maths around them, free of any deep-learning framework.

A piano roll is a boolean array of shape (T, 88): row t is the set of MIDI pitches 21..108 sounding
at grid point t. The grid is `steps_per_quarter` points per quarter note (1 = quarter notes, as in
the JSB Chorales benchmark; 2 = eighths; 4 = sixteenths). A note sounds at grid point t when it
covers the time t * step (its onset at or before, its release after): notes that fall between two
grid points are not sampled, exactly as in the benchmark's data. Use a finer grid to keep them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pretty_midi

from common.errors import DataError

LOW, HIGH = 21, 108  # A0 .. C8, the 88 piano keys
N_KEYS = HIGH - LOW + 1
BEATS_PER_BAR = 4  # 4/4, the metre of nearly every chorale
MAJOR_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
NATURAL_MINOR_SCALE = np.array([0, 2, 3, 5, 7, 8, 10])
# Krumhansl & Kessler (1982) key profiles, used by the Krumhansl-Schmuckler key finder.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


class MidiError(DataError):
    """A MIDI file that cannot be used: unreadable, empty, or drums only."""


def fold_pitch(pitch: int | np.ndarray) -> np.ndarray:
    """Move pitches outside the piano's range by whole octaves into it (keeps the pitch class)."""
    pitch = np.where(pitch < LOW, pitch + 12 * ((LOW - pitch + 11) // 12), pitch)
    return np.where(pitch > HIGH, pitch - 12 * ((pitch - HIGH + 11) // 12), pitch)


def notes_to_roll(
    notes: Iterable[tuple[int, float, float]], steps_per_quarter: int = 1
) -> np.ndarray:
    """Notes (pitch, start, end in quarter notes) sampled on the grid -> (T, 88) bool roll, T =
    the last grid point any note covers, plus one."""
    notes = [(int(fold_pitch(int(p))), float(s), float(e)) for p, s, e in notes if e > s]
    length = 0
    spans = []
    eps = 1e-6  # onsets written in floating point may sit a hair after the grid point
    for pitch, start, end in notes:
        first = int(np.ceil(start * steps_per_quarter - eps))
        last = int(np.ceil(end * steps_per_quarter - eps))  # exclusive: a release at t is off at t
        if last > first:
            spans.append((pitch - LOW, first, last))
            length = max(length, last)
    roll = np.zeros((length, N_KEYS), dtype=bool)
    for key, first, last in spans:
        roll[first:last, key] = True
    return roll


def midi_to_notes(pm: pretty_midi.PrettyMIDI) -> list[tuple[int, float, float]]:
    """All non-drum notes of a MIDI file as (pitch, start, end) in quarter notes.

    Times go through MIDI ticks (ticks / resolution = quarter notes), so tempo changes do not
    move the grid.
    """
    out = []
    for instrument in pm.instruments:
        if instrument.is_drum:
            continue
        for note in instrument.notes:
            start = pm.time_to_tick(note.start) / pm.resolution
            end = pm.time_to_tick(note.end) / pm.resolution
            out.append((note.pitch, start, end))
    return out


def midi_to_roll(pm: pretty_midi.PrettyMIDI, steps_per_quarter: int = 1) -> np.ndarray:
    """(T, 88) bool roll of every non-drum instrument of `pm`, merged."""
    return notes_to_roll(midi_to_notes(pm), steps_per_quarter)


def load_midi(path: str | Path) -> pretty_midi.PrettyMIDI:
    """Read a MIDI file; MidiError (naming the file and the problem) when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise MidiError(f"MIDI file {path} does not exist; check the path")
    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as err:  # mido and pretty_midi raise many kinds for a broken file
        raise MidiError(
            f"{path} is not a readable MIDI file ({type(err).__name__}: {err}); "
            "give a standard .mid/.midi file"
        ) from None
    pitched = [i for i in pm.instruments if not i.is_drum and i.notes]
    if not pitched:
        if any(i.is_drum and i.notes for i in pm.instruments):
            raise MidiError(f"{path} holds only drum tracks; give a file with pitched notes")
        raise MidiError(f"{path} holds no notes; give a MIDI file with music in it")
    return pm


def roll_to_midi(
    roll: np.ndarray, steps_per_quarter: int = 1, tempo: float = 100.0, program: int = 0
) -> pretty_midi.PrettyMIDI:
    """A MIDI file that plays the (T, 88) roll, each run of consecutive active steps one note;
    `tempo` in quarter notes per minute, `program` General MIDI's (0: acoustic grand piano)."""
    roll = np.asarray(roll, dtype=bool)
    if roll.ndim != 2 or roll.shape[1] != N_KEYS:
        raise ValueError(f"a piano roll has shape (T, {N_KEYS}), got {roll.shape}")
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    instrument = pretty_midi.Instrument(program=program, name="composer")
    step = 60.0 / tempo / steps_per_quarter  # seconds per grid point
    padded = np.zeros((roll.shape[0] + 2, N_KEYS), dtype=np.int8)
    padded[1:-1] = roll
    change = np.diff(padded, axis=0)  # +1 at onsets, -1 at releases, (T + 1, 88)
    for key in range(N_KEYS):
        onsets = np.flatnonzero(change[:, key] == 1)
        releases = np.flatnonzero(change[:, key] == -1)
        for on, off in zip(onsets, releases):
            instrument.notes.append(
                pretty_midi.Note(velocity=80, pitch=LOW + key, start=on * step, end=off * step)
            )
    instrument.notes.sort(key=lambda n: (n.start, n.pitch))
    pm.instruments.append(instrument)
    return pm


def pitches_to_roll(sequence: Sequence[Iterable[float]]) -> np.ndarray:
    """A JSB-style sequence (one tuple of MIDI pitches per time step) as a (T, 88) roll."""
    roll = np.zeros((len(sequence), N_KEYS), dtype=bool)
    for t, chord in enumerate(sequence):
        for pitch in chord:
            roll[t, fold_pitch(int(round(pitch))) - LOW] = True
    return roll


def transpose(roll: np.ndarray, semitones: int) -> np.ndarray:
    """Shift a roll by `semitones`; notes pushed off the keyboard are folded back by octaves."""
    if semitones == 0:
        return roll
    out = np.zeros_like(roll)
    t, key = np.nonzero(roll)
    out[t, fold_pitch(key + LOW + semitones) - LOW] = True
    return out


def transpose_range(roll: np.ndarray) -> tuple[int, int]:
    """The shifts (down, up) that keep every note of the roll on the keyboard."""
    keys = np.flatnonzero(roll.any(axis=0))
    if len(keys) == 0:
        return 0, 0
    return -int(keys.min()), int(N_KEYS - 1 - keys.max())


# ---- statistics of pieces -------------------------------------------------------------------


def pitch_class_histogram(roll: np.ndarray) -> np.ndarray:
    """(12,) share of sounding note-steps per pitch class (C = 0); zeros for an empty roll."""
    counts = roll.sum(axis=0).astype(float)  # (88,)
    hist = np.zeros(12)
    np.add.at(hist, (np.arange(N_KEYS) + LOW) % 12, counts)
    total = hist.sum()
    return hist / total if total else hist


def estimate_key(roll: np.ndarray) -> tuple[int, str]:
    """Krumhansl-Schmuckler key finding: (tonic pitch class, "major" | "minor")."""
    hist = pitch_class_histogram(roll)
    if hist.std() == 0:  # silence, or all twelve pitch classes equally: no key to find
        return 0, "major"
    best = (-np.inf, 0, "major")
    for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            r = np.corrcoef(hist, np.roll(profile, tonic))[0, 1]
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def in_key_share(roll: np.ndarray) -> float:
    """Share of sounding note-steps whose pitch class is in the piece's estimated key's scale."""
    hist = pitch_class_histogram(roll)
    if not hist.any():
        return float("nan")
    tonic, mode = estimate_key(roll)
    scale = MAJOR_SCALE if mode == "major" else NATURAL_MINOR_SCALE
    # Harmonic and melodic minor raise the 6th and 7th: count them in key too.
    extra = np.array([9, 11]) if mode == "minor" else np.array([], dtype=int)
    pcs = (np.concatenate([scale, extra]) + tonic) % 12
    return float(hist[pcs].sum())


def roll_statistics(rolls: Sequence[np.ndarray]) -> dict[str, float]:
    """Summary statistics of a set of pieces (means over pieces, pitches as MIDI numbers)."""
    lows, highs, poly, silent, in_key = [], [], [], [], []
    for roll in rolls:
        keys = np.flatnonzero(roll.any(axis=0))
        if len(keys) == 0:
            silent.append(1.0)
            continue
        lows.append(LOW + keys.min())
        highs.append(LOW + keys.max())
        sizes = roll.sum(axis=1)
        poly.append(sizes[sizes > 0].mean())
        silent.append(float((sizes == 0).mean()))
        in_key.append(in_key_share(roll))
    hist = pitch_class_histogram(np.concatenate(rolls)) if len(rolls) else np.zeros(12)

    def mean(xs: list) -> float:
        return float(np.mean(xs)) if xs else float("nan")

    return {
        "pieces": len(rolls),
        "lowest_pitch": mean(lows),
        "highest_pitch": mean(highs),
        "pitch_span": mean([h - lo for lo, h in zip(lows, highs)]),
        "polyphony": mean(poly),
        "silent_share": mean(silent),
        "in_key_share": mean(in_key),
        "pitch_class_histogram": [round(float(x), 4) for x in hist],
    }


def histogram_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """Total variation distance between two pitch-class histograms: 0 same, 1 disjoint."""
    return float(0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum())
