"""The Q-network: a plain torch MLP over one-hot observations (no Lightning in here)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from blackjack.config import QNetworkConfig
from blackjack.rules import TABLE_SHAPE, observations

N_FEATURES = 32 + 11 + 1  # one-hot player sum, one-hot dealer card, usable ace


# Every observation in the space Discrete(32) x Discrete(11) x Discrete(2), in row-major order.
ALL_STATES = torch.cartesian_prod(*map(torch.arange, TABLE_SHAPE))  # (704, 3)


def state_index(obs: torch.Tensor) -> torch.Tensor:
    """(B, 3) observations -> their rows in ALL_STATES / `QNetwork.q_all()`, (B,)."""
    obs = obs.long()
    return (obs[:, 0] * TABLE_SHAPE[1] + obs[:, 1]) * TABLE_SHAPE[2] + obs[:, 2]


def encode(obs: torch.Tensor) -> torch.Tensor:
    """(B, 3) integer observations -> (B, 44) features. One-hot codes let a small MLP learn the
    sharp, non-monotonic strategy boundaries (stick on 13 against a 6, hit against a 7)."""
    obs = obs.long()
    return torch.cat(
        [
            nn.functional.one_hot(obs[:, 0], 32),
            nn.functional.one_hot(obs[:, 1], 11),
            obs[:, 2:3],
        ],
        dim=1,
    ).float()


class QNetwork(nn.Module):
    """Q(s, .) for a batch of Blackjack observations (player_sum, dealer_card, usable_ace)."""

    def __init__(self, config: QNetworkConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = N_FEATURES
        for h in config.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 2))
        self.mlp = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mlp(encode(obs))  # (B, 3) -> (B, 2): Q(stick), Q(hit)

    @torch.no_grad()
    def q_all(self) -> torch.Tensor:
        """Q-values of every observation, decision or terminal, as a (32 * 11 * 2, 2) tensor:
        row `state_index(obs)`. The space is so small that one pass over all of it is cheaper
        than a pass over a 512-transition batch."""
        states = ALL_STATES.to(next(self.parameters()).device)
        return self(states)

    @torch.no_grad()
    def q_table(self) -> np.ndarray:
        """Q-values of every decision observation as a (32, 11, 2, 2) table (NaN elsewhere)."""
        obs = torch.tensor(observations(), device=next(self.parameters()).device)
        q = self(obs).double().cpu().numpy()  # (280, 2)
        table = np.full((*TABLE_SHAPE, 2), np.nan)
        table[obs[:, 0].cpu(), obs[:, 1].cpu(), obs[:, 2].cpu()] = q
        return table
