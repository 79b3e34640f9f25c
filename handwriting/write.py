"""The exam demo: handwrite any text with a trained synthesis network.

    python -m handwriting.write "Hello exam board" --bias 1.5 --style ada -o hello.png
    python -m handwriting.write "Hi" --style cleo -o hi.svg --attention attn.png --animate pen.gif
    python -m handwriting.write --list-styles
    python -m handwriting.write "Søren's café, 5 €" --drop-unknown -o out.png
    python -m handwriting.write "$(cat note.txt)" --seed 7 -o note.svg

Long text is wrapped at --line-chars (default 20) and line breaks in the text are kept; every
line is written on its own, from the style's learned writer embedding (--prime: primed with the
style's priming line as well, Graves 5.5). Typographic characters are substituted (curly
quotes -> ' and ", en and em dashes -> -, ellipsis -> ...), and letters the model does not know
are written as their plain letters, the way a name is written without its accents (José ->
Jose, Søren -> Soren, Straße -> Strasse; a note names them); any other character the model does
not know is named in an error (or left out with --drop-unknown). Each line is drawn
--candidates times (default 4) in one batch and the draw the network itself finds likeliest
(lowest NLL per point) is kept: a slipped or malformed letter is an unlikely line to it.
The same --seed writes the same lines again. Output: .png or .svg (-o), a GIF (--animate).

Without --ckpt it uses the best checkpoint of the latest handwriting run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common.demo import command_parser, demo_dir, number, writable
from common.errors import command, entry_point
from handwriting import hershey
from handwriting.config import CANDIDATES
from handwriting.text import plain_letters, substitute, unknown_characters, wrap

MAX_LINE_CHARS = 20  # with a priming line (--prime), about the longest line seen in training


def list_styles() -> str:
    rows = [f"{'style':<6} {'font':<8} kind    slant  width"]
    for w in hershey.WRITERS.values():
        rows.append(f"{w.name:<6} {w.font:<8} {w.kind:<7} {w.slant:+.2f}  {w.width:.2f}")
    rows.append("none   -        -       the model picks a hand itself (no priming)")
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("handwriting.write", __doc__)
    p.add_argument(
        "text", nargs="?", help="what to write (long text is wrapped over several lines)"
    )
    p.add_argument("--ckpt", help="checkpoint (default: latest handwriting run's best)")
    p.add_argument(
        "--bias", type=number(0, 10), default=1.5, help="0: raw, higher: neater (Graves 5.4)"
    )
    p.add_argument(
        "--style", default="ada", help="writer to imitate (see --list-styles), or 'none'"
    )
    p.add_argument(
        "--prime",
        action="store_true",
        help="also prime with the style's line (Graves 5.5); without it a network that knows the "
        "writer writes from its writer embedding alone, which OCR reads better",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the pen")
    p.add_argument(
        "--candidates",
        type=number(1, 64, integer=True),
        default=CANDIDATES,
        help="draws of each line; the one the network finds likeliest (lowest NLL) is kept",
    )
    p.add_argument(
        "-o", "--output", help="output .png or .svg (default: runs/demo/handwriting/<time>/)"
    )
    p.add_argument(
        "--attention", help="also save the alignment plot (window weight per character) here"
    )
    p.add_argument("--animate", help="also save a GIF of the pen writing the first line here")
    p.add_argument(
        "--drop-unknown", action="store_true", help="leave out characters the model cannot write"
    )
    p.add_argument(
        "--line-chars", type=int, default=MAX_LINE_CHARS, help="wrap lines at this many characters"
    )
    p.add_argument("--list-styles", action="store_true", help="list the styles and exit")
    return p


def check_request(text: str | None, style: str) -> str | None:
    """The style to pass to `module.write` (None for 'none'); ValueError for empty text or an
    unknown style, before a checkpoint is loaded."""
    if text is None or not text.strip():
        raise ValueError("no text to write: give some words, e.g. 'Hello exam'")
    if style != "none" and style not in hershey.WRITERS:
        raise ValueError(f"unknown style {style!r}; available: {', '.join(hershey.WRITERS)}, none")
    return None if style == "none" else style


def check_extras(attention: str | None, animate: str | None) -> None:
    """--attention in a format matplotlib saves, --animate in one Pillow writes as an animation
    (.gif, ...): checked before writing, not after the main output is written (a .txt or .mp4
    failed there with matplotlib's or Pillow's message)."""
    from handwriting.plots import savable_formats

    figures, animations = savable_formats()
    for path, formats, flag, example in (
        (attention, figures, "--attention", ".png or .svg"),
        (animate, animations, "--animate", ".gif"),
    ):
        if path and Path(path).suffix.lower() not in formats:
            kind = Path(path).suffix or "a file without a suffix"
            raise ValueError(f"{flag} {path}: cannot write {kind}; end it in {example}")


def writable_text(
    module, ckpt, text: str, drop_unknown: bool = False, hint: str = ""
) -> tuple[str, str]:
    """`text` as the synthesis network `module` can write it, and a note of the letters it
    replaced ('' if none): typographic quotes, dashes, ellipsis and non-breaking spaces become
    the alphabet's own, accented and other letters the alphabet lacks their plain stand-ins
    (José -> Jose, Søren -> Soren, Straße -> Strasse: `plain_letters`); line breaks are kept (a
    paragraph writes as several lines). ValueError for a prediction network or characters the
    model does not know (left out with `drop_unknown`); `hint` ends that message."""
    if not module.hparams.synthesis:
        raise ValueError(
            f"{ckpt} is a prediction network (no text input); pass a synthesis checkpoint"
        )
    alphabet = module.hparams.alphabet
    text, replaced = plain_letters(substitute(text), alphabet)
    text = "\n".join(" ".join(line.split()) for line in text.splitlines())
    missing = unknown_characters(text.replace("\n", ""), alphabet)
    if missing and not drop_unknown:
        raise ValueError(
            f"the model cannot write these characters: {' '.join(repr(c) for c in missing)}; "
            f"it knows {alphabet.strip()!r}. Rephrase without them{hint}"
        )
    text = "".join(c for c in text if c in alphabet or c == "\n")
    if not text.strip():
        raise ValueError("nothing left to write after dropping unknown characters")
    pairs = ", ".join(f"{c} as {p}" for c, p in replaced.items())
    return text, f"letters the model does not know written plainly: {pairs}" if pairs else ""


def write_lines(
    module, lines: list[str], style: str | None, bias: float, seed: int, prime=None,
    candidates: int = CANDIDATES,
):  # fmt: skip
    """Yields (offsets, phi, finished) of each line as it is written: line i with seed + i,
    on one torch thread (sampling is a chain of small steps that more threads only slow)."""
    from common.threads import one_thread

    for i, line in enumerate(lines):
        with one_thread():
            written = module.write(
                line, style=style, bias=bias, seed=seed + i, prime=prime, candidates=candidates
            )
        yield written


@entry_point(also=(ValueError,))  # the text and style checks of module.write raise ValueError
def main(argv: list[str] | None = None) -> int:
    from common.checkpoints import load_trained
    from handwriting.plots import save_animation, save_attention, save_lines

    args = build_parser().parse_args(argv)
    if args.list_styles:
        print(list_styles())
        return 0
    style = check_request(args.text, args.style)
    out = Path(args.output) if args.output else demo_dir("handwriting") / "handwriting.png"
    for path in (out, args.attention, args.animate):
        if path:
            writable(path)
    if out.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"output {out} must end in .png or .svg")
    check_extras(args.attention, args.animate)
    trained = load_trained("handwriting", args.ckpt)
    hint = ", or pass --drop-unknown to leave them out"
    text, note = writable_text(trained.module, trained.path, args.text, args.drop_unknown, hint)
    if note:
        print(f"note: {note}", file=sys.stderr)
    lines = wrap(text, args.line_chars)
    start = time.perf_counter()
    rows, phis, finished = zip(
        *write_lines(
            trained.module, lines, style, args.bias, args.seed, args.prime or None, args.candidates
        )
    )
    took, points = time.perf_counter() - start, sum(map(len, rows))
    save_lines(list(rows), out)
    print(
        f"wrote {len(lines)} line(s), {points} points in {took:.1f} s "
        f"({points / max(took, 1e-9):.0f} points/s), style {args.style}, bias {args.bias}: {out}"
    )
    if unfinished := finished.count(False):
        print(
            f"warning: {unfinished} line(s) hit the step limit before the window passed the "
            "last character (an undertrained model?)",
            file=sys.stderr,
        )
    if args.attention and phis[0] is not None:
        print(f"attention plot: {save_attention(phis[0], lines[0], Path(args.attention))}")
    if args.animate:
        print(f"animation: {save_animation(rows[0], Path(args.animate))}")
    return 0


if __name__ == "__main__":
    command(main)
