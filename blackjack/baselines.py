"""Baselines for the DQN agent, trained on the same Gymnasium environment (NumPy, no torch):
tabular Q-learning as in Gymnasium's "Solving Blackjack with Q-Learning" tutorial, and Monte
Carlo control with exploring starts (Sutton & Barto 2018, sec. 5.3, Example 5.3). The two fixed
policies, basic strategy and random, live in `blackjack.rules`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from blackjack import rules
from blackjack.env import make_env


@dataclass
class Trained:
    """A trained tabular agent: its greedy policy and how it got there.

    Args:
        name: label for tables and plots.
        policy: greedy policy, (32, 11, 2) table of P(hit).
        episodes: hands played while training.
        seconds: wall time of training (without the learning-curve evaluations).
        curve: (episodes, exact expected return of the greedy policy) checkpoints.
    """

    name: str
    policy: np.ndarray
    episodes: int
    seconds: float
    curve: list[tuple[int, float]] = field(default_factory=list)


def _curve_point(q: np.ndarray, episodes: int, r: rules.Rules) -> tuple[int, float]:
    return episodes, rules.evaluate(rules.greedy_policy(q), r).expected_return


def q_learning(
    episodes: int = 100_000,
    lr: float = 0.01,
    gamma: float = 0.95,
    eps_start: float = 1.0,
    eps_end: float = 0.1,
    r: rules.Rules = rules.Rules(),
    seed: int = 0,
    curve_points: int = 0,
) -> Trained:
    """Gymnasium tutorial's agent (its defaults: lr 0.01, discount 0.95, epsilon 1 -> 0.1 over
    the first half of training, 100k episodes): one-step Q-learning on a table."""
    env = make_env(r)
    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    q = np.zeros((*rules.TABLE_SHAPE, 2))
    every = episodes // curve_points if curve_points else 0
    curve, spent = [], 0.0
    eps_step = (eps_start - eps_end) / (episodes / 2)
    eps = eps_start
    obs, _ = env.reset(seed=seed)
    start = time.perf_counter()
    for episode in range(1, episodes + 1):
        done = False
        while not done:
            explore = rng.random() < eps
            action = int(env.action_space.sample()) if explore else int(np.argmax(q[obs]))
            next_obs, reward, terminated, truncated, _ = env.step(action)
            future = 0.0 if terminated else float(np.max(q[next_obs]))
            q[obs][action] += lr * (reward + gamma * future - q[obs][action])
            done = terminated or truncated
            obs = next_obs
        obs, _ = env.reset()
        eps = max(eps_end, eps - eps_step)
        if every and episode % every == 0:
            t = time.perf_counter()
            curve.append(_curve_point(q, episode, r))
            spent += time.perf_counter() - t
    seconds = time.perf_counter() - start - spent
    env.close()
    return Trained("Q-learning (tabular)", rules.greedy_policy(q), episodes, seconds, curve)


def monte_carlo_control(
    episodes: int = 500_000, r: rules.Rules = rules.Rules(), seed: int = 0, curve_points: int = 0
) -> Trained:
    """Monte Carlo ES (Sutton & Barto Fig. 5.2's algorithm): the deal gives random starting
    states, the first action is random (the exploring start), then the greedy policy plays;
    Q is the sample average of the returns that followed each (state, action)."""
    env = make_env(r)
    env.action_space.seed(seed)
    q = np.zeros((*rules.TABLE_SHAPE, 2))
    n = np.zeros((*rules.TABLE_SHAPE, 2))
    every = episodes // curve_points if curve_points else 0
    curve, spent = [], 0.0
    obs, _ = env.reset(seed=seed)
    start = time.perf_counter()
    for episode in range(1, episodes + 1):
        visited = []
        action = int(env.action_space.sample())  # exploring start
        done = False
        while not done:
            visited.append((*obs, action))
            obs, reward, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
            action = int(np.argmax(q[obs])) if not done else 0
        # gamma = 1 and only the last reward is non-zero, so every visit's return is `reward`;
        # a state never repeats within a hand, so first-visit and every-visit coincide.
        for key in visited:
            n[key] += 1
            q[key] += (reward - q[key]) / n[key]
        obs, _ = env.reset()
        if every and episode % every == 0:
            t = time.perf_counter()
            curve.append(_curve_point(q, episode, r))
            spent += time.perf_counter() - t
    seconds = time.perf_counter() - start - spent
    env.close()
    return Trained("Monte Carlo ES", rules.greedy_policy(q), episodes, seconds, curve)
