"""The DQN agent as a LightningModule: replay, target network, epsilon schedule, Double DQN.

An "epoch" is `batches_per_epoch` gradient steps, each after `env_steps_per_batch` environment
steps; one Lightning training step runs several of them (UPDATES_PER_STEP). Validation scores
the greedy policy exactly (dynamic programming, `blackjack.rules`): `val/return` is its
expected return per hand, with no sampling noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningModule
from torch.nn import functional as F
from torch.utils.data import DataLoader

from blackjack import rules
from blackjack.config import QNetworkConfig
from blackjack.data import ExperienceDataset, ObservationDataset, Player, ReplayBuffer
from blackjack.env import make_env
from blackjack.model import QNetwork, state_index
from common.errors import ConfigError
from common.settings import network_config
from common.threads import one_thread

# DQN updates per Lightning step (manual optimization): for this tiny MLP Lightning's per-step
# work costs about as much as an update (model card); same updates and draws, only sooner.
UPDATES_PER_STEP = 10
_DECISIONS = np.zeros(rules.TABLE_SHAPE, dtype=bool)  # the observations where the player acts
_DECISIONS[rules.observation_index()] = True


class DQNAgent(LightningModule):
    """The DQN agent for Blackjack-v1 (`--model.*`).

    Deep Q-learning (Mnih et al. 2015) with Double DQN targets (van Hasselt et al. 2016).

    Args:
        hidden: Width of each hidden layer of the Q-network.
        sab: Sutton & Barto rules (a natural the dealer does not match wins +1).
        natural: Pay a natural 3:2 (casino rules; only with sab false).
        gamma: Discount; 1 because a hand lasts a few steps and only its final reward counts.
        lr: Adam learning rate at the start; cosine-annealed to lr * lr_final_ratio.
        lr_final_ratio: Final learning rate as a fraction of lr (small: averages out the noise).
        batch_size: Transitions per gradient step.
        buffer_size: Replay buffer capacity, in transitions.
        warmup_steps: Environment steps played at random before the first gradient step.
        env_steps_per_batch: Environment steps played for each gradient step (cheap data).
        batches_per_epoch: Gradient steps in one epoch; the exact validation runs after each.
        eps_start: Exploration rate at the start.
        eps_end: Exploration rate after the decay (high: close calls need the other action).
        eps_decay: Fraction of all training steps over which epsilon falls linearly to eps_end.
        target_sync: Gradient steps between copies of the online into the target network.
        double_dqn: Pick the next action with the online network, value it with the target.
        seed: Seed of the environment (reset and action space) and of replay sampling.
    """

    def __init__(
        self,
        hidden: list[int] = [128, 128],  # noqa: B006 (jsonargparse needs a literal default)
        sab: bool = True,
        natural: bool = False,
        gamma: float = 1.0,
        lr: float = 1e-3,
        lr_final_ratio: float = 0.05,
        batch_size: int = 512,
        buffer_size: int = 300_000,
        warmup_steps: int = 2_000,
        env_steps_per_batch: int = 16,
        batches_per_epoch: int = 1_000,
        eps_start: float = 1.0,
        eps_end: float = 0.3,
        eps_decay: float = 0.3,
        target_sync: int = 250,
        double_dqn: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not hidden or min(hidden) < 1:
            raise ConfigError(f"hidden must list positive layer widths, got {hidden}")
        if env_steps_per_batch < 1:  # 0 replayed the warm-up transitions alone, never playing
            raise ConfigError(
                f"--model.env_steps_per_batch must be 1 or more, not {env_steps_per_batch}"
            )
        self.rules = rules.Rules(sab=sab, natural=natural)
        self.net_config = network_config(QNetworkConfig, self.hparams, hidden=list(hidden))
        self.net = QNetwork(self.net_config)
        self.target = QNetwork(self.net_config).requires_grad_(False)
        self.target.load_state_dict(self.net.state_dict())
        self.automatic_optimization = False  # UPDATES_PER_STEP updates per training step
        self.player: Player | None = None
        self._resume: dict[str, Any] | None = None  # experience state from a checkpoint
        self._experience: Any = None  # this epoch's replay batches, played on demand
        self._greedy: np.ndarray | None = None  # the player's action table for the next steps
        self._target_q: torch.Tensor | None = None  # target network on every observation
        self._rng = np.random.default_rng(seed + 1)  # replay sampling
        self._optimum = rules.optimal(self.rules)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)  # (B, 3) -> (B, 2)

    def greedy_policy(self) -> np.ndarray:
        """The greedy policy of the online network as a (32, 11, 2) table (1 = hit)."""
        return rules.greedy_policy(self.net.q_table())

    # --- experience ------------------------------------------------------------------------
    def updates_per_step(self) -> int:
        """The largest divisor of batches_per_epoch up to UPDATES_PER_STEP: every Lightning
        step then runs as many updates, and an epoch stays batches_per_epoch updates."""
        n = self.hparams.batches_per_epoch
        return max(k for k in range(1, UPDATES_PER_STEP + 1) if n % k == 0)

    def total_steps(self) -> int:
        """Gradient steps in the whole run: the length of the epsilon and learning-rate
        schedules (`trainer.max_steps` counts gradient steps too)."""
        trainer = self.trainer
        if not np.isfinite(trainer.num_training_batches):
            trainer.estimated_stepping_batches  # noqa: B018 (sets the train loader up)
        steps = float("inf")
        if trainer.max_epochs not in (None, -1):
            steps = trainer.num_training_batches * self.updates_per_step() * trainer.max_epochs
        if trainer.max_steps != -1:
            steps = min(steps, trainer.max_steps)
        if not np.isfinite(steps):
            raise ValueError("set trainer.max_epochs (or max_steps): the schedules need an end")
        return int(steps)

    def epsilon(self) -> float:
        c = self.hparams
        frac = min(1.0, self.global_step / max(1.0, c.eps_decay * self.total_steps()))
        return c.eps_start + frac * (c.eps_end - c.eps_start)

    def train_dataloader(self) -> DataLoader:
        c = self.hparams
        if self.player is None:
            self.player = Player(make_env(self.rules), ReplayBuffer(c.buffer_size), c.seed)
            if self._resume is not None:  # exact resume: the hand, RNGs, counters and buffer
                self.player.load_state_dict(self._resume["player"])
                self._rng.bit_generator.state = self._resume["replay_rng"]
                self._resume = None
            else:
                for _ in range(c.warmup_steps):  # fill the buffer with random play
                    self.player.step(None, 1.0)
        self._experience_set = ExperienceDataset(
            self.player,
            c.batches_per_epoch,
            c.batch_size,
            c.env_steps_per_batch,
            greedy=lambda: self._greedy,
            epsilon=self.epsilon,
            rng=self._rng,
        )
        k = self.updates_per_step()
        return DataLoader([k] * (c.batches_per_epoch // k), batch_size=None)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.player is not None:
            checkpoint["experience"] = {
                "player": self.player.state_dict(),
                "replay_rng": self._rng.bit_generator.state,
            }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._resume = checkpoint.get("experience")
        self.player = None

    def val_dataloader(self) -> DataLoader:
        return DataLoader(ObservationDataset(), batch_size=None)

    # --- learning --------------------------------------------------------------------------
    def dqn_loss(
        self, batch: dict[str, torch.Tensor], q_online: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The DQN loss of a replay batch. q_online: the online network's `q_all()` with the
        current weights (computed here when not given)."""
        q = self.net(batch["obs"]).gather(1, batch["action"][:, None]).squeeze(1)  # (B,)
        with torch.no_grad():
            if self._target_q is None:
                self._target_q = self.target.q_all()  # (704, 2), until the next sync
            rows = state_index(batch["next_obs"])  # (B,)
            next_q = self._target_q[rows]  # (B, 2)
            # Double DQN (van Hasselt et al. 2016, eq. 4): the online net picks a', the target
            # net values it, which removes the max operator's upward bias.
            if self.hparams.double_dqn:
                chooser = (self.net.q_all() if q_online is None else q_online)[rows]
            else:
                chooser = next_q
            next_v = next_q.gather(1, chooser.argmax(1, keepdim=True)).squeeze(1)
            y = batch["reward"] + self.hparams.gamma * (1.0 - batch["done"]) * next_v
        # Squared error, not Huber: Q must be the *mean* return, and the +-1 reward noise makes
        # a Huber loss drift towards the median.
        return F.mse_loss(q, y)

    def _play(self, q_online: torch.Tensor) -> dict[str, torch.Tensor]:
        """The player's steps with the greedy policy of q_online, then a replay batch."""
        hit = (q_online[:, 1] > q_online[:, 0]).reshape(rules.TABLE_SHAPE).numpy()  # ties stick
        self._greedy = hit & _DECISIONS
        return next(self._experience)

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_n = torch.zeros(()), 0
        self._target_q = None  # the weights may have been loaded from a checkpoint
        self._experience = iter(self._experience_set)

    def training_step(self, updates: int, batch_idx: int) -> None:
        """`updates` DQN updates, each: play with the current greedy policy, sample a replay
        batch, one gradient step (the order of one update per Lightning step)."""
        optimizer, schedule = self.optimizers(), self.lr_schedulers()
        for _ in range(updates):
            q_online = self.net.q_all()  # (704, 2): the player's policy and Double DQN's chooser
            loss = self.dqn_loss(self._play(q_online), q_online)
            if (self.global_step + 1) % self.hparams.target_sync == 0:
                self.target.load_state_dict(self.net.state_dict())
                self._target_q = None
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            schedule.step()
            self._loss_sum += loss.detach()
            self._loss_n += 1

    def on_fit_start(self) -> None:
        # a tiny MLP gains nothing from intra-op threads, which cost much on a busy 2-core CPU
        self._one_thread = one_thread()
        self._one_thread.__enter__()

    def on_fit_end(self) -> None:
        self._one_thread.__exit__(None, None, None)

    def on_train_epoch_end(self) -> None:
        self.log("train/loss", self._loss_sum / max(1, self._loss_n))
        self.log("train/epsilon", self.epsilon())
        self.log("train/episodes", float(self.player.episodes))
        self.log("train/env_steps", float(self.player.steps))

    def validation_step(self, obs: torch.Tensor, batch_idx: int) -> None:
        q = self.net(obs)  # (280, 3) -> (280, 2)
        idx = tuple(obs.T.cpu())
        q_star = torch.from_numpy(self._optimum.q[idx]).to(q)  # exact optimal Q, (280, 2)
        solution = rules.evaluate(self.greedy_policy(), self.rules)
        self.log("val/loss", F.mse_loss(q, q_star))  # distance to Q*, the fixed point DQN seeks
        self.log("val/return", solution.expected_return)
        self.log("val/regret", self._optimum.expected_return - solution.expected_return)

    def configure_optimizers(self):
        c = self.hparams
        optimizer = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=self.total_steps(), eta_min=c.lr * c.lr_final_ratio
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # --- after training --------------------------------------------------------------------
    def write_artifacts(self, run_dir: Path, datamodule: Any = None) -> dict[str, Any]:
        """Strategy charts (learned vs optimal), learning curve against episodes, policy CSV."""
        from blackjack.plots import plot_learning_curve, plot_strategy, write_policy_csv
        from common.runs import read_metrics

        policy, best = self.greedy_policy(), self._optimum
        plot_strategy(policy, best.policy, run_dir / "strategy.png")
        curves = read_metrics(run_dir / "metrics.csv")
        plot_learning_curve(curves, best.expected_return, run_dir / "learning_curve.png")
        write_policy_csv(policy, run_dir / "policy.csv")
        return rules.against_optimal(policy, self.rules)

    def export_network(self, fmt: str) -> tuple[torch.nn.Module, str, list[str], dict[str, str]]:
        """What `portfolio export` writes: observations (B, 3) -> Q(stick), Q(hit)."""
        return self.net.eval(), "observation", ["q_values"], {}

    @staticmethod
    def example_inputs(batch: int, seed: int = 0) -> torch.Tensor:
        """Decision observations (B, 3) drawn uniformly, to trace and check an export with."""
        g = torch.Generator().manual_seed(seed)
        obs = torch.tensor(rules.observations())  # (280, 3) every decision observation
        return obs[torch.randint(len(obs), (batch,), generator=g)]
