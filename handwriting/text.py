"""Text side of the data: the embedded corpus, line splitting, the alphabet and its encoding."""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common.errors import DataError

CORPUS_FILE = Path(__file__).with_name("corpus.txt")
UNSEEN_FILE = Path(__file__).with_name("unseen.txt")
LINE_TRIES = 10_000  # drawn lines whose characters all lie in the alphabet, before giving up


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


def load_unseen(path: Path = UNSEEN_FILE) -> list[str]:
    """The OCR judge's unseen phrases (one a line, '#' lines are comments); training text never
    contains one of them (see `TextMixer`)."""
    return load_corpus(path)


_MONTHS = "January February March April May June July August September October November December"
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
_TITLES = ["Mr.", "Mrs.", "Ms.", "Dr.", "Prof.", "Sir", "Miss", "Aunt", "Uncle", "Capt."]
_STREETS = ["Street", "St.", "Road", "Rd.", "Avenue", "Ave.", "Lane", "Way", "Place", "Drive"]
_PUNCT_AFTER = [",", ".", ";", ":", "!", "?", "...", " -", ","]
CAPITALS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class TextMixer:
    """Lines of text with the variety of real writing, for training and validation.

    Each line is a run of pieces up to a drawn length: Faker's English words with punctuation,
    names, addresses, dates, times, numbers, corpus sentences and words in capitals or Title
    Case, so capitals and digits appear at every position of a line. Deterministic for a seed.

    Args:
        sentences: corpus sentences to mix in (the training or the held-out ones).
        seed: random seed (also seeds Faker).
        exclude: phrases no line may contain (the OCR judge's unseen phrases).
        lead_letter: share of lines that start with a word or name whose initial is drawn
            uniformly from the letters (A-Z, a-z but x and z), so that every letter of either
            case begins many lines. 0: the earlier text, line for line.
    """

    def __init__(
        self, sentences: list[str], seed: int, exclude: list[str] = (), lead_letter: float = 0.0
    ):
        from faker import Faker
        from faker.providers.lorem.en_US import Provider as Lorem
        from faker.providers.person.en_US import Provider as Person

        self.sentences = sentences
        self.rng = np.random.default_rng(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.words = list(Lorem.word_list)
        self.exclude = [e.lower() for e in exclude]
        self.lead_letter = lead_letter
        names = sorted({*Person.first_names, *Person.last_names})
        self.initial_words = {
            c: [w.capitalize() for w in self.words if w[0].upper() == c]
            + [n for n in names if n[0] == c]
            for c in CAPITALS
        }
        for c in sorted({w[0] for w in self.words if w[0].islower()}):
            self.initial_words[c] = [w for w in self.words if w[0] == c]

    def _word(self) -> str:
        return self.words[int(self.rng.integers(len(self.words)))]

    def _words(self) -> str:
        r, out = self.rng, []
        for _ in range(int(r.integers(1, 5))):
            w = self._word()
            if r.random() < 0.12:
                w = w.capitalize()
            if r.random() < 0.1:
                w = r.choice(["'", '"', "("]) * (r.random() < 0.5) + w  # opening marks
            if r.random() < 0.15:
                w += str(r.choice(_PUNCT_AFTER))
            out.append(w)
        return " ".join(out)

    def _one_of(self, *forms: Callable[[], str]) -> str:
        """One of the forms, each as likely; only the chosen one draws its random values."""
        return forms[int(self.rng.integers(len(forms)))]()

    def _name(self) -> str:
        r, f = self.rng, self.fake
        first, last = f.first_name(), f.last_name()
        return self._one_of(
            lambda: f"{r.choice(_TITLES)} {last}",
            lambda: f"{first[0]}. {last}",
            lambda: f"{last}, {first}",
            lambda: f"{first} {f.first_name()[0]}. {last}",
            lambda: first,
            lambda: f"{first} {last}",
        )

    def _address(self) -> str:
        r, f = self.rng, self.fake
        return self._one_of(
            lambda: f"{int(r.integers(1, 999))} {f.last_name()} {r.choice(_STREETS)}",
            lambda: f"{f.city()}, {f.state_abbr()} {f.zipcode()}",
            lambda: f"{f.last_name()} {r.choice(_STREETS)} {int(r.integers(1, 300))}",
            lambda: f"Apt. {int(r.integers(1, 99))}{r.choice(list('ABCD'))}",
            f.city,
        )

    def _number(self) -> str:
        r = self.rng
        return self._one_of(
            lambda: str(int(r.integers(0, 10 ** int(r.integers(1, 7))))),
            lambda: f"{r.integers(0, 1000)}.{r.integers(0, 100):02d}",  # price
            lambda: f"{r.integers(0, 24)}:{r.integers(0, 60):02d}",  # time
            lambda: f"{r.integers(100, 1000)}-{r.integers(0, 10000):04d}",  # phone
            lambda: f"#{r.integers(1, 100000)}",  # order number
            lambda: f"{r.integers(1, 10)},{r.integers(0, 1000):03d}",
            lambda: f"{r.integers(1, 13)}/{r.integers(1, 32)}/{r.integers(1900, 2040)}",
            lambda: f"({r.integers(1, 100)})",
            lambda: f"{r.integers(1, 100)}%".replace("%", " per cent"),
        )

    def _date(self) -> str:
        r = self.rng
        month = str(r.choice(_MONTHS.split()))
        day, year = int(r.integers(1, 29)), int(r.integers(1800, 2040))
        return self._one_of(
            lambda: f"{month} {day}, {year}",
            lambda: f"{day} {month[:3]} {year}",
            lambda: f"{r.choice(_DAYS.split())[:3]} {day} {month[:3]}.",
            lambda: f"{month} {year}",
            lambda: str(r.choice(_DAYS.split())),
        )

    def _corpus(self) -> str:
        words = self.sentences[int(self.rng.integers(len(self.sentences)))].split()
        start = int(self.rng.integers(len(words)))
        return " ".join(words[start : start + int(self.rng.integers(2, 8))])

    def _initials(self) -> str:
        """Rare capitals and symbols: 'Q.X.', 'K & Z', 'V+J' (every character in many contexts)."""
        r = self.rng
        caps = [str(c) for c in r.choice(list(CAPITALS), int(r.integers(1, 4)))]
        sep = str(r.choice(["", ".", " & ", "+", "-", ". "]))
        return sep.join(caps) + ("." if sep in (".", ". ") else "")

    def _initial(self, letters: str | None = None) -> str:
        """A word or name whose initial is drawn uniformly from `letters` (default: every letter
        that starts a word). English text and names start with A, M, S, J, t or a far more often
        than with G, U, Y, e or k, and a network writes a letter it has rarely begun a line with
        malformed there ("Good" written as "Ceoa", "exam" as "veam")."""
        letters = letters or "".join(self.initial_words)
        pool = self.initial_words[letters[int(self.rng.integers(len(letters)))]]
        return pool[int(self.rng.integers(len(pool)))]

    def _capital(self) -> str:
        return self._initial(CAPITALS)

    def _piece(self) -> str:
        kinds = ["words", "name", "address", "number", "date", "corpus", "initials"]
        p = [0.33, 0.15, 0.1, 0.12, 0.09, 0.16, 0.05]
        if self.lead_letter:
            kinds, p = ["words", "capital", *kinds[1:]], [0.29, 0.04, *p[1:]]
        kind = self.rng.choice(kinds, p=p)
        piece = getattr(self, f"_{kind}")()
        case = self.rng.random()
        if case < 0.06:
            piece = piece.upper()
        elif case < 0.14:
            piece = piece.title()
        elif case < 0.3:
            piece = piece[:1].upper() + piece[1:]
        return piece

    def line(self, max_chars: int, alphabet: str) -> str:
        """One line of 4..max_chars characters, all in `alphabet`."""
        for _ in range(LINE_TRIES):
            target = int(self.rng.integers(max(4, max_chars // 3), max_chars + 1))
            lead = self.lead_letter and self.rng.random() < self.lead_letter
            line = self._initial() if lead else self._piece()
            while len(line) < target:
                line += str(self.rng.choice([" ", " ", " ", ", ", ". ", "; ", " - "]))
                line += self._piece()
            line = " ".join(line.split())
            if len(line) > max_chars:  # cut at a space, else inside a word
                cut = line[: max_chars + 1].rfind(" ")
                line = line[:cut] if cut >= 4 else line[:max_chars]
            line = line.strip()
            low = line.lower()
            if (
                len(line) >= 4
                and not unknown_characters(line, alphabet)
                and not any(e in low for e in self.exclude)
            ):
                return line
        raise DataError(
            f"no text line of {max_chars} characters or fewer in {LINE_TRIES} tries uses only "
            f"the alphabet {alphabet!r}: give --data.alphabet more of the characters that text "
            "uses (space, letters of both cases, digits, punctuation)"
        )

    def lines(self, n: int, max_chars: int, alphabet: str) -> list[str]:
        return [self.line(max_chars, alphabet) for _ in range(n)]


def wrap(text: str, max_chars: int) -> list[str]:
    """Split text into lines of at most `max_chars` characters at spaces (or inside words); a
    line break in the text always starts a new line, blank lines are skipped."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        if paragraph.strip():
            lines += textwrap.wrap(" ".join(paragraph.split()), width=max_chars)
    return lines


# Characters outside the alphabet that have an obvious writable stand-in (pasted text is full of
# them); anything else is refused by name.
SUBSTITUTIONS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\t": " ",
}  # fmt: skip


def substitute(text: str) -> str:
    """Replace typographic characters by the plain ones of the alphabet (SUBSTITUTIONS), and
    drop invisible format characters (soft hyphen, zero-width space and joiner, byte-order and
    direction marks: Unicode's Cf) that pasted text carries: they write nothing, and refused by
    name they could not be seen to be taken out."""
    return "".join(SUBSTITUTIONS.get(c, c) for c in text if unicodedata.category(c) != "Cf")


# Letters that Unicode does not decompose into a base letter and an accent.
LETTERS = {
    "ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ß": "ss", "ẞ": "SS", "ł": "l",
    "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i",
}  # fmt: skip


def plain_letters(text: str, alphabet: str) -> tuple[str, dict[str, str]]:
    """`text` with each letter outside `alphabet` that has a plain stand-in in it replaced by
    that stand-in, the way a name is written without its accents (é -> e, ü -> u, ø -> o,
    æ -> ae, ß -> ss), and {letter: stand-in} of those replaced; other characters are kept.
    An accent typed or pasted as a separate combining mark (e + U+0301, as macOS and some
    keyboards give it) joins its letter first (NFC), so it goes with the letter's own accent."""
    text = unicodedata.normalize("NFC", text)
    done: dict[str, str] = {}
    for c in dict.fromkeys(text):
        if c in alphabet:
            continue
        plain = LETTERS.get(c) or "".join(
            p for p in unicodedata.normalize("NFKD", c) if not unicodedata.combining(p)
        )
        if c.isalpha() and plain and plain != c and all(p in alphabet for p in plain):
            done[c] = plain
    return "".join(done.get(c, c) for c in text), done


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
