"""Pure stroke maths, text encoding and the synthetic Hershey writers."""

import numpy as np
import pytest

from handwriting import hershey, legibility
from handwriting.data import ALPHABET
from handwriting.strokes import (
    points_to_strokes,
    resample_polyline,
    strokes_to_points,
    to_absolute,
    to_offsets,
)
from handwriting.text import encode, load_corpus, unknown_characters, wrap


def test_offsets_absolute_round_trip():
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.normal(size=(50, 2)).cumsum(0), rng.integers(0, 2, 50)])
    offsets = to_offsets(points)
    assert np.allclose(to_absolute(offsets), points)
    assert np.allclose(to_offsets(to_absolute(offsets)), offsets)
    assert np.allclose(offsets[1:, :2], np.diff(points[:, :2], axis=0))


def test_strokes_points_round_trip_marks_pen_lifts():
    strokes = [np.array([[0, 0], [1, 0], [1, 1]]), np.array([[3, 3]]), np.array([[5, 0], [6, 1]])]
    points = strokes_to_points(strokes)
    assert points[:, 2].tolist() == [0, 0, 1, 1, 0, 1]
    back = points_to_strokes(points)
    assert len(back) == 3 and all(np.allclose(a, b) for a, b in zip(back, strokes))


def test_resample_keeps_ends_and_corners_and_spacing():
    line = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 5.0]])  # a right-angle corner
    out = resample_polyline(line, step=1.0)
    assert np.allclose(out[0], line[0]) and np.allclose(out[-1], line[-1])
    assert any(np.allclose(p, [10.0, 0.0]) for p in out)  # the corner survives
    gaps = np.linalg.norm(np.diff(out, axis=0), axis=1)
    assert np.allclose(gaps, 1.0, atol=1e-9)
    assert len(resample_polyline(line, step=0.5)) > len(out)


def test_every_writer_renders_the_whole_alphabet():
    for writer in hershey.WRITERS.values():
        offsets = hershey.render_line(ALPHABET, writer, np.random.default_rng(0))
        assert offsets.shape[1] == 3 and np.isfinite(offsets).all()
        assert offsets[-1, 2] == 1.0  # the last point ends a stroke
        height = np.ptp(to_absolute(offsets)[:, 1])
        assert 1.0 < height < 2.5  # cap height about 1, plus descenders


def test_rendering_is_deterministic_for_a_seed_and_varies_across_seeds():
    w = hershey.WRITERS["ada"]
    a = hershey.render_line("Hello there", w, np.random.default_rng(3))
    b = hershey.render_line("Hello there", w, np.random.default_rng(3))
    c = hershey.render_line("Hello there", w, np.random.default_rng(4))
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.allclose(a, c)


def test_corpus_covers_cases_digits_punctuation():
    text = "".join(load_corpus())
    assert set(text) == set(ALPHABET)
    for group in (
        "abcdefghijklmnopqrstuvwxyz",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        ".,;:!?'",
    ):
        assert set(group) <= set(text)


def test_encode_and_unknown_characters():
    codes = encode("ab a", "ab ")
    assert codes.tolist() == [1, 2, 3, 1]
    assert unknown_characters("café ü", ALPHABET) == ["é", "ü"]
    with pytest.raises(ValueError, match="é"):
        encode("café", ALPHABET)


def test_plain_letters_replace_only_letters_the_alphabet_lacks():
    from handwriting.text import plain_letters

    text = "José Søren Æbeltoft Straße Łódź naïve ½ € ok"
    assert plain_letters(text, ALPHABET) == (
        "Jose Soren Aebeltoft Strasse Lodz naive ½ € ok",
        {"é": "e", "ø": "o", "Æ": "Ae", "ß": "ss", "Ł": "L", "ó": "o", "ź": "z", "ï": "i"},
    )
    # a letter the alphabet has stays, and a stand-in the alphabet lacks is no stand-in
    assert plain_letters("STRAẞE", ALPHABET) == ("STRASSE", {"ẞ": "SS"})  # the capital sharp s
    assert plain_letters("éa", "éa") == ("éa", {})
    assert plain_letters("é", "abc") == ("é", {})
    # the accent as a combining mark of its own (decomposed, NFD): named as a bare mark before
    assert plain_letters("Jose\u0301 Zoe\u0308", ALPHABET) == ("Jose Zoe", {"é": "e", "ë": "e"})


def test_substitute_drops_invisible_format_characters_of_pasted_text():
    from handwriting.text import substitute

    # soft hyphen, zero-width space, byte-order mark, right-to-left mark: refused by name before
    pasted = "soft\u00adhyphen zero\u200bwidth \ufeffbom \u200fmark \u2019"
    assert substitute(pasted) == "softhyphen zerowidth bom mark '"


def test_wrap_splits_long_text_into_short_lines():
    lines = wrap("the quick brown fox jumps over the lazy dog " * 3, 20)
    assert len(lines) > 3 and all(len(line) <= 20 for line in lines)


def test_legibility_proxy_tells_texts_apart_and_rejects_scribbles():
    w = hershey.WRITERS["cleo"]
    texts = [
        "the river was wide",
        "birds sang in trees",
        "light travels fast",
        "keep calm, carry on",
    ]
    refs = [hershey.render_line(t, w) for t in texts]
    rng = np.random.default_rng(0)
    for i, t in enumerate(texts):  # a noisy rendering is recognised as its own text
        assert legibility.pick(hershey.render_line(t, w, rng), refs) == i
    scribble = np.column_stack([rng.normal(0.3, 0.3, (150, 2)), rng.random(150) < 0.05])
    ink = legibility.rasterise(scribble)  # unit norm: the dot product is the cosine similarity
    assert max(float((ink * legibility.rasterise(r)).sum()) for r in refs) < 0.5
