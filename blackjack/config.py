"""Typed configuration of the DQN agent; `DQNAgent` builds these from its plain arguments."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class QNetworkConfig:
    """The Q-network: an MLP from the one-hot observation to Q(stick), Q(hit)."""

    hidden: list[int] = field(default_factory=lambda: [128, 128])
    """Width of each hidden layer."""


@dataclass
class DQNConfig:
    """Deep Q-learning (Mnih et al. 2015) with Double DQN targets (van Hasselt et al. 2016)."""

    gamma: float = 1.0
    """Discount; 1 because a hand lasts a few steps and only its final reward counts."""
    lr: float = 1e-3
    """Adam learning rate at the start; cosine-annealed to lr * lr_final_ratio."""
    lr_final_ratio: float = 0.05
    """Final learning rate as a fraction of lr: a small step at the end averages out the +-1
    reward noise, which is what brings the greedy policy close to the optimum."""
    batch_size: int = 512
    """Transitions per gradient step."""
    buffer_size: int = 300_000
    """Replay buffer capacity (transitions)."""
    warmup_steps: int = 2_000
    """Environment steps played with a random policy before the first gradient step."""
    env_steps_per_batch: int = 16
    """Environment steps played for each gradient step: data is cheap here (a step costs
    ~25 us, a gradient step ~2 ms), and more of it averages out the reward noise."""
    batches_per_epoch: int = 1_000
    """Gradient steps in one Lightning "epoch"; validation (exact DP) runs after each."""
    eps_start: float = 1.0
    """Exploration rate at the start."""
    eps_end: float = 0.3
    """Exploration rate after the decay. Kept high (0.3): Q-learning is off-policy, and the
    close calls need samples of the action the greedy policy does not take."""
    eps_decay: float = 0.3
    """Fraction of all training steps over which epsilon falls linearly to eps_end."""
    target_sync: int = 250
    """Gradient steps between copies of the online network into the target network."""
    double_dqn: bool = True
    """Pick the next action with the online network and value it with the target network."""
    seed: int = 0
    """Seed of the environment (reset and action space) and of replay sampling."""
