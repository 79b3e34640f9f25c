"""The exact DP of `blackjack.rules` against the Gymnasium environment and known facts."""

import numpy as np
import pytest

from blackjack import rules
from blackjack.env import make_env, simulate, table_policy

DEFAULT = rules.Rules()
CASINO = rules.Rules(sab=False, natural=True)


def test_probabilities_sum_to_one():
    assert sum(p for p, *_ in rules.opening_hands()) == pytest.approx(1.0)
    for d in rules.DEALER_CARDS:
        assert sum(rules.dealer_outcomes(d)) == pytest.approx(1.0)
    # a dealer natural needs an ace or a ten face up: P = 4/13 behind an ace, 1/13 behind a ten
    assert rules.dealer_outcomes(1)[5] == pytest.approx(4 / 13)
    assert rules.dealer_outcomes(10)[5] == pytest.approx(1 / 13)
    assert all(rules.dealer_outcomes(d)[5] == 0 for d in range(2, 10))


@pytest.mark.parametrize(
    ("before", "card", "after"),
    [
        ((5, 0), 1, (16, 1)),  # an ace counts 11 when it fits
        ((15, 0), 1, (16, 0)),  # ... else 1
        ((21, 1), 5, (16, 0)),  # a soft 21 turns hard instead of busting
        ((20, 0), 2, (22, 0)),  # bust
        ((12, 1), 1, (13, 1)),  # second ace counts 1
    ],
)
def test_hit(before, card, after):
    assert rules.hit(*before, card) == after


def test_observations_match_what_the_environment_produces():
    env = make_env(DEFAULT)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    seen = set()
    for _ in range(20_000):
        seen.add(obs)
        obs, _, terminated, _, _ = env.step(int(env.action_space.sample()))
        if terminated:
            obs, _ = env.reset()
    decision = set(rules.observations())
    assert len(decision) == 280
    assert seen <= decision
    assert len(seen) > 270  # random play reaches almost all of them


def test_optimal_policy_has_the_known_features():
    policy = rules.optimal(DEFAULT).policy
    for d in rules.DEALER_CARDS:
        assert all(policy[s, d, 0] == 1 for s in range(4, 12)), "always hit hard 11 or less"
        assert all(policy[s, d, 0] == 0 for s in range(17, 22)), "stick on hard 17+"
        assert all(policy[s, d, 1] == 1 for s in range(12, 18)), "hit soft 17 or less"
        assert all(policy[s, d, 1] == 0 for s in range(19, 22)), "stick on soft 19+"
    # Sutton & Barto Fig. 5.2 (= the hit/stand basic-strategy chart): stick on 13-16 against
    # 2-6, on 12 against 4-6, on soft 18 against 2-8.
    np.testing.assert_array_equal(policy, rules.basic_strategy())


def test_optimal_policy_cannot_be_improved_by_any_single_change():
    best = rules.optimal(DEFAULT)
    for o in rules.observations():
        flipped = best.policy.copy()
        flipped[o] = 1 - flipped[o]
        assert rules.evaluate(flipped, DEFAULT).expected_return <= best.expected_return + 1e-12


def test_evaluating_the_optimal_policy_reproduces_its_value():
    best = rules.optimal(CASINO)
    again = rules.evaluate(best.policy, CASINO)
    assert again.expected_return == pytest.approx(best.expected_return, abs=1e-12)
    idx = rules.observation_index()
    np.testing.assert_allclose(again.q[idx], best.q[idx])


def test_natural_bonus_is_worth_half_a_unit_per_unmatched_natural():
    plain = rules.optimal(rules.Rules(sab=False, natural=False)).expected_return
    bonus = rules.optimal(CASINO).expected_return
    p_natural = 2 * (1 / 13) * (4 / 13)
    p_dealer_21 = sum(rules.CARD_P[d] * sum(rules.dealer_outcomes(d)[4:6]) for d in range(1, 11))
    assert bonus - plain == pytest.approx(0.5 * p_natural * (1 - p_dealer_21), abs=1e-12)


def test_invalid_policy_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        rules.evaluate(np.zeros((10, 10)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rules.evaluate(np.full(rules.TABLE_SHAPE, 2.0))


@pytest.mark.parametrize(
    ("r", "name", "hands"),
    [
        (DEFAULT, "optimal", 100_000),  # the cross-check: Gymnasium's default rules
        (CASINO, "optimal", 50_000),  # 3:2 naturals
        (DEFAULT, "random", 50_000),  # a stochastic policy
    ],
)
def test_dp_agrees_with_monte_carlo_simulation(r, name, hands):
    policy = rules.optimal(r).policy if name == "optimal" else rules.random_policy()
    exact = rules.evaluate(policy, r).expected_return
    mc = simulate(table_policy(policy, seed=1), hands, r, seed=1)
    assert mc["ci95_low"] <= exact <= mc["ci95_high"], (exact, mc)
    assert mc["win_rate"] + mc["draw_rate"] + mc["loss_rate"] == pytest.approx(1.0)
