"""The OCR judge: error rates, rendering, and the engine itself on clean lines and on noise."""

import numpy as np
import pytest

from handwriting import hershey, ocr
from handwriting.text import load_unseen


def test_error_rates_count_edits():
    assert ocr.cer("abcd", "abcd") == 0.0
    assert ocr.cer("abcd", "abed") == 0.25
    assert ocr.cer("abcd", "") == 1.0
    assert ocr.cer("ab", "abxyz") == 1.5  # insertions count: CER can pass 1
    assert ocr.wer("good luck now", "good lack now") == pytest.approx(1 / 3)
    assert ocr.cer("Hello, world!", "Hello , world !") == 0.0  # a gap before punctuation
    assert ocr.cer("Hello", "hello") == 0.2  # case matters (mixed case is part of the test)
    s = ocr.score(["ab", "abcd"], ["ab", "abed"])
    assert s["cer"] == pytest.approx(1 / 6) and s["exact"] == 0.5


def test_render_draws_ink_at_a_fixed_scale():
    line = hershey.render_line("Hi", hershey.WRITERS["ada"])
    img = ocr.render(line)
    assert img.dtype == np.uint8 and img.shape[2] == 3
    assert (img < 128).any() and (img == 255).mean() > 0.5  # black ink on white
    assert abs(img.shape[0] - (ocr.CAP_PX + 2 * ocr.MARGIN_PX)) < 0.5 * ocr.CAP_PX
    assert ocr.render(np.zeros((0, 3))).min() == 255  # nothing written: a blank image


@pytest.mark.parametrize("style", ["ada", "cleo"])
def test_judge_reads_clean_renderings_of_unseen_phrases(style):
    phrases = load_unseen()[:: len(load_unseen()) // 8][:8]
    hyps = [ocr.read_offsets(hershey.render_line(p, hershey.WRITERS[style])) for p in phrases]
    assert ocr.score(phrases, hyps)["cer"] < 0.05, list(zip(phrases, hyps))


def test_judge_on_noise_reads_next_to_nothing():
    rng = np.random.default_rng(0)
    phrases = load_unseen()[:6]
    scribbles = [
        np.column_stack([rng.normal(0, 0.3, (150, 2)), rng.random(150) < 0.1]) for _ in phrases
    ]
    assert ocr.score(phrases, [ocr.read_offsets(s) for s in scribbles])["cer"] > 0.9
