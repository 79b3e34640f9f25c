"""Harmonize a melody: the model writes alto, tenor and bass under a given soprano.

    python -m music.harmonize melody.mid -o chorale.mid
    python -m music.harmonize --melody "G4 G4 D5 B4:2 A4 G4 A4 B4:2 R A4:2" -o chorale.mid

A text melody is a list of notes (C4 is middle C; sharps '#', flats 'b'), each a quarter note,
or as many quarters as ':N' says; R is a rest. A note without an octave takes the octave nearest
the note before it, a first one octave 4 ("C D E C" from middle C, "B C" steps up to C5). From
a MIDI file the highest note sounding at each step of the model's grid is the melody (a chord is
reduced to its top note, and the output says so); drum tracks are ignored. At a rest every voice
rests. Both are read by `music.melody`.

The RNN-NADE's "down" head visits the keys from the top, so the soprano comes first: clamping it
and drawing the keys below it samples exactly from p(lower voices | soprano, the piece so far).
Writes the MIDI, a piano-roll PNG and a WAV beside it (like music.compose); nothing is written
when the input cannot be used. Without --ckpt the best checkpoint of the latest music run.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from common.demo import command_parser, json_text, writable
from common.errors import UserError, command, entry_point
from music.melody import check_range, melody_from_midi, parse_melody, top_line


def harmonize(model, melody: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(T, 88) bool roll: the melody on top, the model's lower voices under it."""
    model.eval()
    return model.harmonize(torch.from_numpy(melody).long(), temperature).bool().cpu().numpy()


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
