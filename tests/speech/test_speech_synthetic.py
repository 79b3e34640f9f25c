"""The embedded eSpeak data set: determinism, voice-disjoint splits, the versioned cache."""

import numpy as np
import pytest

from speech import synthetic
from speech.synthetic import SynthConfig

TINY = SynthConfig(train_per_word=4, val_per_word=2, test_per_word=2)
WORDS = ["yes", "no", "marvin"]


def test_generation_is_deterministic_for_a_seed():
    a = synthetic.generate(TINY, WORDS, chunk=8)
    again = synthetic.generate(TINY, WORDS, chunk=8)
    b = synthetic.generate(TINY, WORDS, chunk=5)
    pooled = synthetic.generate(TINY, WORDS, chunk=8, workers=2)  # chunks in two processes
    c = synthetic.generate(SynthConfig(4, 2, 2, seed=1), WORDS)
    assert a["clips"].shape == (3 * 8, 16000) and a["clips"].dtype == np.int16
    assert np.array_equal(a["clips"], again["clips"]) and a["params"] == again["params"]
    assert np.array_equal(a["clips"], pooled["clips"])
    # another batch size only changes float rounding in batched FFTs: at most 1 LSB
    assert np.abs(a["clips"].astype(int) - b["clips"].astype(int)).max() <= 1
    assert not np.array_equal(a["clips"], c["clips"])
    assert all(np.abs(a["clips"]).max(axis=1) > 1000)  # every clip holds sound, not silence


def test_splits_hold_disjoint_voices():
    variants = synthetic.split_variants()
    sets = {s: set(v) for s, v in variants.items()}
    assert not sets["train"] & sets["test"] and not sets["train"] & sets["val"]
    assert not sets["val"] & sets["test"]
    assert sum(len(s) for s in sets.values()) == len(synthetic.VARIANTS)
    # a smaller validation share gives its voices to training and leaves the test voices alone
    wider = synthetic.split_variants(val_held_out=0.15)
    assert variants["test"] == wider["test"] and len(wider["val"]) > len(variants["val"]) >= 3
    assert set(variants["train"]) == set(wider["train"]) | (set(wider["val"]) - sets["val"])
    data = synthetic.generate(TINY, WORDS)
    for split, variant, gender in zip(data["split"], data["variant"], data["gender"]):
        assert variant in sets[split]
        assert gender in ("female", "male", "unspecified")
    test_genders = {g for s, g in zip(data["split"], data["gender"]) if s == "test"}
    assert {"female", "male"} <= test_genders  # the test split hears both
    assert set(data["accent"]) <= set(synthetic.ACCENTS.values())


def test_cache_is_reused_and_regenerated_on_a_new_version(tmp_path, monkeypatch):
    first = synthetic.load_or_generate(TINY, tmp_path, WORDS, verbose=False)
    folder = synthetic.cache_dir(TINY, tmp_path, WORDS)
    assert (folder / "meta.json").is_file() and (folder / "clips.npy").is_file()
    calls = []
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: calls.append(1) or first)
    again = synthetic.load_or_generate(TINY, tmp_path, WORDS, verbose=False)
    assert calls == [] and np.array_equal(again["clips"], first["clips"])
    monkeypatch.setattr(synthetic, "VERSION", synthetic.VERSION + 1)
    synthetic.load_or_generate(TINY, tmp_path, WORDS, verbose=False)
    assert calls == [1]  # a new version stamp means a new cache folder and a fresh generation


# eSpeak NG 1.52 dies with a segmentation fault on this one (found generating 480 clips per word).
CRASHES_ESPEAK = ("backward", "de+rob", 223, 21, 87, False)


def test_a_request_that_crashes_espeak_gets_its_fallback_instead_of_a_hang(capsys):
    import subprocess
    import sys

    from speech import espeak

    code = f"from speech import espeak; espeak.synthesize(*{CRASHES_ESPEAK!r})"
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert alone.returncode != 0  # still a crash in a process of its own: the test bites
    ok = ("yes", "en-us", 175, 50, 50, False)
    out = espeak.synthesize_many([ok, CRASHES_ESPEAK, ok, ok], shards=2)
    assert "crashed" in capsys.readouterr().out
    fallback = espeak.fallback_request(CRASHES_ESPEAK)
    # the shard restarts in a fresh process that says its earlier requests again, then the
    # fallback: exactly the fallback's clip after those requests
    assert np.array_equal(out[1], espeak.synthesize_many([ok, fallback], shards=1)[1])
    assert len(out[1]) > 1000
    assert np.array_equal(out[0], espeak.synthesize_many([ok], shards=1)[0])
    assert len(out) == 4 and all(len(o) > 1000 for o in out)


def test_a_refused_voice_is_an_error_not_a_hang():
    import pytest

    from speech import espeak

    with pytest.raises(espeak.ESpeakError, match="no voice"):
        espeak.synthesize_many([("yes", "xx-nope", 175, 50, 50, False)] * 3, shards=2)


def test_no_clip_says_its_word_like_another_word():
    from speech import espeak

    assert espeak.phonemes("three", "de") == espeak.phonemes("tree", "de")  # German eSpeak
    assert espeak.phonemes("three", "en-us") != espeak.phonemes("tree", "en-us")
    same = synthetic.homophones(["three", "tree", "yes"], ["de", "en-us"])
    assert same == {("de", "three"), ("de", "tree")}
    data = synthetic.generate(SynthConfig(6, 2, 2), ["three", "tree"])
    german = synthetic.ACCENTS["de"]
    assert german not in data["accent"]  # redrawn: every other accent tells them apart
    assert len(set(data["accent"])) > 3


def flaky_say(text, *args):
    """`espeak.synthesize`, except that the first process to say "up" fails (how a request
    that eSpeak NG fails on now and then looks): it dies, or reports an error."""
    import os
    from pathlib import Path

    from speech import espeak

    marker = Path(os.environ["MAL2_FLAKY_MARKER"])
    if text == "up" and not marker.exists():
        marker.write_text("failed once")
        if os.environ["MAL2_FLAKY_HOW"] == "die":
            os._exit(139)  # as a segmentation fault ends it
        raise espeak.ESpeakError("eSpeak NG has no voice 'sv+klatt2'")
    return espeak.synthesize(text, *args)


@pytest.mark.parametrize("how", ["die", "error"])
def test_a_request_that_fails_once_is_retried_and_the_clips_are_the_same(
    how, tmp_path, monkeypatch, capsys
):
    """An intermittent failure (issue 17: an ESpeakError for ("no", "sv+klatt2") now and
    then) neither stops the generation nor changes a single sample of any clip."""
    from speech import espeak

    requests = [
        (word, voice, 150 + 10 * i, 40, 85, False)
        for i, (word, voice) in enumerate(
            [("yes", "en-us+m3"), ("no", "sv+klatt2"), ("up", "de+f2"), ("no", "en+f4")] * 2
        )
    ]
    uninterrupted = espeak.synthesize_many(requests, shards=2)
    monkeypatch.setenv("MAL2_FLAKY_MARKER", str(tmp_path / "failed"))
    monkeypatch.setenv("MAL2_FLAKY_HOW", how)
    out = espeak.synthesize_many(requests, shards=2, say=flaky_say)
    assert (tmp_path / "failed").exists()  # it did fail once
    assert "failed twice" not in capsys.readouterr().out  # no fallback was needed
    assert all(np.array_equal(a, b) for a, b in zip(out, uninterrupted)) and len(out) == 8
