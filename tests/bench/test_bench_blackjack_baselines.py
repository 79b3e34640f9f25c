"""Tabular baselines learn something real in a few thousand hands."""

import pytest

from benchmarks import blackjack_baselines as baselines
from blackjack import rules

RANDOM = rules.evaluate(rules.random_policy()).expected_return  # about -0.39


@pytest.mark.parametrize("train", [baselines.q_learning, baselines.monte_carlo_control])
def test_tabular_agent_beats_random_play(train):
    trained = train(episodes=10_000, seed=0, curve_points=2)
    exact = rules.evaluate(trained.policy).expected_return
    assert exact > RANDOM + 0.2
    assert trained.episodes == 10_000 and trained.seconds > 0
    assert [e for e, _ in trained.curve] == [5_000, 10_000]
    assert trained.curve[-1][1] == pytest.approx(exact)


def test_monte_carlo_control_converges_towards_the_optimum():
    short = baselines.monte_carlo_control(episodes=2_000, seed=1)
    long = baselines.monte_carlo_control(episodes=20_000, seed=1)
    assert (
        rules.evaluate(long.policy).expected_return > rules.evaluate(short.policy).expected_return
    )
