"""The Gymnasium environment, observation encoding, and Monte Carlo evaluation of a policy."""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from blackjack.rules import Rules

Observation = tuple[int, int, int]  # (player_sum, dealer_card, usable_ace)


def make_env(rules: Rules = Rules(), render_mode: str | None = None) -> gym.Env:
    """Gymnasium's Blackjack-v1 with the given rules. With a render mode, its card table is drawn
    by pygame (SDL) off-screen, and SDL leaves SIGTERM alone (it would take it and ignore it)."""
    if render_mode:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
    return gym.make("Blackjack-v1", sab=rules.sab, natural=rules.natural, render_mode=render_mode)


def table_policy(policy: np.ndarray, seed: int = 0) -> Callable[[Observation], int]:
    """An action function for a (32, 11, 2) table of P(hit); draws only for stochastic entries."""
    rng = np.random.default_rng(seed)

    def act(obs: Observation) -> int:
        p = policy[obs]
        return int(p >= 1.0 or (p > 0.0 and rng.random() < p))

    return act


def simulate(
    act: Callable[[Observation], int],
    hands: int,
    rules: Rules = Rules(),
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Play `hands` hands of Blackjack-v1 with `act`; mean return with a 95% confidence interval
    (normal approximation, which is accurate at these sample sizes) and win/draw/loss rates.
    `progress(i)` is called every 10 % of the hands."""
    if hands < 2:
        raise ValueError(f"need at least 2 hands for a confidence interval, got {hands}")
    env = make_env(rules)
    returns = np.empty(hands)
    obs, _ = env.reset(seed=seed)
    every = max(1, hands // 10)
    for i in range(hands):
        if progress is not None and i and i % every == 0:
            progress(i)
        done, reward = False, 0.0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            done = terminated or truncated
        returns[i] = reward
        obs, _ = env.reset()
    env.close()
    mean = float(returns.mean())
    half = 1.96 * float(returns.std(ddof=1)) / math.sqrt(hands)
    return {
        "hands": hands,
        "mean_return": mean,
        "ci95_low": mean - half,
        "ci95_high": mean + half,
        "win_rate": float((returns > 0).mean()),
        "draw_rate": float((returns == 0).mean()),
        "loss_rate": float((returns < 0).mean()),
    }
