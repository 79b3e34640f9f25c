"""The app's handlers, called directly (as the page calls them) with good and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from common import app
from common.registry import Assignment


@pytest.fixture
def models(tiny_runs):
    return app.Models()


def big_file(path: Path, mb: int = 100) -> Path:
    with path.open("wb") as f:  # sparse: 100 MB on paper, nothing on disk
        f.truncate(mb * 2**20)
    return path


def spoken(tmp_path: Path, words: list[str], name: str = "clip.wav") -> Path:
    from speech.demo import speak

    return speak(words, "en-us+m3", tmp_path / name)


def test_the_quick_budget_reads_max_time_as_the_trainer_does(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from lightning.fabric.utilities.exceptions import MisconfigurationException

    config = tmp_path / "quick.yaml"
    monkeypatch.setattr(app.registry, "get", lambda name: SimpleNamespace(quick_config=config))
    for trainer, expected in (
        ('max_epochs: 3\n  max_time: "01:02:03:04"', (3, 93784.0)),
        ("max_time:\n    minutes: 2\n    seconds: 5", (1, 125.0)),  # timedelta's fields
        ("max_epochs: 2\n  max_time: null", (2, float("inf"))),
        ("max_epochs: 2", (2, float("inf"))),
    ):
        config.write_text(f"trainer:\n  {trainer}\n")
        assert app.quick_budget("any") == expected
    config.write_text('trainer:\n  max_time: "5:00"\n')  # refused by the Trainer too
    with pytest.raises(MisconfigurationException, match="not a valid duration"):
        app.quick_budget("any")


# --- speech ------------------------------------------------------------------------------------
def test_speech_recording_gives_top5_a_figure_and_no_timeline_for_one_second(models, tmp_path):
    status, top5, figure, timeline = app.speech_classify(str(spoken(tmp_path, ["yes"])), models)
    _, module = models.get("speech")
    assert len(module.class_names) == 5 and set(top5) == set(module.class_names)
    assert list(top5.values()) == sorted(top5.values(), reverse=True)
    assert sum(top5.values()) == pytest.approx(1.0, abs=1e-4)  # the top 5 of 5: all of it
    assert next(iter(top5)) in status and Path(figure).stat().st_size > 1000
    assert timeline == ""


def test_speech_long_recording_gets_a_keyword_timeline(models, tmp_path):
    path = spoken(tmp_path, ["left", "stop", "yes"])
    assert sf.info(str(path)).duration > 2
    status, top5, figure, timeline = app.speech_classify(str(path), models)
    assert "Keyword timeline" in timeline and Path(figure).is_file()


def bad_recording(kind: str, folder: Path) -> str | None:
    paths = {k: folder / f"{k}.wav" for k in ("missing", "empty", "not-audio", "100MB")}
    paths["empty"].write_bytes(b"")
    paths["not-audio"].write_text("not audio\n" * 50)
    big_file(paths["100MB"])
    return None if kind == "no-recording" else str(paths[kind])


@pytest.mark.parametrize(
    "kind, words",
    [
        ("no-recording", ["no recording", "allow the microphone"]),  # mic refused / nothing yet
        ("missing", ["did not arrive"]),
        ("empty", ["empty"]),
        ("not-audio", ["not audio"]),
        ("100MB", ["100.0 MB", "limit"]),
    ],
)
def test_speech_bad_recordings_give_a_message(models, tmp_path, kind, words):
    status, top5, figure, timeline = app.speech_classify(bad_recording(kind, tmp_path), models)
    assert status.startswith("**Problem:**") and top5 == {} and figure is None
    for word in words:
        assert word in status


def test_speech_silence_is_reported_not_classified(models, tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros(16000, np.float32), 16000)
    status, top5, *_ = app.speech_classify(str(tmp_path / "quiet.wav"), models)
    assert "Silence" in status and top5 == {}


def test_speech_a_word_in_a_longer_quiet_recording_is_classified(models, tmp_path):
    """A word at -20 dBFS in a 10 s recording: its mean level (-51 dBFS) made it '**Silence:**'
    in the app while speech.demo classified it; both gate on the loudest 20 ms now."""
    word, rate = sf.read(spoken(tmp_path, ["yes"]), dtype="float32")
    wav = np.zeros(10 * rate, np.float32)
    wav[rate // 2 : rate // 2 + len(word)] = 0.1 * word / np.abs(word).max()
    sf.write(tmp_path / "long.wav", wav, rate)
    status, top5, figure, timeline = app.speech_classify(str(tmp_path / "long.wav"), models)
    assert status.endswith("in 10.00 s of audio") and len(top5) == 5 and Path(figure).is_file()
    hum = 0.1 * np.sin(2 * np.pi * 440 * np.arange(10 * rate) / rate).astype(np.float32)
    sf.write(tmp_path / "hum.wav", hum, rate)  # loud, but steady: no word
    status, top5, *_ = app.speech_classify(str(tmp_path / "hum.wav"), models)
    assert status.startswith("**Silence:** nothing louder stands out") and top5 == {}


def test_speech_synthesis_with_a_chosen_voice_is_classified(models):
    status, wav, top5, figure, _ = app.speech_speak("yes", "en-gb-scotland+f5", models)
    assert sf.info(wav).duration == pytest.approx(1.0) and top5 and Path(figure).is_file()


def test_speech_synthesis_takes_the_punctuation_off_typed_words(models, monkeypatch):
    """'Left, stop.' was refused ('only letters can be spoken here, not ',' '.''), and so was
    any text of two words or more (the space between them counted as a character that is not
    a letter, ' '): the marks around words are taken off and the words spoken."""
    import speech.demo

    said = []
    speak = speech.demo.speak
    monkeypatch.setattr(
        speech.demo, "speak", lambda words, *a: said.append(words) or speak(words, *a)
    )
    status, wav, top5, *_ = app.speech_speak('"Left, stop."', "en-us+f3", models)
    assert said == [["Left", "stop"]] and top5 and not status.startswith("**Problem")


@pytest.mark.parametrize(
    "text, voice, word",
    [("", "en-us+f3", "no words"), ("y3s!", "en-us+f3", "only letters"),
     ("?!", "en-us", "no words"), ("yes", "xx-nonexistent+zz", "could not speak"),
     ("yes", "en-us; rm -rf", "not an eSpeak"),
     ("a b c d e f g", "en-us", "at most")],
)  # fmt: skip
def test_speech_synthesis_bad_input_gives_a_message(models, text, voice, word):
    status, wav, top5, figure, _ = app.speech_speak(text, voice, models)
    assert status.startswith("**Problem:**") and word in status and wav is None


# --- handwriting -------------------------------------------------------------------------------
def test_handwriting_shows_the_first_line_before_the_rest(models):
    steps = list(app.handwriting_write("one two three four five six", "ben", 1.0, 3, models))
    first, last = steps[0], steps[-1]
    assert len(steps) >= 3  # two lines at least, then the finished page
    assert first[0].startswith("wrote line 1") and Path(first[1]).is_file() and first[2] is None
    status, png, gif, downloads, attention = last
    assert status.startswith("**Written:**")
    assert [Path(f).suffix for f in downloads] == [".png", ".svg"]
    assert Path(downloads[1]).read_text().lstrip().startswith("<?xml")
    assert Path(gif).read_bytes()[:6] in (b"GIF87a", b"GIF89a") and Path(attention).is_file()


def test_handwriting_keeps_the_line_breaks_of_the_text_as_the_cli_does(models, monkeypatch):
    """The app joined the lines of the text into one ('Dear Ada, see you at nine ...'), while
    `python -m handwriting.write` starts a new line at each line break (its test writes these
    four lines from the same text)."""
    from handwriting.module import HandwritingModule

    written = []
    original = HandwritingModule.write
    monkeypatch.setattr(
        HandwritingModule,
        "write",
        lambda self, line, **kw: written.append(line) or original(self, line, **kw),
    )
    text = "Dear Ada,\n\nsee you at nine tomorrow morning in room 12."
    steps = list(app.handwriting_write(text, "ada", 1.0, 0, models))
    assert written == ["Dear Ada,", "see you at nine", "tomorrow morning in", "room 12."]
    assert steps[-1][0].startswith("**Written:** 4 line(s)")


@pytest.mark.parametrize(
    "text, style, bias, word",
    [("", "ada", 1.5, "no text"), ("   ", "ada", 1.5, "no text"),
     ("naïve ☃ ½", "ada", 1.5, "cannot write"), ("hello", "zorro", 1.5, "unknown style"),
     ("hello", "ada", -1, "out of range"), ("x" * 500, "ada", 1.5, "at most")],
)  # fmt: skip
def test_handwriting_bad_input_gives_a_message(models, text, style, bias, word):
    steps = list(app.handwriting_write(text, style, bias, 0, models))
    assert len(steps) == 1 and steps[0][0].startswith("**Problem:**") and word in steps[0][0]
    if word == "cannot write":  # ï is written as i: only the two without a stand-in named
        assert "characters: '☃' '½';" in steps[0][0]


def test_handwriting_writes_a_name_with_accents_plainly_and_says_so(models):
    status = list(app.handwriting_write("Søren", "ada", 1.0, 0, models))[-1][0]
    assert status.startswith("**Written:**") and "written plainly: ø as o" in status


# --- music -------------------------------------------------------------------------------------
def test_music_composes_a_roll_audio_and_midi_and_says_how_it_was_rendered(models):
    status, png, wav, mid = app.music_compose(2, 0.9, 1, None, models)
    assert re.search(r"Audio rendered with (FluidSynth|sine waves)", status)
    assert Path(png).is_file() and sf.info(wav).duration > 1
    assert pretty_midi.PrettyMIDI(mid).get_end_time() > 0


def test_music_continues_a_prime(models, tmp_path):
    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    piano.notes = [
        pretty_midi.Note(80, p, 0.6 * i, 0.6 * i + 0.6) for i, p in enumerate([60, 64, 67, 72])
    ]
    pm.instruments.append(piano)
    pm.write(str(tmp_path / "prime.mid"))
    status, png, wav, mid = app.music_compose(1, 0.9, 0, str(tmp_path / "prime.mid"), models)
    assert "after the prime" in status
    assert pretty_midi.PrettyMIDI(mid).instruments[0].notes[0].pitch == 60  # the prime comes first


def test_music_continues_a_typed_melody_and_refuses_a_bad_one(models, tmp_path):
    status, png, wav, mid = app.music_compose(1, 0.9, 0, None, models, None, " C E G ")
    assert "after your melody" in status
    notes = sorted(pretty_midi.PrettyMIDI(mid).instruments[0].notes, key=lambda n: n.start)
    assert [n.pitch for n in notes[:3]] == [60, 64, 67]  # the melody comes first
    assert "Note:" not in status
    status, *files = app.music_compose(1, 0.9, 0, None, models, None, "C7 D7 E7")
    assert "Note: the melody spans MIDI 96-100; the chorales' sopranos lie within" in status
    status, *files = app.music_compose(1, 0.9, 0, None, models, None, "C Q")
    assert "'Q', is not a note" in status and files == [None, None, None]
    prime = tmp_path / "p.mid"
    pretty_midi.PrettyMIDI().write(str(prime))
    status, *files = app.music_compose(1, 0.9, 0, str(prime), models, None, "C")
    assert "not both" in status and files == [None, None, None]


@pytest.mark.parametrize(
    "make, args, word",
    [(lambda p: (p / "x.mid").write_text("hello") and str(p / "x.mid"), (4, 0.9), "cannot be used"),
     (lambda p: str(big_file(p / "huge.mid")), (4, 0.9), "limit"),
     (lambda p: None, (0, 0.9), "1 to 64 bars"), (lambda p: None, (4, 0), "above 0"),
     (lambda p: None, ("many", 0.9), "must be numbers")],
    ids=["not-midi", "100MB", "no-bars", "zero-temperature", "not-a-number"],
)  # fmt: skip
def test_music_bad_input_gives_a_message(models, tmp_path, make, args, word):
    status, png, wav, mid = app.music_compose(*args, 0, make(tmp_path), models)
    assert status.startswith("**Problem:**") and word in status and wav is None


# --- blackjack ---------------------------------------------------------------------------------
def test_blackjack_plays_hands_with_advice_q_values_and_the_strategy_chart(models):
    state, status, table, advice, chart = app.blackjack_new_hand(None, models)
    assert status.startswith("Your cards") and Path(table).is_file() and Path(chart).is_file()
    assert "Q(stick)" in advice and "| hit |" in advice
    while not state["done"]:
        state, status, *_ = app.blackjack_act("hit", state, models)
    assert re.search(r"You (win|lose|draw)", status) and len(state["rewards"]) == 1
    state, status, *_ = app.blackjack_act("stick", state, models)
    assert "This hand is over" in status
    state, status, *_ = app.blackjack_new_hand(state, models)
    assert status.startswith("Your cards") and not state["done"]


def test_blackjack_deals_the_examiners_cards_and_refuses_a_bad_hand(models):
    state, status, table, advice, chart = app.blackjack_new_hand(None, models, None, "9 9 vs 6")
    assert status.startswith("Your cards: 9 9 (dealer shows 6, you have hard 18)")
    assert Path(table).is_file() and "| stick |" in advice
    state, status, *_ = app.blackjack_new_hand(state, models, None, "K 6 vs Q")  # as typed
    assert status.startswith("Your cards: K 6 (dealer shows Q, you have hard 16)")
    state, status, *_ = app.blackjack_act("stick", state, models)
    assert "Dealer: Q " in status and "; you: K 6 = 16." in status
    state, status, *_ = app.blackjack_new_hand(state, models)  # the deck's cards: values
    assert re.match(r"Your cards: (A|\d+) (A|\d+) \(dealer shows (A|\d+), ", status)
    state, status, *rest = app.blackjack_new_hand(state, models, None, "9 Z vs 6")
    assert status == "**Problem:** '9 Z vs 6': Z is not a card; cards are A (or 1), 2-10, J, Q, K"
    state, status, *rest = app.blackjack_new_hand(state, models, None, "9 9")  # no flag to name
    assert status == (
        "**Problem:** '9 9': give your cards, 'vs' and the dealer's face-up card, e.g. '10 6 vs 9'"
    )


def test_blackjack_move_without_a_hand_gives_a_message(models):
    assert "New hand" in app.blackjack_act("hit", None, models)[1]


# --- exam and checkpoints ----------------------------------------------------------------------
def test_exam_draw_is_the_draw_of_portfolio_exam(tiny_runs, monkeypatch, capsys):
    from common import portfolio

    monkeypatch.setattr(Assignment, "run_demo", lambda self, argv: None)
    for seed in range(4):
        portfolio.main(["exam", "--seed", str(seed)])
        printed = re.search(r"== The draw: .* \((\w+)\)", capsys.readouterr().out).group(1)
        status, card, metrics, files, code, tab = app.exam_draw(seed)
        assert tab == printed and f"(`{tab}`)" in status
        assert "| metric | value |" in metrics and f"`{tab}/model.py`" in files
        assert "class " in code and card.strip()
    assert "not a whole number" in app.exam_draw("three")[0]


def test_a_missing_checkpoint_is_trained_first_with_progress(runs, monkeypatch):
    from tests.app.conftest import TINY

    models = app.Models()
    models.extra_train_args["blackjack"] = TINY["blackjack"]
    seen = []
    ckpt, agent = models.get("blackjack", lambda f, desc="": seen.append((f, desc)))
    assert ckpt.is_file() and ckpt.parent.parent.name.startswith("quick-app-")
    assert seen and all(0 <= f < 1 for f, _ in seen) and "training a quick one" in seen[0][1]
    assert models.get("blackjack")[1] is agent  # loaded once


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MAL2_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("MAL2_RUN_NAME", raising=False)
    return tmp_path / "runs"


# --- speech enrollment -------------------------------------------------------------------------
def test_enrollment_keeps_takes_and_adapts_the_model(tiny_root, tmp_path, monkeypatch):
    import shutil

    from speech.demo import speak

    root = tmp_path / "runs"
    shutil.copytree(tiny_root / "runs" / "speech" / "tiny", root / "speech" / "tiny")
    monkeypatch.setenv("MAL2_RUNS", str(root))
    monkeypatch.setattr(app, "_out_dir", lambda: tmp_path / "app")
    (tmp_path / "app").mkdir()
    models = app.Models()
    assert "no takes yet" in app.speech_enroll_run(models)
    for word in ("yes", "left"):
        for k, voice in enumerate(("en-us+m7", "en+f5", "en-029+m3")):
            wav = speak([word], voice, tmp_path / f"{word}{k}.wav")
            status = app.speech_enroll_add(word, str(wav), models)
            assert status.startswith("Kept a take")
    assert status == (
        "Kept a take of **left**. Takes so far: left (3), yes (3). "
        "Three to five per word is plenty."
    )
    assert "not a word the model knows" in app.speech_enroll_add("banana", str(wav), models)
    no_word = "no word in the take"
    sf.write(tmp_path / "quiet.wav", np.zeros(16000, np.float32), 16000)
    assert no_word in app.speech_enroll_add("yes", str(tmp_path / "quiet.wav"), models)
    # the take check is the gate enrollment keeps takes by (it was the mean level): a steady hum
    # loud enough to pass the mean was kept, then skipped by the enrollment as no word
    hum = 0.1 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000).astype(np.float32)
    sf.write(tmp_path / "hum.wav", hum, 16000)
    assert no_word in app.speech_enroll_add("yes", str(tmp_path / "hum.wav"), models)
    assert "no recording" in app.speech_enroll_add("yes", None, models)
    status = app.speech_enroll_run(models)
    assert status.startswith("**Enrolled**"), status
    ckpt, module = models.get("speech")
    assert ckpt.parent.parent.name.startswith("enrolled-")  # the Speech tab now uses it
    assert app.speech_classify(str(wav), models)[1]


def test_the_apps_files_and_takes_are_deleted_when_it_stops(tmp_path):
    """The Enroll tab's takes (someone's voice) stayed in /tmp after the app stopped."""
    import subprocess
    import sys

    code = (
        "from common import app; take = app._enroll_dir() / 'yes' / 'take-0001.wav'; "
        "take.parent.mkdir(parents=True); take.write_bytes(b'RIFF'); print(take)"
    )
    env = {**__import__("os").environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    take = Path(done.stdout.strip())
    assert take.is_relative_to(tmp_path) and not take.exists()
    assert list(tmp_path.iterdir()) == []
    # and Gradio's own copies of uploads and recordings: after an hour, and when it stops
    assert app.build_app(app.Models()).delete_cache == (3600, 3600)


def test_a_killed_app_deletes_uploads_and_its_folder(tmp_path):
    """SIGTERM (`kill`, a service stop) ended the app without its clean-up: a recording the
    browser had uploaded and the app's folder stayed behind; now it closes as on Ctrl-C."""
    import json
    import time
    import urllib.request

    from benchmarks.app import served

    env = {"TMPDIR": str(tmp_path), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    env["MAL2_RUNS"] = str(tmp_path / "runs")  # no checkpoints: the page serves without them
    body = (
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="take.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\nRIFF\r\n--b--\r\n"
    )
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    with served(tmp_path / "app.log", env) as (url, _):  # leaving it sends SIGTERM
        request = urllib.request.Request(url + "gradio_api/upload", body, headers)
        with urllib.request.urlopen(request) as answer:
            upload = Path(json.loads(answer.read())[0])
        assert upload.is_file() and list(tmp_path.glob("mal2-app-*"))
        log, start = tmp_path / "app.log", time.monotonic()
        while log.read_text().count("not preloaded") < 4:  # up and serving, as a user finds it
            assert time.monotonic() - start < 60, log.read_text()
            time.sleep(0.1)
    assert not upload.exists() and not list(tmp_path.glob("mal2-app-*"))
    assert "closing server" in (tmp_path / "app.log").read_text()
