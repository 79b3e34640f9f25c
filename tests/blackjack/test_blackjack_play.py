"""The exam demo (`blackjack.play`) driven by scripted stdin, and `blackjack.evaluate`."""

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from blackjack import rules
from blackjack.assignment import ASSIGNMENT
from blackjack.evaluate import main as evaluate_main
from blackjack.play import main as play_main


def test_interactive_play_asks_again_after_invalid_keys(tiny_run):
    _, ckpt = tiny_run
    # hand 1: an invalid key, then stick; Enter; hand 2: two invalid keys, then quit
    script = io.StringIO("x\ns\n\n??\nhit me\nq\n")
    out = io.StringIO()
    rewards = play_main(["--ckpt", str(ckpt), "--seed", "7"], stdin=script, out=out)
    text = out.getvalue()
    assert len(rewards) == 1 and rewards[0] in (-1.0, 0.0, 1.0)
    assert text.count("is not a valid key") == 3
    assert "'x' is not a valid key" in text and "'hit me' is not a valid key" in text
    assert "Q(stick)" in text and "Q(hit)" in text and "exact optimum" in text
    assert "dealer's hand" in text  # the hand was played out after sticking
    assert "1 hands, total reward" in text


def test_play_stops_cleanly_at_end_of_input(tiny_run):
    _, ckpt = tiny_run
    out = io.StringIO()
    rewards = play_main(["--ckpt", str(ckpt), "--seed", "1"], stdin=io.StringIO("h\n"), out=out)
    lines = out.getvalue().splitlines()
    # seed 1 deals 10 4 against a 2, and the hit draws a 10: the hand ends before the input does
    assert "  your cards: 10 4 10 = bust" in lines and "  you lose: reward -1" in lines
    assert rewards == [-1.0] and lines[-1] == "1 hands, total reward -1"


def test_exam_demo_plays_hands_and_saves_frames(tiny_run, tmp_path):
    pytest.importorskip("pygame")
    _, ckpt = tiny_run
    out = io.StringIO()
    argv = ASSIGNMENT.exam_demo_args(ckpt, tmp_path)
    rewards = play_main(argv, stdin=io.StringIO(""), out=out)
    assert len(rewards) == 3
    frames = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(frames) >= 6 and all(f.stat().st_size > 1000 for f in frames)
    assert out.getvalue().count("agent: Q(stick)") >= 3
    assert (tmp_path / "frames" / "strategy.png").stat().st_size > 10_000  # the strategy chart
    assert "strategy chart (agent vs optimal" in out.getvalue()


def test_frames_are_captioned_with_the_move_and_the_outcome(tiny_run, tmp_path, monkeypatch):
    pytest.importorskip("pygame")
    from blackjack import play

    captions = []
    real = play.frame_saver

    def saver(folder, out):
        save = real(folder, out)

        def wrapped(env, caption):
            captions.append(caption)
            save(env, caption)

        wrapped.count = save.count
        return wrapped

    monkeypatch.setattr(play, "frame_saver", saver)
    _, ckpt = tiny_run
    rewards = play_main(
        ["--ckpt", str(ckpt), "--auto", "2", "--seed", "3", "--frames", str(tmp_path)],
        out=io.StringIO(),
    )
    outcomes = [c for c in captions if c.startswith("outcome:")]
    assert len(outcomes) == len(rewards) == 2
    assert all(": HIT" in c or ": STICK" in c for c in captions if c not in outcomes)
    words = {1.0: "WIN", 0.0: "DRAW", -1.0: "LOSE"}
    assert [words[r] in c for r, c in zip(rewards, outcomes)] == [True, True]


def test_ctrl_c_ends_the_game_with_its_summary_and_no_traceback(tiny_run):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    _, ckpt = tiny_run
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "blackjack.play", "--ckpt", str(ckpt), "--seed", "0"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line, deadline = "", time.monotonic() + 120
        while "hand 1" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()  # the game waits for a key after this hand's header
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted" in out and "0 hands, total reward" in out


def test_the_agent_plays_the_examiners_hand_every_time(tiny_run, tmp_path):
    """--hand '...' deals each hand from the examiner's cards (the exam's --hand): the first
    situation of every hand is theirs; the dealer's hidden card and the draws vary."""
    _, ckpt = tiny_run
    out = io.StringIO()
    argv = ["--ckpt", str(ckpt), "--auto", "4", "--seed", "3", "--hand", "a, 7 vs K"]
    rewards = play_main(argv, stdin=io.StringIO(""), out=out)
    firsts = [t.split("\n")[1] for t in out.getvalue().split("\nhand ")[1:]]
    first = "  your cards: A 7  (dealer shows K, you have soft 18)"  # the K as typed
    assert len(rewards) == 4 and firsts == [first] * 4
    dealers = {line for line in out.getvalue().splitlines() if "dealer's hand" in line}
    assert all(line.startswith("  dealer's hand: K ") for line in dealers) and len(dealers) > 1
    args = ASSIGNMENT.exam_demo_args(ckpt, tmp_path, hand="10 6 vs 9")
    assert args[-1] == "--hand=10 6 vs 9"
    with pytest.raises(SystemExit) as stop:  # '--hand', '-h': 'argument --hand: expected one'
        play_main(ASSIGNMENT.exam_demo_args(ckpt, tmp_path, hand="-h"), out=io.StringIO())
    assert stop.value.code == 2 and "--hand '-h': give your cards, 'vs'" in str(stop.value)


def test_the_examiners_face_cards_are_shown_as_typed_and_count_ten(tiny_run):
    """--hand 'K 6 vs Q' was shown as 'your cards: 10 6  (dealer shows 10, ...)': the examiner's
    J, Q and K are named as typed now, and still count 10 (hard 16; the dealer's Q)."""
    from blackjack.play import hand_total

    _, ckpt = tiny_run
    out = io.StringIO()
    argv = ["--ckpt", str(ckpt), "--auto", "1", "--seed", "0", "--hand", "k 6 vs Q"]
    play_main(argv, stdin=io.StringIO(""), out=out)
    assert "\n  your cards: K 6  (dealer shows Q, you have hard 16)\n" in out.getvalue()
    dealer = next(line for line in out.getvalue().splitlines() if "dealer's hand" in line)
    shown = re.fullmatch(r"  dealer's hand: Q ((?:A|\d+)(?: (?:A|\d+))*) = (\d+|bust)", dealer)
    drawn = [1 if c == "A" else int(c) for c in shown[1].split()]
    assert shown[2] == hand_total([10, *drawn])  # the Q counted 10


@pytest.mark.parametrize(
    "hand, message",
    [("10 6", "give your cards, 'vs' and the dealer's face-up card"),
     ("10 6 vs 9 8", "give your cards, 'vs'"), ("10 X vs 9", "X is not a card"),
     ("10 vs 9", "a hand starts with two cards"), ("K Q 5 vs 2", "bust, over 21"),
     ("ten six vs nine", "TEN, SIX, NINE are not cards; cards are A (or 1), 2-10, J, Q, K"),
     ("11 6 vs 9", "11 is not a card")],
)  # fmt: skip
def test_a_hand_that_cannot_be_dealt_is_refused_by_name(tiny_run, hand, message, capsys):
    _, ckpt = tiny_run
    with pytest.raises(SystemExit) as stop:
        play_main(["--ckpt", str(ckpt), "--auto", "1", "--hand", hand], out=io.StringIO())
    assert stop.value.code == 2 and f"--hand {hand!r}: " in str(stop.value)
    assert message in str(stop.value)


def test_a_dealt_hand_is_the_observation_the_agent_sees():
    from blackjack.env import make_env
    from blackjack.play import deal, parse_hand

    env = make_env()
    env.reset(seed=0)
    assert parse_hand("A 7 vs 10") == (["A", "7"], "10")
    assert deal(env, parse_hand("A 7 vs 10")) == (18, 10, 1)
    assert deal(env, parse_hand("J 2 3 vs a")) == (15, 1, 0)
    assert env.unwrapped._get_obs() == (15, 1, 0)  # Gymnasium's own view agrees
    assert env.unwrapped.dealer_top_card_value_str == "A"


def test_one_is_read_as_an_ace_as_blackjack_v1_writes_it(tiny_run):
    """--hand '1 6 vs 9' was refused ('1 is not a card'), though Gymnasium's Blackjack-v1 writes
    an ace as 1 (its observation): 1 is an ace now, shown as A; 10 stays a ten."""
    from blackjack.play import parse_hand

    assert parse_hand("1 6 vs 1") == (["A", "6"], "A")
    assert parse_hand("10 1 vs 10") == (["10", "A"], "10")
    _, ckpt = tiny_run
    out = io.StringIO()
    argv = ["--ckpt", str(ckpt), "--auto", "1", "--seed", "0", "--hand", "1 6 vs 9"]
    play_main(argv, stdin=io.StringIO(""), out=out)
    assert "\n  your cards: A 6  (dealer shows 9, you have soft 17)\n" in out.getvalue()


@pytest.mark.parametrize("auto", ["0", "10001"])
def test_auto_hands_are_bounded(tiny_run, auto, capsys):
    _, ckpt = tiny_run
    with pytest.raises(SystemExit):
        play_main(["--ckpt", str(ckpt), "--auto", auto], out=io.StringIO())
    assert "--auto needs 1 to 10000 hands" in capsys.readouterr().err


def test_play_refuses_a_negative_seed_and_a_file_as_frames_folder(tiny_run, tmp_path, capsys):
    """--seed -1 ended in Gymnasium's "Seed must be greater or equal to zero" and --frames
    notes.txt (an existing file) in FileExistsError, both with a traceback."""
    _, ckpt = tiny_run
    argv = ["--ckpt", str(ckpt), "--auto", "1"]
    with pytest.raises(SystemExit) as stop:
        play_main([*argv, "--seed", "-1"], out=io.StringIO())
    assert stop.value.code == 2 and "argument --seed" in capsys.readouterr().err
    pytest.importorskip("pygame")
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(SystemExit) as stop:
        play_main([*argv, "--frames", str(notes)], out=io.StringIO())
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "cannot create the frames folder" in err
    assert err.rstrip().endswith("choose another place with --frames")  # not -o/--out


def test_demo_without_a_checkpoint_explains_what_to_do(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        play_main(["--ckpt", str(tmp_path / "missing.ckpt")], stdin=io.StringIO(""))


def test_evaluate_prints_exact_and_monte_carlo_figures_and_exports_every_observation(
    tiny_run, tmp_path, capsys
):
    _, ckpt = tiny_run
    csv_path = tmp_path / "policy.csv"
    out = tmp_path / "eval"
    argv = ["--ckpt", str(ckpt), "--hands", "2000", "--export-policy", str(csv_path)]
    report = evaluate_main([*argv, "--out", str(out)])
    assert json.loads(capsys.readouterr().out) == report
    assert list(report) == ["assignment", "checkpoint", "data", "metrics", "files"]
    assert report["checkpoint"] == str(ckpt) and report["data"]["env"] == "Blackjack-v1"
    assert report["files"] == {
        "policy_csv": str(csv_path),
        "strategy_chart": str(out / "strategy.png"),
        "report": str(out / "evaluation.json"),
    }
    assert json.loads((out / "evaluation.json").read_text()) == report
    assert (out / "strategy.png").is_file()
    result = report["metrics"]
    assert result["optimal_return"] == pytest.approx(rules.optimal().expected_return)
    assert result["gap"] == pytest.approx(result["optimal_return"] - result["exact_return"])
    mc = result["monte_carlo"]
    assert mc["ci95_low"] < mc["mean_return"] < mc["ci95_high"] and mc["hands"] == 2000
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["player_sum", "dealer_card", "usable_ace", "action"]
    keys = {(int(r["player_sum"]), int(r["dealer_card"]), int(r["usable_ace"])) for r in rows}
    assert keys == set(rules.observations()) and len(rows) == 280
    assert {r["action"] for r in rows} <= {"0", "1"}


def test_evaluate_reference_policy_and_bad_input(capsys):
    evaluate_main(["--policy", "optimal", "--hands", "1000"])
    assert json.loads(capsys.readouterr().out)["metrics"]["gap"] == 0
    with pytest.raises(SystemExit):
        evaluate_main(["--hands", "1"])
    with pytest.raises(SystemExit):  # would need terabytes: refused with the reason
        evaluate_main(["--policy", "basic", "--hands", "1000000000000"])
    assert "--hands must be 2 to 2,000,000" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate_main(["--policy", "basic", "--ckpt", "x.ckpt"])


def test_evaluate_refuses_a_negative_seed_and_files_where_folders_go(tmp_path, capsys):
    """--seed -1 ended in numpy's "expected non-negative integer", and --out notes.txt or
    --export-policy notes.txt/p.csv (a file where a folder goes) in FileExistsError."""
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    argv = ["--policy", "basic", "--hands", "100"]
    for extra, message in [
        (["--seed", "-1"], "argument --seed"),
        (["--out", str(notes)], "cannot create the report folder"),
        (["--export-policy", str(notes / "p.csv")], "another place with --export-policy"),
    ]:
        with pytest.raises(SystemExit) as stop:
            evaluate_main([*argv, *extra])
        assert stop.value.code == 2 and message in capsys.readouterr().err


def test_evaluate_shows_progress_on_long_runs_only(capsys, monkeypatch):
    """Issue 17: --hands 1e6 took minutes in silence. From PROGRESS_FROM hands on, every tenth
    of the hands is reported on stderr (lowered here so that the test takes a second)."""
    from blackjack import evaluate

    monkeypatch.setattr(evaluate, "PROGRESS_FROM", 5000)
    evaluate_main(["--policy", "basic", "--hands", "5000"])
    lines = [line for line in capsys.readouterr().err.splitlines() if "of 5,000 hands" in line]
    assert len(lines) == 9 and "s left)" in lines[0]  # 10 %, ..., 90 %
    evaluate_main(["--policy", "basic", "--hands", "4999"])
    assert "hands (" not in capsys.readouterr().err


# a process that has drawn the card table (pygame, SDL) still stops on SIGTERM (kill, a container's
# stop, the browser test's end): SDL would otherwise take the signal and ignore it
DRAW_THEN_WAIT = {
    "blackjack.play": "import blackjack.play as p; p.frame_saver(Path(sys.argv[1]), sys.stdout)",
    "common.app": "import common.app",
}


@pytest.mark.parametrize("module", sorted(DRAW_THEN_WAIT))
def test_a_process_that_drew_the_table_stops_on_sigterm(module, tmp_path):
    code = (
        "import sys, time\nfrom pathlib import Path\n"
        f"{DRAW_THEN_WAIT[module]}\n"
        "from blackjack.env import make_env\n"
        "env = make_env(render_mode='rgb_array'); env.reset(seed=0); env.render()\n"
        "print('drawn', flush=True); time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("SDL_NO_SIGNAL_HANDLERS", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == "drawn\n"
        proc.terminate()
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
