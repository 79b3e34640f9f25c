"""Experience for DQN: a replay buffer, an epsilon-greedy player of Blackjack-v1, and the
IterableDataset that plays the environment and yields replay batches to Lightning."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from blackjack.rules import observations
from common.errors import ConfigError


class ReplayBuffer:
    """Fixed-size ring buffer of transitions (obs, action, reward, next_obs, done) in NumPy."""

    FIELDS = {"obs": (3,), "action": (), "reward": (), "next_obs": (3,), "done": ()}  # shapes

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ConfigError(f"replay buffer capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        for name, shape in self.FIELDS.items():  # rewards and done flags as float32, rest int64
            dtype = np.float32 if name in ("reward", "done") else np.int64
            setattr(self, name, np.zeros((capacity, *shape), dtype=dtype))
        self.size = 0
        self._next = 0

    def __len__(self) -> int:
        return self.size

    def append(self, obs, action: int, reward: float, next_obs, done: bool) -> None:
        i = self._next
        self.obs[i], self.action[i], self.reward[i] = obs, action, reward
        self.next_obs[i], self.done[i] = next_obs, done
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def state_dict(self) -> dict[str, Any]:
        """The filled part of the buffer in compact tensors (all but the rewards fit in int8)."""
        n = self.size
        state = {"capacity": self.capacity, "size": n, "next": self._next}
        for name in self.FIELDS:
            part = getattr(self, name)[:n]
            state[name] = torch.from_numpy(
                part.copy() if name == "reward" else part.astype(np.int8)
            )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(
                f"the checkpoint's replay buffer holds {state['capacity']} transitions, this run's "
                f"{self.capacity}; resume with the same --model.buffer_size"
            )
        n = self.size = int(state["size"])
        self._next = int(state["next"])
        for name in self.FIELDS:
            getattr(self, name)[:n] = state[name].numpy()

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """A batch of transitions drawn with replacement: obs and next_obs (B, 3), the rest (B,)."""
        idx = rng.integers(0, self.size, batch_size)
        return {name: torch.from_numpy(getattr(self, name)[idx]) for name in self.FIELDS}


class Player:
    """Plays one environment step at a time with an epsilon-greedy policy and stores it.

    The greedy part is a (32, 11, 2) table of actions, refreshed from the online network before
    every batch: one forward pass over the 280 decision observations instead of one per step.
    """

    def __init__(self, env: gym.Env, buffer: ReplayBuffer, seed: int) -> None:
        self.env, self.buffer = env, buffer
        env.action_space.seed(seed)
        self.obs, _ = env.reset(seed=seed)
        self.rng = np.random.default_rng(seed)  # the explore-or-exploit coin
        self.steps = 0
        self.episodes = 0

    def state_dict(self) -> dict[str, Any]:
        """Everything the next steps depend on: the hand in play, the shoe's and the coins' RNG
        states, the counters and the replay buffer (plain types, for weights_only loading)."""
        env = self.env.unwrapped
        return {
            "obs": [int(v) for v in self.obs],
            "player": [int(c) for c in env.player],
            "dealer": [int(c) for c in env.dealer],
            "env_rng": env.np_random.bit_generator.state,
            "action_rng": self.env.action_space.np_random.bit_generator.state,
            "rng": self.rng.bit_generator.state,
            "steps": self.steps,
            "episodes": self.episodes,
            "buffer": self.buffer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        env = self.env.unwrapped
        self.obs = tuple(state["obs"])
        env.player, env.dealer = list(state["player"]), list(state["dealer"])
        env.np_random.bit_generator.state = state["env_rng"]
        self.env.action_space.np_random.bit_generator.state = state["action_rng"]
        self.rng.bit_generator.state = state["rng"]
        self.steps, self.episodes = int(state["steps"]), int(state["episodes"])
        self.buffer.load_state_dict(state["buffer"])

    def step(self, greedy: np.ndarray | None, epsilon: float) -> None:
        if greedy is None or self.rng.random() < epsilon:
            action = int(self.env.action_space.sample())
        else:
            action = int(greedy[self.obs])
        next_obs, reward, terminated, truncated, _ = self.env.step(action)
        self.buffer.append(self.obs, action, reward, next_obs, terminated)
        self.steps += 1
        if terminated or truncated:
            self.episodes += 1
            next_obs, _ = self.env.reset()
        self.obs = next_obs


class ExperienceDataset(IterableDataset):
    """One Lightning epoch of DQN experience: before each replay batch the player takes
    `env_steps` steps. `greedy()` gives the current greedy action table, `epsilon()` the rate."""

    def __init__(
        self,
        player: Player,
        batches: int,
        batch_size: int,
        env_steps: int,
        greedy: Callable[[], np.ndarray],
        epsilon: Callable[[], float],
        rng: np.random.Generator,
    ) -> None:
        self.player, self.batches, self.batch_size = player, batches, batch_size
        self.env_steps, self.greedy, self.epsilon, self.rng = env_steps, greedy, epsilon, rng

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for _ in range(self.batches):
            table, eps = self.greedy(), self.epsilon()
            for _ in range(self.env_steps):
                self.player.step(table, eps)
            yield self.player.buffer.sample(self.batch_size, self.rng)


class ObservationDataset(Dataset):
    """The validation "set": all 280 decision observations in one batch; the policy they define
    is scored exactly by dynamic programming."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(observations())  # (280, 3)
