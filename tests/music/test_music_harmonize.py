"""Harmonizing a melody: text and MIDI melodies, the soprano kept, bad input refused."""

import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from music import harmonize, melody, midi


def ckpt_of(trained):
    root, _, _ = trained
    return str(root / "runs" / "music" / "tiny" / "checkpoints" / "best.ckpt")


def write_melody(path, pitches, chord_at=None, drums=False, step=0.5):
    """One note per quarter at 120 bpm (0.5 s); a chord under note `chord_at`."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=0, is_drum=drums)
    for i, p in enumerate(pitches):
        if p is None:
            continue
        chord = [p, p - 4, p - 7] if i == chord_at else [p]
        for q in chord:
            inst.notes.append(pretty_midi.Note(velocity=80, pitch=q, start=i * step,
                                               end=(i + 1) * step))  # fmt: skip
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def test_text_melodies_parse_with_lengths_and_rests():
    keys = melody.parse_melody("C4 D4:2 R Bb3, F#5:0.5 G5:0.5", spq=2)
    expected = [60, 60, 62, 62, 62, 62, -1, -1, 58, 58, 78, 79]
    assert keys.tolist() == [p - midi.LOW if p > 0 else -1 for p in expected]
    assert melody.parse_melody("R c4 R", spq=1).tolist() == [60 - midi.LOW]  # rests trimmed


@pytest.mark.parametrize(
    "text, pitches",
    [
        ("C D E C", [60, 62, 64, 60]),  # octave 4 first, from middle C
        ("B C", [71, 72]),  # the nearest C is above
        ("C4 G A", [60, 55, 57]),  # the nearest G is below
        ("C F# C", [60, 66, 72]),  # a tritone either way: up
        ("G4 R C", [67, -1, 72]),  # across a rest: the note before it
        ("C\u266f4 E\u266d F", [61, 63, 65]),  # typed sharp and flat signs
        ("bb4 b Bb", [70, 71, 70]),  # lowercase b: the letter, then a flat
    ],
)
def test_notes_without_an_octave_take_the_one_nearest_the_note_before(text, pitches):
    keys = melody.parse_melody(text, spq=1)
    assert keys.tolist() == [p - midi.LOW if p > 0 else -1 for p in pitches]


@pytest.mark.parametrize(
    "text, message",
    [
        ("C4 D4 H4 E4", r"note 3 of the melody, 'H4', is not a note"),
        ("C4 Do", r"note 2 of the melody, 'Do', is not a note"),
        ("C4 E4:x", r"note 2 .* is not a note"),
        ("C4 C9", r"'C9' \(MIDI 120\), is outside the piano's range"),
        ("A-1", r"outside the piano's range"),
        ("C4:0.5", r"does not fit the model's grid of 1 step"),
        ("C4 D4:0", r"^note 2 of the melody, 'D4:0', lasts no time: give it a length of at least "),
        # hours of harmonizing (and gigabytes of steps) before: refused before any is built
        ("C4:99999999", r"^the melody up to note 1, 'C4:99999999', is longer than 1024 bars \("),
        ("C4 R:1000000000", r"up to note 2, 'R:1000000000', is longer than 1024 bars"),
        ("", "the melody is empty"),
        ("R R:2", "only rests"),
    ],
)
def test_bad_text_melodies_say_what_is_wrong(text, message):
    with pytest.raises(melody.MelodyError, match=message):
        melody.parse_melody(text, spq=1)


def test_a_midi_melody_takes_the_top_note_of_chords(tmp_path):
    path = write_melody(tmp_path / "m.mid", [67, 69, None, 71, 72], chord_at=3)
    keys, said = melody.melody_from_midi(path, spq=1)
    assert keys.tolist() == [p - midi.LOW if p else -1 for p in (67, 69, None, 71, 72)]
    assert len(said) == 1 and "1 of 5 steps hold more than one note" in said[0]
    assert "rests at 1 step" in melody.check_range(keys)[0]
    long = write_melody(tmp_path / "long.mid", [67, 69], step=1500.0)  # 6000 quarter notes
    with pytest.raises(melody.MelodyError, match=r"long.mid is longer than 1024 bars"):
        melody.melody_from_midi(long, spq=1)


def test_harmonize_writes_valid_midi_with_the_soprano_unchanged(trained, tmp_path, capsys):
    out = tmp_path / "chorale.mid"
    text = "G4 G4 D5 B4:2 A4 G4 A4 B4:2 R A4:2 G4:2"
    result = harmonize.main(["--melody", text, "--ckpt", ckpt_of(trained), "-o", str(out)])
    printed = json.loads(capsys.readouterr().out)
    assert printed["soprano_kept"] and printed["steps"] == 15 == result["steps"]
    roll = midi.midi_to_roll(pretty_midi.PrettyMIDI(str(out)), 1)  # read back from the file
    keys = melody.parse_melody(text, 1)
    assert np.array_equal(melody.top_line(roll), keys)
    assert (roll.sum(1)[keys >= 0] >= 2).mean() > 0.5  # voices under most melody notes
    assert not roll[keys < 0].any()  # everyone rests with the melody
    assert out.with_suffix(".png").is_file() and out.with_suffix(".wav").is_file()
    midi_in = write_melody(tmp_path / "tune.mid", [72, 71, 69, 67, 69, 71, 72, 72], chord_at=2)
    again = harmonize.main([str(midi_in), "--ckpt", ckpt_of(trained), "-o", str(out)])
    assert again["soprano_kept"] and any("top note" in s for s in again["messages"])
    roll = midi.midi_to_roll(pretty_midi.PrettyMIDI(str(out)), 1)
    assert (melody.top_line(roll) + midi.LOW).tolist() == [72, 71, 69, 67, 69, 71, 72, 72]


def test_harmonize_bad_inputs_give_clear_messages_and_write_nothing(trained, tmp_path):
    ckpt, out = ckpt_of(trained), tmp_path / "out" / "x.mid"
    empty = tmp_path / "empty.mid"
    pretty_midi.PrettyMIDI().write(str(empty))
    cases = {
        "no notes": [str(empty)],
        "only drum": [str(write_melody(tmp_path / "d.mid", [36, 38], drums=True))],
        "does not exist": [str(tmp_path / "missing.mid")],
        "outside the piano's range A0-C8": [str(write_melody(tmp_path / "lo.mid", [60, 12]))],
        "'Hb4', is not a note": ["--melody", "C4 Hb4"],
        "only rests": ["--melody", "R R"],
        "give a melody": [],
        "not both": [str(empty), "--melody", "C4"],
        "should end in .mid": ["--melody", "C4", "-o", str(tmp_path / "x.wav")],
        "temperature must be positive": ["--melody", "C4", "--temperature", "0"],
        "tempo must be positive": ["--melody", "C4", "--tempo", "nan"],
    }
    for message, args in cases.items():
        with pytest.raises(SystemExit, match=f"error: .*{message}"):
            harmonize.main(["--ckpt", ckpt, "-o", str(out), *args])
    with pytest.raises(SystemExit, match="error: checkpoint .* does not exist"):
        harmonize.main(["--melody", "C4", "--ckpt", str(tmp_path / "no.ckpt"), "-o", str(out)])
    assert not out.parent.exists() and not (tmp_path / "x.wav").exists()
    with pytest.raises(SystemExit, match="error: cannot create the output folder"):
        harmonize.main(["--ckpt", ckpt, "--melody", "C4", "-o", "/proc/nope/x.mid"])


def test_harmonize_writes_under_the_demo_folder_by_default(trained):
    root, _, _ = trained
    result = harmonize.main(["--melody", "E4 D4 C4:2", "--ckpt", ckpt_of(trained)])
    written = Path(result["midi"])
    assert written.is_file() and written.name == "chorale.mid"
    assert written.parent.parent == root / "runs" / "demo" / "music"
