"""Text side of the data: the embedded corpus, line splitting, the alphabet and its encoding."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

CORPUS_FILE = Path(__file__).with_name("corpus.txt")


def load_corpus(path: Path = CORPUS_FILE) -> list[str]:
    """Sentences of the embedded English corpus (one a line, '#' lines are comments)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.startswith("#")]


def split_sentences(sentences: list[str], seed: int, val_fraction: float) -> tuple[list, list]:
    """Hold out whole sentences for validation, so validation lines are text never trained on."""
    order = np.random.default_rng(seed).permutation(len(sentences))
    n_val = max(1, int(round(val_fraction * len(sentences))))
    val = [sentences[i] for i in sorted(order[:n_val])]
    train = [sentences[i] for i in sorted(order[n_val:])]
    return train, val


def sample_lines(
    sentences: list[str],
    n: int,
    max_chars: int,
    rng: np.random.Generator,
    run_on: bool = False,
) -> list:
    """`n` text lines: a random run of words from a random sentence, at most `max_chars` long.

    With `run_on`, a line that reaches the end of its sentence before its drawn length goes on
    with the next sentence of the list (as lines of running text do), so line lengths cover the
    whole range and capitals also appear mid-line, after a full stop.
    """
    lines = []
    while len(lines) < n:
        k = int(rng.integers(len(sentences)))
        words = sentences[k].split()
        start = int(rng.integers(len(words)))
        target = int(rng.integers(max(4, max_chars // 3), max_chars + 1))
        following = words[start + 1 :]
        if run_on:
            for j in range(1, 4):
                following += sentences[(k + j) % len(sentences)].split()
        line = words[start]
        for word in following:
            if len(line) + 1 + len(word) > target:
                break
            line += " " + word
        if len(line) <= max_chars:
            lines.append(line)
    return lines


def wrap(text: str, max_chars: int) -> list[str]:
    """Split long text into lines of at most `max_chars` characters at spaces (or inside words)."""
    return textwrap.wrap(" ".join(text.split()), width=max_chars, break_long_words=True)


def build_alphabet(texts: list[str]) -> str:
    """The sorted set of characters in `texts`; index 0 is kept for padding, so char i -> i + 1."""
    return "".join(sorted(set("".join(texts))))


def unknown_characters(text: str, alphabet: str) -> list[str]:
    """Characters of `text` that are not in `alphabet`, each once, in order of appearance."""
    seen: list[str] = []
    for c in text:
        if c not in alphabet and c not in seen:
            seen.append(c)
    return seen


def encode(text: str, alphabet: str) -> np.ndarray:
    """Text -> int64 codes 1..len(alphabet) (0 is padding). Raises ValueError on unknown chars."""
    missing = unknown_characters(text, alphabet)
    if missing:
        raise ValueError(f"characters not in the alphabet: {missing!r}")
    index = {c: i + 1 for i, c in enumerate(alphabet)}
    return np.array([index[c] for c in text], dtype=np.int64)
