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


class _Progress:
    """The learning curve (`points` exact evaluations of the greedy policy) and the training
    time without the time those evaluations take."""

    def __init__(self, episodes: int, points: int, r: rules.Rules) -> None:
        self.every, self.r = (episodes // points if points else 0), r
        self.curve: list[tuple[int, float]] = []
        self.spent = 0.0
        self.start = time.perf_counter()

    def after(self, episode: int, q: np.ndarray) -> None:
        if self.every and episode % self.every == 0:
            t = time.perf_counter()
            policy = rules.greedy_policy(q)
            self.curve.append((episode, rules.evaluate(policy, self.r).expected_return))
            self.spent += time.perf_counter() - t

    def result(self, name: str, q: np.ndarray, episodes: int) -> Trained:
        seconds = time.perf_counter() - self.start - self.spent
        return Trained(name, rules.greedy_policy(q), episodes, seconds, self.curve)


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
    eps_step = (eps_start - eps_end) / (episodes / 2)
    eps = eps_start
    obs, _ = env.reset(seed=seed)
    progress = _Progress(episodes, curve_points, r)
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
        progress.after(episode, q)
    env.close()
    return progress.result("Q-learning (tabular)", q, episodes)


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
    obs, _ = env.reset(seed=seed)
    progress = _Progress(episodes, curve_points, r)
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
        progress.after(episode, q)
    env.close()
    return progress.result("Monte Carlo ES", q, episodes)
