"""Exact Blackjack-v1 maths: card probabilities, the dealer's final totals, and the expected
return of any policy by dynamic programming. Pure Python + NumPy, no Gymnasium, no torch.

The environment (gymnasium.envs.toy_text.blackjack) deals from an infinite deck: every draw is
an ace (1/13), a 2..9 (1/13 each) or a ten-valued card (4/13), independent of all other draws.
A hand is described by the observation (player_sum, dealer_card, usable_ace); the only hidden
fact that changes a payout is whether the player's first two cards are a natural (ace + ten),
which the observation (21, d, 1) does not reveal. The DP therefore carries a `natural` flag for
the opening hand and nothing else.

Policies and Q-values are NumPy tables indexed like the observation space,
Discrete(32) x Discrete(11) x Discrete(2):
    policy[player_sum, dealer_card, usable_ace] = probability of hitting (1 = hit, 0 = stick)
    q[player_sum, dealer_card, usable_ace, action]
A deterministic policy is a 0/1 table; the random policy is 0.5 everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

STICK, HIT = 0, 1
CARDS = tuple(range(1, 11))  # 1 = ace, 10 = ten, jack, queen or king
CARD_P = {c: (4 / 13 if c == 10 else 1 / 13) for c in CARDS}
DEALER_CARDS = CARDS
TABLE_SHAPE = (32, 11, 2)  # the observation space


@dataclass(frozen=True)
class Rules:
    """Gymnasium Blackjack-v1's options (its defaults: sab=True, natural=False).

    Args:
        sab: Sutton & Barto's rules: a player natural that the dealer does not match wins +1
            (and `natural` is ignored).
        natural: without `sab`, a winning natural pays +1.5 instead of +1.
    """

    sab: bool = True
    natural: bool = False


def observations() -> list[tuple[int, int, int]]:
    """Every observation at which the player acts (280): hard 4..21 and soft 12..21 against
    each dealer card. Bust totals (22..31) are only ever terminal observations."""
    hard = [(s, d, 0) for s in range(4, 22) for d in DEALER_CARDS]
    soft = [(s, d, 1) for s in range(12, 22) for d in DEALER_CARDS]
    return hard + soft


def hit(player_sum: int, usable_ace: int, card: int) -> tuple[int, int]:
    """The (player_sum, usable_ace) after drawing `card`; a sum over 21 means bust.

    An ace counts 11 while that keeps the hand at 21 or less (`usable_ace`), else 1.
    """
    hard = player_sum - 10 * usable_ace + card  # every ace counted as 1
    has_ace = usable_ace == 1 or card == 1  # a held but unusable ace can never become usable
    if has_ace and hard + 10 <= 21:
        return hard + 10, 1
    return hard, 0


# --- the dealer -------------------------------------------------------------------------------

# Dealer outcomes: final totals 17..21 (not a natural), a natural, bust.
DEALER_OUTCOMES = (17, 18, 19, 20, 21, "natural", "bust")


@cache
def _dealer_finish(hard: int, has_ace: bool) -> tuple[float, ...]:
    """Distribution of the dealer's final total (17..21, bust) from a hand, drawing below 17
    and standing on every 17, soft 17 included (`sum_hand(dealer) < 17`)."""
    total = hard + 10 if has_ace and hard + 10 <= 21 else hard
    out = [0.0] * 6  # 17, 18, 19, 20, 21, bust
    if total > 21:
        out[5] = 1.0
    elif total >= 17:
        out[total - 17] = 1.0
    else:
        for c, p in CARD_P.items():
            for i, q in enumerate(_dealer_finish(hard + c, has_ace or c == 1)):
                out[i] += p * q
    return tuple(out)


@cache
def dealer_outcomes(dealer_card: int) -> tuple[float, ...]:
    """P(dealer outcome | face-up card), in the order of DEALER_OUTCOMES."""
    out = [0.0] * 7
    for hidden, p in CARD_P.items():
        if {dealer_card, hidden} == {1, 10}:
            out[5] += p
            continue
        finish = _dealer_finish(dealer_card + hidden, 1 in (dealer_card, hidden))
        for i, q in enumerate(finish[:5]):
            out[i] += p * q
        out[6] += p * finish[5]
    return tuple(out)


def stick_reward(player_sum: int, player_natural: bool, dealer: int | str, rules: Rules) -> float:
    """The environment's reward for sticking on `player_sum` (<= 21) against a dealer outcome."""
    dealer_score = {"natural": 21, "bust": 0}.get(dealer, dealer)
    reward = float(player_sum > dealer_score) - float(player_sum < dealer_score)
    if rules.sab:
        if player_natural and dealer != "natural":
            reward = 1.0
    elif rules.natural and player_natural and reward == 1.0:
        reward = 1.5
    return reward


@cache
def stick_value(player_sum: int, dealer_card: int, player_natural: bool, rules: Rules) -> float:
    """Expected reward of sticking now."""
    probs = dealer_outcomes(dealer_card)
    return sum(
        p * stick_reward(player_sum, player_natural, outcome, rules)
        for outcome, p in zip(DEALER_OUTCOMES, probs)
    )


# --- policy evaluation and the optimal policy --------------------------------------------------
# The Bellman equations by plain recursion: it ends, as a hit only leads to a larger hard total.


def opening_hands() -> list[tuple[float, int, int, bool]]:
    """(probability, player_sum, usable_ace, natural) of the player's two-card opening hands."""
    hands: dict[tuple[int, int, bool], float] = {}
    for c1, p1 in CARD_P.items():
        for c2, p2 in CARD_P.items():
            s, u = hit(0, 0, c1)
            s, u = hit(s, u, c2)
            key = (s, u, {c1, c2} == {1, 10})
            hands[key] = hands.get(key, 0.0) + p1 * p2
    return [(p, s, u, n) for (s, u, n), p in sorted(hands.items())]


@dataclass
class Solution:
    """Exact values of one policy (or of the optimal policy).

    Args:
        q: Q-values of non-natural hands, shape (32, 11, 2, 2); NaN where nobody acts.
        q_natural: Q-values of the opening natural, shape (11, 2) (dealer card, action).
        policy: the policy evaluated (or the optimal one), P(hit), shape (32, 11, 2).
        expected_return: expected reward per hand.
    """

    q: np.ndarray
    q_natural: np.ndarray
    policy: np.ndarray
    expected_return: float


def _solve(policy: np.ndarray | None, rules: Rules) -> Solution:
    q = np.full((*TABLE_SHAPE, 2), np.nan)
    q_nat = np.full((11, 2), np.nan)
    chosen = np.zeros(TABLE_SHAPE)

    @cache
    def value(s: int, d: int, u: int) -> float:
        q_stick = stick_value(s, d, False, rules)
        q_hit = 0.0
        for c, p in CARD_P.items():
            s2, u2 = hit(s, u, c)
            q_hit += p * (-1.0 if s2 > 21 else value(s2, d, u2))
        q[s, d, u] = q_stick, q_hit
        if policy is None:  # optimal: greedy, sticking on exact ties
            chosen[s, d, u] = float(q_hit > q_stick)
        else:
            chosen[s, d, u] = policy[s, d, u]
        p_hit = chosen[s, d, u]
        return p_hit * q_hit + (1.0 - p_hit) * q_stick

    total = 0.0
    for d in DEALER_CARDS:
        for p, s, u, natural in opening_hands():
            v = value(s, d, u)
            if natural:
                # Same observation as a soft 21, but sticking pays the natural's reward.
                q_nat[d] = stick_value(21, d, True, rules), q[21, d, 1, HIT]
                p_hit = chosen[21, d, 1]
                v = p_hit * q_nat[d, HIT] + (1.0 - p_hit) * q_nat[d, STICK]
            total += CARD_P[d] * p * v
    # Hands the opening deal never reaches directly are still reachable by hitting; make sure
    # every decision observation has been solved (value() fills q as a side effect).
    for s, d, u in observations():
        value(s, d, u)
    return Solution(q=q, q_natural=q_nat, policy=chosen, expected_return=float(total))


def evaluate(policy: np.ndarray, rules: Rules = Rules()) -> Solution:
    """Exact expected return (and Q-values) of `policy`, a (32, 11, 2) table of P(hit)."""
    policy = np.asarray(policy, dtype=float)
    if policy.shape != TABLE_SHAPE:
        raise ValueError(f"policy must have shape {TABLE_SHAPE}, got {policy.shape}")
    decisions = policy[observation_index()]
    if not np.all((decisions >= 0) & (decisions <= 1)):
        raise ValueError("policy entries are probabilities of hitting and must lie in [0, 1]")
    return _solve(policy, rules)


def against_optimal(policy: np.ndarray, rules: Rules = Rules()) -> dict[str, float | int]:
    """Exact return of `policy`, the optimal return, the gap, and how many decision cells of
    `policy` differ from the optimal policy (a stochastic cell always differs)."""
    exact, best = evaluate(policy, rules).expected_return, optimal(rules)
    differ = sum(
        round(policy[o]) != round(best.policy[o]) or 0 < policy[o] < 1 for o in observations()
    )
    return {
        "exact_return": exact,
        "optimal_return": best.expected_return,
        "gap": best.expected_return - exact,
        "cells_differing_from_optimal": int(differ),
    }


def optimal(rules: Rules = Rules()) -> Solution:
    """The optimal policy (a deterministic 0/1 table), its Q-values and its expected return.

    Sticking on 21 is optimal for naturals and soft 21 alike, so one policy over observations
    is optimal although the observation hides whether a 21 is a natural.
    """
    return _solve(None, rules)


# --- reference policies -----------------------------------------------------------------------


def empty_policy() -> np.ndarray:
    return np.zeros(TABLE_SHAPE)


def observation_index() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """observations() as index arrays into a (32, 11, 2) table."""
    s, d, u = np.array(observations()).T
    return s, d, u


def greedy_policy(q: np.ndarray) -> np.ndarray:
    """Deterministic greedy policy from Q-values shaped (32, 11, 2, 2); ties stick."""
    policy = empty_policy()
    idx = observation_index()
    policy[idx] = q[idx][:, HIT] > q[idx][:, STICK]
    return policy


def random_policy() -> np.ndarray:
    """Hit or stick with probability 1/2 each."""
    return np.full(TABLE_SHAPE, 0.5)


def basic_strategy() -> np.ndarray:
    """The casino basic-strategy chart for hit/stand (infinite deck, dealer stands on soft 17),
    without doubling or splitting: a human-memorable reference, not derived from this DP."""
    policy = empty_policy()
    for s, d, u in observations():
        up = 11 if d == 1 else d
        if u:  # soft totals
            stand = s >= 19 or (s == 18 and up <= 8)
        else:  # hard totals
            stand = s >= 17 or (13 <= s <= 16 and up <= 6) or (s == 12 and 4 <= up <= 6)
        policy[s, d, u] = 0.0 if stand else 1.0
    return policy


def policy_rows(policy: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(player_sum, dealer_card, usable_ace, action) for every decision observation."""
    return [(s, d, u, int(round(policy[s, d, u]))) for s, d, u in observations()]
