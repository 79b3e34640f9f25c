"""Play blackjack against Gymnasium's dealer while the trained agent advises you, or watch it play.

    python -m blackjack.play                           # you play; latest run's best checkpoint
    python -m blackjack.play --ckpt runs/blackjack/<run>/checkpoints/best.ckpt
    python -m blackjack.play --auto 5 --frames out/    # the agent plays 5 hands, saves frames
    python -m blackjack.play --hand "10 6 vs 9" --auto 3   # the agent plays the examiner's hand

Keys: h = hit, s = stick, q = quit (Enter between hands). Input is read from stdin, so a
script can drive it: `printf 'h\\ns\\n\\nq\\n' | python -m blackjack.play`.

--hand deals every hand from the given cards: yours, then 'vs' and the dealer's face-up card
(A, 2-10, J, Q, K; e.g. 'A 7 vs 10'), shown as typed (J, Q and K count 10); 1 is an ace too,
as Blackjack-v1 writes one, and is shown as A. The dealer's hidden card and every card drawn
after come from the deck (infinite, as in Blackjack-v1, which deals values: its ten-cards show
as 10), so each hand plays the situation out anew.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np
from gymnasium.envs.toy_text.blackjack import is_bust, sum_hand, usable_ace

from blackjack import rules
from blackjack.env import make_env
from common.demo import command_parser, number, writable
from common.errors import UserError, command, entry_point

CARD_NAMES = {1: "A", 10: "10"}
CARD_VALUES = {"A": 1, **{str(v): v for v in range(2, 11)}, "J": 10, "Q": 10, "K": 10}
CARD_ALIASES = {"1": "A"}  # Blackjack-v1 writes an ace as 1 (its observation), so users type it
CARD_LIST = "A (or 1), 2-10, J, Q, K"  # the cards --hand reads
MAX_AUTO = 10_000  # hands the agent plays with commentary; evaluate scores millions


def cards(hand: list[int], typed: Sequence[str] = ()) -> str:
    """Names of the cards in `hand` (their values): the first ones as the examiner typed them
    (`typed`, from `typed_cards`: K stays K, though it counts 10), the deck's draws by value
    (the deck deals values, Blackjack-v1's: a ten-card is 10)."""
    drawn = [CARD_NAMES.get(c, str(c)) for c in hand[len(typed) :]]
    return " ".join([*typed, *drawn])


def typed_cards(hand: tuple[list[str], str] | None) -> tuple[list[str], list[str]]:
    """The names of the cards `hand` (parse_hand's, or None) deals: the player's, and the
    dealer's face-up one (as a list, for `cards`)."""
    return (hand[0], [hand[1]]) if hand is not None else ([], [])


def parse_hand(text: str, flag: str = "--hand ") -> tuple[list[str], str]:
    """'10 6 vs 9' -> (['10', '6'], '9'): the player's cards and the dealer's face-up card;
    UserError naming what is wrong (an unknown card, fewer than two cards, a bust hand), its
    message beginning with `flag` and the text (the app, where no flag is typed, gives '')."""
    given = f"{flag}{text!r}"
    example = f"give your cards, 'vs' and the dealer's face-up card, e.g. {flag}'10 6 vs 9'"
    mine, sep, theirs = text.upper().replace(",", " ").partition("VS")
    player = [CARD_ALIASES.get(c, c) for c in mine.split()]  # '1' -> 'A'
    dealer = [CARD_ALIASES.get(c, c) for c in theirs.split()]
    if not sep or len(dealer) != 1:
        raise UserError(f"{given}: {example}")
    unknown = [c for c in player + dealer if c not in CARD_VALUES]
    if unknown:  # 'ten six vs nine' read "TEN SIX NINE is not a card"
        what = "is not a card" if len(unknown) == 1 else "are not cards"
        raise UserError(f"{given}: {', '.join(unknown)} {what}; cards are {CARD_LIST}")
    if len(player) < 2:
        raise UserError(f"{given}: a hand starts with two cards; {example}")
    if is_bust([CARD_VALUES[c] for c in player]):
        raise UserError(f"{given}: those cards are bust, over 21; give a hand to play")
    return player, dealer[0]


def deal(env, hand: tuple[list[str], str]) -> tuple[int, int, int]:
    """Put `hand` (parse_hand's) on the table of a freshly reset `env`: the player's cards and
    the dealer's face-up card; the dealer's hidden card stays the one the deck gave. Returns
    the observation."""
    game, (player, up) = env.unwrapped, hand
    game.player = [CARD_VALUES[c] for c in player]
    game.dealer[0] = CARD_VALUES[up]
    if up == "10":  # the table shows a ten as a face card, as Blackjack-v1 does
        up = str(game.np_random.choice(["J", "Q", "K"]))
    game.dealer_top_card_value_str = up
    return sum_hand(game.player), game.dealer[0], int(usable_ace(game.player))


def describe(obs: tuple[int, int, int], dealer_typed: Sequence[str] = ()) -> str:
    player_sum, dealer_card, usable_ace = obs
    kind = "soft" if usable_ace else "hard"
    return f"dealer shows {cards([dealer_card], dealer_typed)}, you have {kind} {player_sum}"


class Advisor:
    """The agent's Q-values for an observation, its move, and the exact optimal move."""

    def __init__(self, q_table: np.ndarray, r: rules.Rules) -> None:
        self.q = q_table  # (32, 11, 2, 2)
        self.optimal = rules.optimal(r)

    def action(self, obs: tuple[int, int, int]) -> int:
        q = self.q[obs]
        return int(q[rules.HIT] > q[rules.STICK])

    def advice(self, obs: tuple[int, int, int]) -> str:
        q, best = self.q[obs], int(self.optimal.policy[obs])
        move = ("STICK", "HIT")[self.action(obs)]
        exact = self.optimal.q[obs]
        return (
            f"agent: Q(stick) {q[0]:+.3f}  Q(hit) {q[1]:+.3f}  -> {move}"
            f"   (exact optimum: {('STICK', 'HIT')[best]}, Q* {exact[0]:+.3f} / {exact[1]:+.3f})"
        )


def ask(prompt: str, choices: set[str], stdin: TextIO, out: TextIO) -> str | None:
    """Ask until the answer is one of `choices`; None at end of input."""
    while True:
        out.write(prompt)
        out.flush()
        line = stdin.readline()
        if not line:
            out.write("\n")
            return None
        key = line.strip().lower()
        if key in choices:
            return key
        shown = ", ".join(sorted(c or "Enter" for c in choices))
        out.write(f"  '{line.strip()}' is not a valid key; type one of: {shown}\n")


def outcome(reward: float) -> str:
    return "win" if reward > 0 else "lose" if reward < 0 else "draw"


def finish(env, reward: float, out: TextIO, dealer_typed: Sequence[str] = ()) -> None:
    dealer = env.unwrapped.dealer
    out.write(f"  dealer's hand: {cards(dealer, dealer_typed)} = {hand_total(dealer)}\n")
    out.write(f"  you {outcome(reward)}: reward {reward:+g}\n")


def hand_total(hand: list[int]) -> str:
    return "bust" if is_bust(hand) else str(sum_hand(hand))


def play_hand(
    env, advisor: Advisor, choose: Callable[[tuple], str | None], out: TextIO, frames=None,
    hand: tuple[list[str], str] | None = None,
) -> float | None:  # fmt: skip
    """One hand, dealt from `hand` (parse_hand's) if given; `choose(obs)` returns 'h', 's' or
    None (quit). Returns the reward or None."""
    obs, _ = env.reset()
    if hand is not None:
        obs = deal(env, hand)
    mine, theirs = typed_cards(hand)  # shown as typed (K, not 10)
    while True:
        game = env.unwrapped
        out.write(f"  your cards: {cards(game.player, mine)}  ({describe(obs, theirs)})\n")
        out.write(f"  {advisor.advice(obs)}\n")
        key = choose(obs)
        if key is None or key == "q":
            return None
        move = "HIT" if key == "h" else "STICK"
        if frames is not None:  # the table, the situation and the move taken
            frames(env, f"{describe(obs, theirs)}: {move}\n{advisor.advice(obs).split('   ')[0]}")
        obs, reward, terminated, truncated, _ = env.step(1 if key == "h" else 0)
        out.write(f"  -> {move.lower()}\n")
        if terminated or truncated:
            if key == "h":
                out.write(f"  your cards: {cards(env.unwrapped.player, mine)} = bust\n")
            if frames is not None:  # the final table and the outcome
                dealer = hand_total(env.unwrapped.dealer)
                frames(env, f"outcome: {outcome(reward).upper()} ({reward:+g}); dealer {dealer}")
            finish(env, reward, out, theirs)
            return float(reward)


def frame_saver(folder: Path, out: TextIO):
    """A callback that saves env.render() as PNG files, or None (with a message) without pygame."""
    try:
        import pygame  # noqa: F401
    except ImportError:
        out.write("note: saving frames needs pygame (`pip install pygame`); playing without.\n")
        return None
    from blackjack.plots import save_frame

    # a file there: an error, no traceback
    folder = writable(folder, "frames", is_folder=True, flag="--frames")
    count = [0]

    def save(env, caption: str) -> None:
        """Gymnasium's render with the caption (situation and move, or outcome) beneath."""
        count[0] += 1
        save_frame(env.render(), caption, folder / f"frame_{count[0]:03d}.png")

    save.count = count
    return save


@entry_point
def main(argv: list[str] | None = None, stdin: TextIO | None = None, out: TextIO | None = None):
    parser = command_parser("blackjack.play", __doc__)
    parser.add_argument("--ckpt", help="checkpoint (default: latest run's best.ckpt)")
    parser.add_argument(
        "--auto", type=int, metavar="N", help=f"let the agent play N hands (1 to {MAX_AUTO})"
    )
    parser.add_argument("--frames", metavar="DIR", help="save Gymnasium's rendered frames here")
    parser.add_argument(  # Gymnasium refuses a negative seed (with a traceback)
        "--seed", type=number(0, integer=True), help="seed of the deck (default: random)"
    )
    parser.add_argument(
        "--hand",
        help="deal every hand from these cards: yours 'vs' the dealer's, e.g. '10 6 vs 9' "
        f"(cards {CARD_LIST}; 1 is shown as A)",
    )
    args = parser.parse_args(argv)
    stdin, out = stdin or sys.stdin, out or sys.stdout
    hand = parse_hand(args.hand) if args.hand is not None else None
    if args.auto is not None and not 1 <= args.auto <= MAX_AUTO:
        parser.error(
            f"--auto needs 1 to {MAX_AUTO} hands (got {args.auto}); for many hands use "
            "`python -m blackjack.evaluate --hands N`"
        )

    from common.checkpoints import load_trained

    trained = load_trained("blackjack", args.ckpt)
    path, agent = trained.path, trained.module
    advisor = Advisor(agent.net.q_table(), agent.rules)
    frames = frame_saver(Path(args.frames), out) if args.frames else None
    env = make_env(agent.rules, render_mode="rgb_array" if frames else None)
    env.reset(seed=args.seed)
    r = agent.rules
    out.write(f"Blackjack-v1 (sab={r.sab}, natural={r.natural}), agent from {path}\n")
    exact = rules.evaluate(agent.greedy_policy(), r).expected_return
    out.write(
        f"agent's exact expected return {exact:+.4f} per hand; "
        f"optimal {advisor.optimal.expected_return:+.4f}: the house keeps its edge.\n"
    )

    def choose(obs):  # the agent's move with --auto, else the player's key
        if args.auto:
            return "h" if advisor.action(obs) else "s"
        return ask("  [h]it, [s]tick or [q]uit? ", {"h", "s", "q"}, stdin, out)

    rewards: list[float] = []
    try:
        _play(args, env, advisor, choose, stdin, out, frames, rewards, hand)
    except KeyboardInterrupt:  # Ctrl-C ends the game like q, with the summary
        out.write("\ninterrupted\n")
    env.close()
    total = sum(rewards)
    out.write(f"\n{len(rewards)} hands, total reward {total:+g}\n")
    if frames is not None:
        from blackjack.plots import plot_strategy

        chart = Path(args.frames) / "strategy.png"
        differ = plot_strategy(agent.greedy_policy(), advisor.optimal.policy, chart, "agent")
        out.write(f"saved {frames.count[0]} frames in {args.frames}\n")
        out.write(f"strategy chart (agent vs optimal, {differ} cells differ): {chart}\n")
    return rewards


def _play(args, env, advisor, choose, stdin, out, frames, rewards: list[float], hand) -> None:
    while args.auto is None or len(rewards) < args.auto:
        out.write(f"\nhand {len(rewards) + 1}\n")
        reward = play_hand(env, advisor, choose, out, frames, hand)
        if reward is None:
            break
        rewards.append(reward)
        next_hand = "Enter for the next hand, q to quit: "
        if args.auto is None and ask(next_hand, {"", "q"}, stdin, out) in (None, "q"):
            break


if __name__ == "__main__":
    command(main)
