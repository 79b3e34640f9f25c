"""The pure piano-roll maths: conversions both ways, transposition, statistics."""

import numpy as np
import pretty_midi
import pytest

from music import midi
from tests.music.conftest import assert_refuses_missing_and_unreadable


def random_roll(steps=40, seed=0, density=0.05):
    rng = np.random.default_rng(seed)
    return rng.random((steps, midi.N_KEYS)) < density


@pytest.mark.parametrize("spq", [1, 2, 4])
def test_roll_midi_roll_round_trip(tmp_path, spq):
    roll = random_roll(seed=spq)
    roll[-1, 40] = True  # the last step sounds, so the length survives
    path = tmp_path / "r.mid"
    midi.roll_to_midi(roll, spq, tempo=93.0).write(str(path))
    back = midi.midi_to_roll(pretty_midi.PrettyMIDI(str(path)), spq)
    np.testing.assert_array_equal(back, roll)


def test_midi_roll_midi_keeps_notes(tmp_path):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    notes = [(60, 0.0, 1.0), (64, 0.0, 0.5), (67, 0.5, 2.0), (48, 1.0, 2.0), (72, 1.5, 1.75)]
    for pitch, start, end in notes:  # seconds at 120 bpm: 0.5 s per quarter, grid = sixteenths
        piano.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=start, end=end))
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes.append(pretty_midi.Note(velocity=90, pitch=36, start=0.0, end=0.25))
    pm.instruments += [piano, drums]
    pm.write(str(tmp_path / "in.mid"))

    roll = midi.midi_to_roll(pretty_midi.PrettyMIDI(str(tmp_path / "in.mid")), steps_per_quarter=4)
    assert roll.shape == (16, 88)  # 2 s = 4 quarters = 16 sixteenths
    assert not roll[:, 36 - midi.LOW].any()  # the drum (kick on key 36) is dropped
    out = midi.roll_to_midi(roll, steps_per_quarter=4, tempo=120)
    got = sorted((n.pitch, round(n.start, 6), round(n.end, 6)) for n in out.instruments[0].notes)
    assert got == sorted(notes)


def test_grid_samples_notes_at_grid_points():
    # quarter grid: the eighth note at 0.5 falls between grid points and is not sampled (as JSB)
    roll = midi.notes_to_roll([(60, 0, 1), (62, 0.5, 1), (64, 1, 3)], steps_per_quarter=1)
    assert roll.shape == (3, 88)
    assert roll[0, 60 - midi.LOW] and not roll[:, 62 - midi.LOW].any()
    assert roll[1:3, 64 - midi.LOW].all() and not roll[0, 64 - midi.LOW]
    fine = midi.notes_to_roll([(62, 0.5, 1)], steps_per_quarter=2)
    assert fine[1, 62 - midi.LOW] and not fine[0].any()


def test_out_of_range_pitches_fold_by_octaves():
    assert midi.fold_pitch(12) == 24 and midi.fold_pitch(120) == 108 and midi.fold_pitch(60) == 60
    roll = midi.pitches_to_roll([(10, 60), (115,)])
    assert roll[0, 22 - midi.LOW] and roll[0, 60 - midi.LOW] and roll[1, 103 - midi.LOW]


def test_transpose_moves_every_note_and_folds_at_the_edges():
    roll = np.zeros((2, 88), bool)
    roll[0, 40] = roll[1, 87] = True
    up = midi.transpose(roll, 3)
    assert up[0, 43] and up[1, 87 - 12 + 3] and up.sum() == 2
    assert midi.transpose_range(roll) == (-40, 0)
    np.testing.assert_array_equal(midi.transpose(midi.transpose(roll, -5), 5), roll)


def test_key_finding_and_in_key_share():
    c_major = [(p, 2 * i, 2 * i + 2) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
    roll = midi.notes_to_roll(c_major + [(48, 0, 16), (55, 0, 16)])
    assert midi.estimate_key(roll) == (0, "major")
    assert midi.in_key_share(roll) == pytest.approx(1.0)
    chromatic = midi.notes_to_roll([(60 + i, i, i + 1) for i in range(12)])
    assert midi.in_key_share(chromatic) == pytest.approx(7 / 12, abs=2 / 12)


def test_statistics_and_histogram_distance():
    roll = midi.notes_to_roll([(60, 0, 4), (64, 0, 4), (67, 2, 4)])
    stats = midi.roll_statistics([roll])
    assert stats["lowest_pitch"] == 60 and stats["highest_pitch"] == 67
    assert stats["polyphony"] == pytest.approx((2 + 2 + 3 + 3) / 4)
    hist = stats["pitch_class_histogram"]
    assert hist[0] == pytest.approx(0.4) and hist[4] == pytest.approx(0.4)
    assert midi.histogram_distance(hist, hist) == 0
    assert midi.histogram_distance([1] + [0] * 11, [0, 1] + [0] * 10) == 1


def test_load_midi_errors(tmp_path):
    (tmp_path / "broken.mid").write_bytes(b"MThd this is not midi")
    unreadable = "not a readable MIDI file"
    assert_refuses_missing_and_unreadable(
        midi.load_midi, midi.MidiError, tmp_path / "broken.mid", unreadable
    )
    pretty_midi.PrettyMIDI().write(str(tmp_path / "empty.mid"))
    with pytest.raises(midi.MidiError, match="no notes"):
        midi.load_midi(tmp_path / "empty.mid")
    pm = pretty_midi.PrettyMIDI()
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes.append(pretty_midi.Note(velocity=90, pitch=38, start=0, end=0.5))
    pm.instruments.append(drums)
    pm.write(str(tmp_path / "drums.mid"))
    with pytest.raises(midi.MidiError, match="only drum"):
        midi.load_midi(tmp_path / "drums.mid")
