"""The music benchmark's own figures: the sampled lower-voice NLL against enumeration, and the
voice-leading counts on hand-made chorales."""

import itertools

import numpy as np
import torch

from benchmarks.music_voices import lower_voice_nll, voice_leading_statistics
from music import midi
from music.model import Composer, frame_nll
from tests.music.test_music_model import tiny_config


def test_lower_voice_nll_against_enumeration():
    """With the soprano on one of the top keys, the keys from it up can be enumerated: the
    sampled estimate of p(lower voices) must match the exact sum."""
    torch.manual_seed(1)
    model = Composer(tiny_config()).eval()
    with torch.no_grad():
        model.heads[0].W.normal_(0, 1.0)
        model.heads[0].V.normal_(0, 1.0)
    frame = torch.zeros(88)
    frame[[40, 47, 52, 85]] = 1  # soprano on key 85: keys 85, 86, 87 from it up
    roll = frame.bool().numpy()[None]
    result = lower_voice_nll(model, [roll], samples=20000)
    h = model.context(frame.view(1, 1, 88))[0]  # (1, hidden)
    head = model.heads[0]
    completions = frame.repeat(8, 1)
    completions[:, 85:] = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)))
    joint = -frame_nll(head.logits(h.expand(8, -1), completions), completions)  # log p(frame)
    exact_marginal = -torch.logsumexp(joint, 0).item()  # -log p(keys below 85 as they are)
    above = frame_nll(head.logits(h, frame[None])[:, 85:], frame[None, 85:]).item()
    exact_given = -joint[completions[:, 85:].tolist().index([1.0, 0.0, 0.0])].item() - above
    assert result["frames"] == 1
    assert abs(result["given_soprano"] - exact_given) < 1e-4
    assert abs(result["without_soprano"] - exact_marginal) < 0.03


def chord_roll(*chords):
    roll = np.zeros((len(chords), 88), bool)
    for t, chord in enumerate(chords):
        roll[t, [p - midi.LOW for p in chord]] = True
    return roll


def test_voice_leading_counts_parallels_and_overlaps():
    # bass and tenor a fifth apart, bass and soprano two octaves apart, all rising: one of each
    parallel = chord_roll((48, 55, 64, 72), (50, 57, 65, 74))
    stats = voice_leading_statistics([parallel])
    assert stats["transitions"] == 1
    assert stats["parallel_fifths_per_100"] == 100 and stats["parallel_octaves_per_100"] == 100
    assert stats["voice_overlaps_per_100"] == 0 and stats["four_voice_share"] == 1
    # the same fifths by contrary or oblique motion are no parallels
    contrary = chord_roll((48, 55, 64, 72), (43, 55, 62, 74), (43, 50, 62, 74))
    stats = voice_leading_statistics([contrary])
    assert stats["parallel_fifths_per_100"] == 0 and stats["parallel_octaves_per_100"] == 0
    # the alto leaps above the soprano's previous note
    overlap = chord_roll((48, 55, 64, 72), (48, 55, 74, 76))
    assert voice_leading_statistics([overlap])["voice_overlaps_per_100"] == 100
    # steps without four notes are not judged; pieces add up
    three = chord_roll((48, 55, 64), (50, 57, 65))
    both = voice_leading_statistics([parallel, three, contrary])
    assert both["transitions"] == 3 and both["four_voice_share"] == 5 / 7
    assert abs(both["parallel_fifths_per_100"] - 100 / 3) < 1e-9
    c_major = chord_roll((48, 55, 64, 72), (53, 57, 65, 72), (55, 59, 62, 67))
    assert voice_leading_statistics([c_major])["outside_key_share"] == 0
