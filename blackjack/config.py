"""The Q-network's shape, built by `DQNAgent` from its own hyper-parameters (`--model.*`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class QNetworkConfig:
    """The Q-network: an MLP from the one-hot observation to Q(stick), Q(hit)."""

    hidden: list[int]
    """Width of each hidden layer."""
