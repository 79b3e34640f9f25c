"""`portfolio app`: the four assignments in one local web page (Gradio), for the oral exam.

    portfolio app                      # http://127.0.0.1:7860 on the latest default checkpoints
    portfolio app --port 8080          # another port (bound to 127.0.0.1 unless --host says else)
    portfolio app --train-missing      # train a quick checkpoint first where none exists

Offline: analytics off, fonts and scripts served by the app itself, no share link unless --share.
Where an assignment has no checkpoint yet, its first action trains a quick one (about a minute)
with a progress bar in the page. Every handler below is a plain function that the page calls and
the tests call directly: bad input returns a message shown in the page and the app stays up.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from common.demo import subcommand_main
from common.errors import UserError, command

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from common import registry  # noqa: E402
from common.paths import runs_root  # noqa: E402

MAX_AUDIO_MB = 20  # about ten minutes of 16-bit 16 kHz WAV; far more than a keyword needs
MAX_MIDI_MB = 2
SENTENCE_MARKS = '.,;:!?"()'
MAX_TEXT_CHARS = 120  # six lines of handwriting: a few seconds of sampling
MAX_SPOKEN_WORDS = 6
SPEECH_VOICES = [
    f"{accent}+{variant}"
    for accent in ("en-us", "en", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-rp")
    for variant in ("m3", "f3", "f5", "m7", "klatt", "croak")
]
ENROLL_WORDS = [
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "zero", "one", "two",
    "three", "four", "five", "six", "seven", "eight", "nine",
]  # fmt: skip
Progress = Callable[..., Any] | None


class AppError(UserError, ValueError):
    """Input the page cannot use; the message says what was wrong and what to do."""


@functools.cache
def _temp_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="mal2-app-")  # deleted when the process exits


def _out_dir() -> Path:
    """Where the app writes its figures, sounds, downloads and enrollment takes (a fresh temp
    folder per process, deleted when the app stops: the takes are someone's voice)."""
    return Path(_temp_dir().name)


_COUNTER = iter(range(1, 1 << 62))


def _new_path(stem: str, suffix: str) -> Path:
    return _out_dir() / f"{stem}-{next(_COUNTER):04d}{suffix}"


def _fail(err: Exception) -> str:
    return f"**Problem:** {err}"


def check_upload(path: str | Path | None, what: str, limit_mb: float) -> Path:
    """The uploaded file at `path`, or AppError when there is none, it is empty or too large."""
    if path is None or str(path) == "":
        raise AppError(f"no {what} yet: record or upload one first")
    path = Path(path)
    if not path.is_file():
        raise AppError(f"the {what} {path.name} did not arrive; upload it again")
    size = path.stat().st_size
    if size == 0:
        raise AppError(f"the {what} {path.name} is empty (0 bytes); record or export it again")
    if size > limit_mb * 2**20:
        raise AppError(
            f"the {what} {path.name} is {size / 2**20:.1f} MB; the limit is {limit_mb:g} MB. "
            "Cut it to the part that matters and upload that"
        )
    return path


# --- checkpoints -------------------------------------------------------------------------------
def quick_budget(name: str) -> tuple[int, float]:
    """(max_epochs, max seconds) of an assignment's quick profile, for the progress bar."""
    import yaml
    from lightning.pytorch.callbacks import Timer

    trainer = (yaml.safe_load(registry.get(name).quick_config.read_text()) or {}).get("trainer", {})
    # read as the Trainer reads its max_time (through a Timer): "DD:HH:MM:SS" or timedelta fields
    seconds = Timer(trainer.get("max_time")).time_remaining()
    return int(trainer.get("max_epochs") or 1), float("inf") if seconds is None else seconds


def train_quick(name: str, progress: Progress = None, extra: list[str] | None = None) -> Path:
    """Train the quick profile of `name` in a subprocess; report progress from its metrics.csv."""
    from common.checkpoints import find_checkpoint

    assignment = registry.get(name)
    run = f"quick-app-{datetime.now():%Y%m%d-%H%M%S}"
    cmd = [sys.executable, "-m", f"{name}.train", "--config", str(assignment.quick_config)]
    cmd += ["--run.name", run, "--trainer.enable_progress_bar", "false", *(extra or [])]
    epochs, seconds = quick_budget(name)
    metrics = runs_root() / name / run / "metrics.csv"
    env = {k: v for k, v in os.environ.items() if k != "MAL2_RUN_NAME"}
    log = _new_path(f"train-{name}", ".log")
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        start = time.perf_counter()
        while proc.poll() is None:
            done = 0
            if metrics.is_file():
                done = len({line.split(",")[0] for line in metrics.read_text().splitlines()[1:]})
            fraction = max(done / epochs, (time.perf_counter() - start) / seconds)
            if progress is not None:
                progress(min(fraction, 0.99), desc=f"no {name} checkpoint: training a quick one")
            time.sleep(0.5)
    if proc.returncode != 0:
        tail = log.read_text()[-1500:]
        raise AppError(f"the quick {name} training failed (exit {proc.returncode}): {tail}")
    return find_checkpoint(name, run=run)


class Models:
    """The latest checkpoint of each assignment, loaded once (again when a newer one appears)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[Path, float], Any]] = {}
        self._locks = {name: threading.Lock() for name in registry.NAMES}
        self.extra_train_args: dict[str, list[str]] = {}

    def get(self, name: str, progress: Progress = None) -> tuple[Path, Any]:
        """(checkpoint path, eval-mode module) of `name`; trains a quick one where none exists.

        A checkpoint that cannot be used raises AppError with the loader's message."""
        from common.checkpoints import CheckpointError, find_checkpoint, load_trained

        with self._locks[name]:
            try:
                try:
                    path = find_checkpoint(name)
                except CheckpointError:
                    path = train_quick(name, progress, self.extra_train_args.get(name))
                key = (path, path.stat().st_mtime)
                if name not in self._cache or self._cache[name][0] != key:
                    self._cache[name] = (key, load_trained(name, path).module)
            except CheckpointError as err:
                raise AppError(str(err)) from None
            return path, self._cache[name][1]

    def warm(self, names: tuple[str, ...] = registry.NAMES) -> None:
        """Load the checkpoints that exist (in the background, so that first actions are fast)."""
        from common.checkpoints import find_checkpoint

        for name in names:
            try:
                find_checkpoint(name)
                ckpt, module = self.get(name)
                if name == "blackjack":
                    strategy_chart(ckpt, module)
            except Exception as err:  # a broken checkpoint: the tab says so when it is used
                print(f"app: {name} not preloaded: {err}", file=sys.stderr)


MODELS = Models()


# --- speech ------------------------------------------------------------------------------------
def _classify_wav(wav, module, title: str) -> tuple[str, dict[str, float], str, str]:
    from speech import audio
    from speech.demo import classify, top_words
    from speech.plots import plot_classification

    seconds = len(wav) / audio.SAMPLE_RATE
    if short := audio.too_short(wav):
        return f"**Too short:** {short}", {}, None, ""
    if not audio.has_speech(wav):  # speech.demo's gate: its loudest 20 ms, not its mean level
        status = f"**Silence:** nothing louder stands out in the {seconds:.1f} s recording "
        status += "(silence or steady noise); speak closer to the microphone and record again"
        return status, {}, None, ""
    result = classify(module, wav)
    top5 = dict(top_words(result["probs"], module.class_names, 5))
    figure = str(plot_classification(_new_path("speech", ".png"), wav, module, result, title))
    timeline = ""
    if seconds > 1.0:
        rows = [f"| {w} | {t0:.2f} | {t1:.2f} | {p:.0%} |" for w, t0, t1, p in result["detections"]]
        timeline = "**Keyword timeline** (1 s window every 250 ms)\n\n" + (
            "| word | from (s) | to (s) | probability |\n|---|---|---|---|\n" + "\n".join(rows)
            if rows
            else "no keyword above the threshold"
        )
    best = next(iter(top5))
    status = f"**{best}** ({top5[best]:.0%}) in {seconds:.2f} s of audio"
    return status, top5, figure, timeline


def _recording(upload: str | None, what: str):
    """(path, 16 kHz waveform) of an uploaded recording, or AppError saying why not."""
    from speech import audio

    path = check_upload(upload, what, MAX_AUDIO_MB)
    try:
        return path, audio.load_audio(path)
    except audio.AudioError as err:
        raise AppError(f"{path.name} is not audio the app can read: {err}") from None


def speech_classify(
    audio_path: str | None, models: Models = MODELS, progress: Progress = None
) -> tuple[str, dict[str, float], str | None, str]:
    """A recording (microphone or upload) -> (status, top-5 {word: p}, figure PNG, timeline)."""

    try:
        if audio_path is None:
            raise AppError(
                "no recording yet: press Record (and allow the microphone when the browser "
                "asks; if it was blocked, allow it in the address bar) or upload a WAV/FLAC/OGG"
            )
        path, wav = _recording(audio_path, "recording")
        _, module = models.get("speech", progress)
        return _classify_wav(wav, module, path.name)
    except AppError as err:
        return _fail(err), {}, None, ""


def speech_speak(
    text: str, voice: str, models: Models = MODELS, progress: Progress = None
) -> tuple[str, str | None, dict[str, float], str | None, str]:
    """Words + eSpeak voice -> (status, WAV, top-5, figure, timeline)."""
    from speech import audio
    from speech.demo import speak
    from speech.espeak import ESpeakError

    try:
        # sentence punctuation around a word is what an examiner types ("left, stop."), not
        # something to say: taken off; what is left must be letters
        words = [w for w in (w.strip(SENTENCE_MARKS) for w in (text or "").split()) if w]
        if not words:
            raise AppError("no words to say: type a keyword, e.g. 'yes' or 'left stop'")
        if len(words) > MAX_SPOKEN_WORDS:
            raise AppError(f"{len(words)} words; say at most {MAX_SPOKEN_WORDS} at a time")
        odd = sorted({c for c in "".join(words) if not (c.isalpha() or c in "'-")})
        if odd:
            raise AppError(f"only letters can be spoken here, not {' '.join(map(repr, odd))}")
        voice = (voice or "en-us+f3").strip()
        if not re.fullmatch(r"[A-Za-z0-9_-]+(\+[A-Za-z0-9_-]+)?", voice):
            raise AppError(f"{voice!r} is not an eSpeak voice name like 'en-us+f3'")
        try:
            path = speak(words, voice, _new_path("spoken", ".wav"))
        except (ESpeakError, RuntimeError, ValueError) as err:
            raise AppError(f"eSpeak could not speak with voice {voice!r} ({err})") from None
        _, module = models.get("speech", progress)
        status, top5, figure, timeline = _classify_wav(audio.load_audio(path), module, voice)
        return status, str(path), top5, figure, timeline
    except AppError as err:
        return _fail(err), None, {}, None, ""


def _enroll_dir() -> Path:
    return _out_dir() / "enroll"  # <word>/take-NNNN.wav, this app process's recordings


def _takes() -> dict[str, int]:
    folder = _enroll_dir()
    if not folder.is_dir():
        return {}
    return {d.name: len(list(d.glob("*.wav"))) for d in sorted(folder.iterdir()) if d.is_dir()}


def _takes_text() -> str:
    takes = _takes()
    listed = ", ".join(f"{w} ({n})" for w, n in takes.items()) or "none yet"
    return f"Takes so far: {listed}."


def speech_enroll_add(
    word: str, audio_path: str | None, models: Models = MODELS, progress: Progress = None
) -> str:
    """Keep one recording of `word` for enrollment -> status (the takes so far)."""
    import soundfile as sf

    from speech import audio

    try:
        _, module = models.get("speech", progress)
        words = [w for w in module.class_names if not w.startswith("_")]
        if word not in words:
            raise AppError(f"{word!r} is not a word the model knows; choose one of {words}")
        _, wav = _recording(audio_path, f"recording of {word!r}")
        if not audio.has_speech(wav):  # the gate enrollment itself keeps takes by
            raise AppError(
                "no word in the take (silence or steady noise only); record it again, closer"
            )
        if len(wav) > 3 * audio.SAMPLE_RATE:
            raise AppError(f"the take is {len(wav) / audio.SAMPLE_RATE:.1f} s; say the word alone")
    except AppError as err:
        return _fail(err) + "\n\n" + _takes_text()
    folder = _enroll_dir() / word
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / f"take-{next(_COUNTER):04d}.wav", wav.numpy(), audio.SAMPLE_RATE)
    return f"Kept a take of **{word}**. " + _takes_text() + " Three to five per word is plenty."


def speech_enroll_run(models: Models = MODELS, progress: Progress = None) -> str:
    """Adapt the speech model to the takes (speech.enroll) -> status. The personal checkpoint
    becomes the newest speech run, so that the Speech tab (and `portfolio demo`) use it."""
    from common.checkpoints import CheckpointError
    from speech.enroll import EnrollError, enroll

    if not _takes():
        return _fail(AppError("no takes yet: record a few words above and add them first"))
    try:
        ckpt, _ = models.get("speech", progress)
        if progress is not None:
            progress(0.5, desc="adapting the classifier to your voice")
        report = enroll(ckpt, _enroll_dir(), verbose=False)  # the newest speech run
        models.get("speech")  # load the personal checkpoint now
    except (EnrollError, CheckpointError, AppError) as err:
        return _fail(err)
    words = ", ".join(f"{w} ({n})" for w, n in report["words"].items())
    notes = "".join(f"\n\nNote: {n}" for n in report["notes"])
    return (
        f"**Enrolled** {words} in {report['adaptation_s']:.1f} s. The Speech tab now uses "
        f"`{report['checkpoint']}` (delete it to undo; it holds no audio).{notes}"
    )


# --- handwriting -------------------------------------------------------------------------------
def handwriting_write(
    text: str,
    style: str = "ada",
    bias: float = 1.5,
    seed: int = 0,
    models: Models = MODELS,
    progress: Progress = None,
) -> Iterator[tuple]:
    """Text -> yields (status, drawing PNG, pen animation GIF, [PNG, SVG] downloads, attention).

    Line breaks in the text are kept, as `python -m handwriting.write` keeps them: each starts a
    new line (`writable_text`, `wrap`). The first line is shown as soon as it is written; the
    rest, the animation and the attention plot follow.
    """
    from handwriting.plots import save_animation, save_attention, save_lines
    from handwriting.text import wrap
    from handwriting.write import MAX_LINE_CHARS, check_request, writable_text, write_lines

    empty = (None, None, None)
    try:
        pen = check_request(text, style)
        chars = len(" ".join(text.split()))  # a line break counts as a space
        if chars > MAX_TEXT_CHARS:
            raise AppError(f"{chars} characters; write at most {MAX_TEXT_CHARS} at a time")
        try:
            bias, seed = float(bias), int(seed)
        except (TypeError, ValueError):
            raise AppError("bias and seed must be numbers") from None
        if not 0 <= bias <= 10:
            raise AppError(f"bias {bias} is out of range; use 0 (raw) to 10 (very neat)")
        ckpt, module = models.get("handwriting", progress)
        text, note = writable_text(module, ckpt, text)
        lines = wrap(text, MAX_LINE_CHARS)
    except ValueError as err:  # AppError, and handwriting.write's checks of the request
        yield _fail(err), None, *empty
        return
    png, svg = _new_path("handwriting", ".png"), _new_path("handwriting", ".svg")
    rows, phis, start = [], [], time.perf_counter()
    for offsets, phi, _ in write_lines(module, lines, pen, bias, seed):
        rows.append(offsets)
        phis.append(phi)
        save_lines(rows, png)
        took = time.perf_counter() - start
        yield f"wrote line {len(rows)} of {len(lines)} in {took:.1f} s ...", str(png), *empty
    save_lines(rows, svg)
    gif = save_animation(rows[0], _new_path("pen", ".gif"), frames=30)
    attention = None
    if phis[0] is not None:
        attention = str(save_attention(phis[0], lines[0], _new_path("attention", ".png")))
    points = sum(len(r) for r in rows)
    status = (
        f"**Written:** {len(lines)} line(s), {points} pen points in "
        f"{time.perf_counter() - start:.1f} s; style {style}, bias {bias:g}, seed {seed}"
        + (f" ({note})" if note else "")
    )
    yield status, str(png), str(gif), [str(png), str(svg)], attention


# --- music -------------------------------------------------------------------------------------
def music_compose(
    bars: float = 8,
    temperature: float = 0.9,
    seed: float = 0,
    prime: str | None = None,
    models: Models = MODELS,
    progress: Progress = None,
    melody: str = "",
) -> tuple[str, str | None, str | None, str | None]:
    """Bars, temperature, seed and an optional opening, a prime MIDI or a typed `melody` ('C D E
    C', as music.harmonize reads it) -> (status, piano roll, WAV, MIDI)."""
    from music import midi
    from music.compose import compose_piece, load_prime, melody_prime
    from music.melody import MelodyError

    try:
        try:
            bars, temperature, seed = int(bars), float(temperature), int(seed)
        except (TypeError, ValueError):
            raise AppError("bars, temperature and seed must be numbers") from None
        if not 1 <= bars <= 64:
            raise AppError(f"{bars} bars; compose 1 to 64 bars")
        if not 0 < temperature <= 5:
            raise AppError(f"temperature {temperature}; use a value above 0 (about 0.5 to 1.5)")
        _, module = models.get("music", progress)
        roll_prime, notes = None, []
        melody = (melody or "").strip()
        if prime and melody:
            raise AppError("give one opening: a prime MIDI file or a typed melody, not both")
        if prime:
            path = check_upload(prime, "prime MIDI file", MAX_MIDI_MB)
            try:
                roll_prime = load_prime(path, module.steps_per_quarter)
            except midi.MidiError as err:
                raise AppError(f"{path.name} cannot be used as a prime: {err}") from None
        if melody:
            roll_prime, notes = melody_prime(melody, module.steps_per_quarter)
    except (AppError, MelodyError) as err:
        return _fail(err), None, None, None
    out = _new_path("composition", ".mid")
    written = compose_piece(module, bars, temperature, seed, roll_prime, out)
    how = (
        "FluidSynth with pretty_midi's General MIDI SoundFont"
        if written["synth"] == "fluidsynth"
        else "sine waves (pretty_midi's synthesiser; install `pyfluidsynth` and the FluidSynth "
        "library for a piano sound)"
    )
    status = (
        f"**Composed:** {bars} bars{' after the prime' if prime else ''}"
        f"{' after your melody' if melody else ''}, {written['notes']} "
        f"notes in {written['seconds']:.1f} s. Audio rendered with {how}."
        + "".join(f"\n\nNote: {n}" for n in notes)
    )
    return status, written["png"], written["wav"], written["midi"]


# --- blackjack ---------------------------------------------------------------------------------
def _blackjack_view(state: dict, models: Models) -> tuple:
    from blackjack.play import cards, describe, hand_total, outcome, typed_cards

    agent, advisor, env, obs = state["agent"], state["advisor"], state["env"], state["obs"]
    game = env.unwrapped
    mine, theirs = typed_cards(state["dealt"])  # the examiner's cards as typed (K, not 10)
    image = _new_path("table", ".png")
    from common.plots import plt

    plt.imsave(image, env.render())
    q = agent.net.q_table()[obs]
    if state["done"]:
        reward = state["rewards"][-1]
        status = (
            f"**You {outcome(reward)}** ({reward:+g}). Dealer: {cards(game.dealer, theirs)} = "
            f"{hand_total(game.dealer)}; you: {cards(game.player, mine)} = "
            f"{hand_total(game.player)}. "
            f"Total over {len(state['rewards'])} hand(s): {sum(state['rewards']):+g}"
        )
        advice = "Deal a new hand."
    else:
        situation = describe(obs, theirs)
        status = f"Your cards: {cards(game.player, mine)} ({situation}). Hit or stick?"
        advice = advisor.advice(obs)
    table = (
        "| action | agent's Q | exact Q* |\n|---|---|---|\n"
        f"| stick | {q[0]:+.3f} | {advisor.optimal.q[obs][0]:+.3f} |\n"
        f"| hit | {q[1]:+.3f} | {advisor.optimal.q[obs][1]:+.3f} |"
    )
    return state, status, str(image), f"**Advice:** {advice}\n\n{table}", state["chart"]


@functools.lru_cache(maxsize=4)
def strategy_chart(ckpt: Path, agent) -> str:
    """The learnt strategy beside the optimal one (Sutton & Barto Fig. 5.2), one PNG per ckpt."""
    from blackjack import rules
    from blackjack.plots import plot_strategy

    chart = _new_path("strategy", ".png")
    plot_strategy(agent.greedy_policy(), rules.optimal(agent.rules).policy, chart)
    return str(chart)


def blackjack_new_hand(
    state: dict | None, models: Models = MODELS, progress: Progress = None, hand: str = ""
) -> tuple:
    """Deal a hand, from the examiner's cards `hand` ('10 6 vs 9', as `blackjack.play --hand`
    reads them) where given -> (state, status, table image, advice with Q-values, strategy
    chart)."""
    from blackjack.env import make_env
    from blackjack.play import Advisor, deal, parse_hand

    try:
        dealt = parse_hand(hand, flag="") if (hand or "").strip() else None
        ckpt, agent = models.get("blackjack", progress)
    except UserError as err:  # AppError too
        return state, _fail(err), None, "", None
    if not state or state.get("ckpt") != ckpt:
        advisor = Advisor(agent.net.q_table(), agent.rules)
        env = make_env(agent.rules, render_mode="rgb_array")
        env.reset(seed=random.randrange(2**31))
        state = {
            "ckpt": ckpt,
            "agent": agent,
            "advisor": advisor,
            "env": env,
            "chart": strategy_chart(ckpt, agent),
            "rewards": [],
        }
    state["obs"], _ = state["env"].reset()
    state["dealt"] = dealt
    if dealt is not None:
        state["obs"] = deal(state["env"], dealt)
    state["done"] = False
    return _blackjack_view(state, models)


def blackjack_act(
    action: str, state: dict | None, models: Models = MODELS, progress: Progress = None
) -> tuple:
    """'hit' or 'stick' in the current hand -> the same outputs as blackjack_new_hand."""
    if not state or "obs" not in state:
        return state, _fail(AppError("no hand on the table: press 'New hand'")), None, "", None
    if state["done"]:
        view = _blackjack_view(state, models)
        return view[0], view[1] + "\n\nThis hand is over: press 'New hand'.", *view[2:]
    if action not in ("hit", "stick"):
        return state, _fail(AppError(f"unknown move {action!r}; hit or stick")), None, "", None
    obs, reward, terminated, truncated, _ = state["env"].step(1 if action == "hit" else 0)
    state["obs"] = obs
    if terminated or truncated:
        state["done"] = True
        state["rewards"].append(float(reward))
    return _blackjack_view(state, models)


# --- exam --------------------------------------------------------------------------------------
def exam_draw(seed: float | None = None) -> tuple[str, str, str, str, str, str | None]:
    """Draw an assignment as `portfolio exam --seed` does -> (status, model-card summary,
    latest metrics, code files, model.py source, the tab to open)."""
    from common.exam import draw, model_card_summary, reading_order
    from common.report import latest_summary, metrics_table

    try:
        try:
            seed = None if seed is None or seed == "" else int(seed)
        except (TypeError, ValueError):
            raise AppError(f"seed {seed!r} is not a whole number") from None
        assignment = draw(seed)
    except UserError as err:
        return _fail(err), "", "", "", "", None
    name = assignment.name
    summary = latest_summary(name)
    metrics = f"Not trained yet: the {name} tab trains a quick model on first use."
    metrics = "\n".join(metrics_table(summary)) if summary else metrics
    listing = "\n".join(  # the files `portfolio exam` lists, in the same reading order
        f"- `{name}/{p.name}` ({len(p.read_text().splitlines())} lines)"
        for p in reading_order(assignment)
    )
    model = assignment.package_dir / "model.py"
    code = model.read_text() if model.is_file() else ""
    status = (
        f"## The draw{'' if seed is None else f' (seed {seed})'}: {assignment.title} (`{name}`)"
        f"\n\n{assignment.summary}. Its tab is open now."
    )
    card = model_card_summary(assignment.model_card)
    return status, card, metrics, "**Code files to show**\n\n" + listing, code, name


# --- the page ----------------------------------------------------------------------------------
def build_app(models: Models = MODELS):
    """The Gradio Blocks page: a tab per assignment and an exam tab."""
    import gradio as gr

    from handwriting import hershey

    def image(label: str, elem_id: str | None = None):
        return gr.Image(label=label, type="filepath", elem_id=elem_id)

    def recorder(label: str, elem_id: str):
        sources = ["microphone", "upload"]
        return gr.Audio(sources=sources, type="filepath", label=label, elem_id=elem_id)

    def action(label: str, elem_id: str):  # the tab's main button
        return gr.Button(label, variant="primary", elem_id=elem_id)

    def seed_box(value: int | None = 0, label: str = "Seed"):
        return gr.Number(value, precision=0, label=label)

    def player(label: str, elem_id: str):
        return gr.Audio(label=label, type="filepath", interactive=False, elem_id=elem_id)

    # Gradio's copies of uploads and recordings: deleted after an hour and when the app stops
    with gr.Blocks(
        title="MAL2 portfolio", analytics_enabled=False, delete_cache=(3600, 3600)
    ) as page:
        gr.Markdown(
            "# MAL2 deep-learning portfolio\nFour assignments on their latest checkpoints. "
            "A tab without a checkpoint trains a quick model on first use (about a minute)."
        )
        # the exam draw shows above the tabs, so that it stays in view once its tab is open
        with gr.Column(visible=False, elem_id="exam-panel") as ex_panel:
            ex_status = gr.Markdown(elem_id="exam-status")
            with gr.Row():
                ex_card = gr.Textbox(label="Model card (summary)", lines=12, max_lines=30)
                with gr.Column():
                    ex_metrics = gr.Markdown(elem_id="exam-metrics")
                    ex_files = gr.Markdown(elem_id="exam-files")
            with gr.Accordion("model.py", open=False):
                ex_code = gr.Code(language="python", label="model.py")
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Speech", id="speech", elem_id="tab-speech"):
                gr.Markdown(
                    "Say one of the 35 Speech Commands words (yes, no, up, down, left, right, "
                    "on, off, stop, go, the digits, ...) or upload a recording."
                )
                with gr.Row():
                    with gr.Column():
                        mic = recorder("Recording (microphone or file)", "speech-audio")
                        classify_btn = action("Classify", "speech-classify")
                        with gr.Row():
                            words = gr.Textbox(
                                "yes", label="Words to synthesize", elem_id="speech-words"
                            )
                            voice = gr.Dropdown(
                                SPEECH_VOICES,
                                value="en-us+f3",
                                allow_custom_value=True,
                                label="eSpeak voice",
                            )
                        speak_btn = gr.Button("Synthesize and classify", elem_id="speech-speak")
                        spoken = player("Synthesized", "speech-spoken")
                    with gr.Column():
                        speech_status = gr.Markdown(elem_id="speech-status")
                        top5 = gr.Label(num_top_classes=5, label="Top 5", elem_id="speech-top5")
                        speech_fig = image(
                            "Waveform, log-mel spectrogram, probabilities", "speech-figure"
                        )
                        timeline = gr.Markdown(elem_id="speech-timeline")
                with gr.Accordion("Your own voice (enrollment)", open=False):
                    gr.Markdown(
                        "Record three to five takes of a few words, one word per take, and "
                        "press Enroll: the classifier adapts to your voice in seconds "
                        "(`speech.enroll`); words you did not record keep working."
                    )
                    with gr.Row():
                        en_word = gr.Dropdown(
                            ENROLL_WORDS, value="yes", allow_custom_value=True, label="Word"
                        )
                        en_audio = recorder("Take", "enroll-audio")
                    with gr.Row():
                        en_add = gr.Button("Keep this take", elem_id="enroll-add")
                        en_run = action("Enroll", "enroll-run")
                    en_status = gr.Markdown(elem_id="enroll-status")

                def on_add(word, path, progress=gr.Progress()):
                    return speech_enroll_add(word, path, models, progress)

                def on_enroll(progress=gr.Progress()):
                    return speech_enroll_run(models, progress)

                en_add.click(on_add, [en_word, en_audio], en_status)
                en_run.click(on_enroll, None, en_status)

                def on_classify(path, progress=gr.Progress()):
                    return speech_classify(path, models, progress)

                def on_speak(text, v, progress=gr.Progress()):
                    return speech_speak(text, v, models, progress)

                outs = [speech_status, top5, speech_fig, timeline]
                classify_btn.click(on_classify, mic, outs)
                mic.stop_recording(on_classify, mic, outs)
                mic.upload(on_classify, mic, outs)
                speak_btn.click(on_speak, [words, voice], [speech_status, spoken, *outs[1:]])

            with gr.Tab("Handwriting", id="handwriting", elem_id="tab-handwriting"):
                with gr.Row():
                    with gr.Column(scale=1):
                        hw_text = gr.Textbox(  # rows: Enter starts a line (one row: Enter submits)
                            "hello exam", label="Text", lines=3, elem_id="hw-text"
                        )
                        styles = [*hershey.WRITERS, "none"]
                        hw_style = gr.Dropdown(styles, value="ada", label="Style")
                        hw_bias = gr.Slider(0, 5, value=1.5, step=0.1, label="Bias (neatness)")
                        hw_seed = seed_box()
                        hw_btn = action("Write", "hw-write")
                    with gr.Column(scale=2):
                        hw_status = gr.Markdown(elem_id="hw-status")
                        hw_png = image("Handwriting", "hw-image")
                        hw_gif = image("The pen writing the first line", "hw-animation")
                        hw_files = gr.File(label="Download PNG / SVG", file_count="multiple")
                        hw_attn = image("Attention window")

                def on_write(text, style, bias, seed, progress=gr.Progress()):
                    yield from handwriting_write(text, style, bias, seed, models, progress)

                hw_btn.click(
                    on_write,
                    [hw_text, hw_style, hw_bias, hw_seed],
                    [hw_status, hw_png, hw_gif, hw_files, hw_attn],
                )

            with gr.Tab("Music", id="music", elem_id="tab-music"):
                with gr.Row():
                    with gr.Column(scale=1):
                        m_bars = gr.Slider(1, 32, value=8, step=1, label="Bars")
                        m_temp = gr.Slider(0.1, 2.0, value=0.9, step=0.05, label="Temperature")
                        m_seed = seed_box()
                        m_prime = gr.File(
                            label="Prime MIDI (optional)", type="filepath", elem_id="music-prime"
                        )
                        m_melody = gr.Textbox(
                            label="... or a melody to continue (optional)",
                            placeholder="C D E C E F G:2 (C4 is middle C, :2 two quarters, R rest)",
                            elem_id="music-melody",
                        )
                        m_btn = action("Compose", "music-compose")
                    with gr.Column(scale=2):
                        m_status = gr.Markdown(elem_id="music-status")
                        m_roll = image("Piano roll", "music-roll")
                        m_audio = player("Listen", "music-audio")
                        m_midi = gr.File(label="MIDI download", elem_id="music-midi")

                def on_compose(bars, temp, seed, prime, melody, progress=gr.Progress()):
                    return music_compose(bars, temp, seed, prime, models, progress, melody)

                m_btn.click(
                    on_compose,
                    [m_bars, m_temp, m_seed, m_prime, m_melody],
                    [m_status, m_roll, m_audio, m_midi],
                )

            with gr.Tab("Blackjack", id="blackjack", elem_id="tab-blackjack"):
                bj_state = gr.State(None)
                with gr.Row():
                    with gr.Column():
                        bj_status = gr.Markdown("Press **New hand**.", elem_id="bj-status")
                        bj_table = image("Table", "bj-table")
                        with gr.Row():
                            bj_new = action("New hand", "bj-new")
                            bj_hit = gr.Button("Hit", elem_id="bj-hit")
                            bj_stick = gr.Button("Stick", elem_id="bj-stick")
                        bj_hand = gr.Textbox(
                            label="Deal these cards (optional): yours vs the dealer's",
                            placeholder="10 6 vs 9 (A, 2-10, J, Q, K)",
                            elem_id="bj-hand",
                        )
                        bj_advice = gr.Markdown(elem_id="bj-advice")
                    with gr.Column():
                        bj_chart = image("Learnt strategy (left) and the optimal one", "bj-chart")
                bj_outs = [bj_state, bj_status, bj_table, bj_advice, bj_chart]

                def on_new(state, hand, progress=gr.Progress()):
                    return blackjack_new_hand(state, models, progress, hand)

                bj_new.click(on_new, [bj_state, bj_hand], bj_outs)
                bj_hit.click(lambda s: blackjack_act("hit", s, models), bj_state, bj_outs)
                bj_stick.click(lambda s: blackjack_act("stick", s, models), bj_state, bj_outs)

            with gr.Tab("Exam", id="exam", elem_id="tab-exam"):
                gr.Markdown(
                    "Draw the assignment to present, as `portfolio exam --seed N` does: its "
                    "model-card summary, latest metrics and code files appear above the tabs, "
                    "and its tab opens."
                )
                with gr.Row():
                    ex_seed = seed_box(None, "Seed (empty: random)")
                    ex_btn = action("Draw an assignment", "exam-draw")

                def on_draw(seed):
                    *out, name = exam_draw(seed)  # the draw's panel shows, its tab opens
                    tab = gr.Tabs(selected=name) if name else gr.Tabs()
                    return *out, gr.Column(visible=True), tab

                ex_btn.click(
                    on_draw,
                    ex_seed,
                    [ex_status, ex_card, ex_metrics, ex_files, ex_code, ex_panel, tabs],
                )
    return page


def launch(
    port: int = 7860,
    host: str = "127.0.0.1",
    share: bool = False,
    train_missing: bool = False,
    block: bool = True,
    models: Models = MODELS,
):
    """Serve the page; load the checkpoints in the background. Returns the Blocks object."""
    if train_missing:
        from common.checkpoints import CheckpointError, find_checkpoint

        for name in registry.NAMES:
            try:
                find_checkpoint(name)
            except CheckpointError:
                print(f"no {name} checkpoint: training a quick one ...", flush=True)
                train_quick(name, lambda f, desc="": print(f"  {f:4.0%} {desc}", flush=True))
    page = build_app(models)
    page.queue(default_concurrency_limit=2)
    if block:
        # stopped by `kill` or a closed terminal, close as on Ctrl-C: Gradio then deletes its
        # copies of uploads and recordings, and the exit deletes the app's folder (the takes)
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):  # SIGHUP: not on Windows
                signal.signal(getattr(signal, name), signal.default_int_handler)
    page.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=True,
        max_file_size=f"{4 * MAX_AUDIO_MB}mb",
        allowed_paths=[str(_out_dir())],
        footer_links=[],
        quiet=False,
        ssr_mode=False,
    )
    # the page answers first; torch, Lightning and the checkpoints load behind it
    threading.Thread(target=models.warm, daemon=True).start()
    if block:
        page.block_thread()
    return page


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: local)")
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public link")
    parser.add_argument(
        "--train-missing", action="store_true", help="train quick checkpoints before serving"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port} is not a port number (1-65535)")
    launch(args.port, args.host, args.share, args.train_missing)
    return 0


main = subcommand_main("app", __doc__, add_arguments, run)

if __name__ == "__main__":
    command(main)
