"""Typed configuration of the handwriting assignment (one-line docstring per field)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    """The Graves (2013) network: prediction (section 4) or synthesis (section 5)."""

    synthesis: bool = True
    """True: soft attention window over the text (section 5); False: prediction network only."""
    hidden_size: int = 256
    """LSTM units per layer."""
    num_layers: int = 2
    """Stacked LSTM layers, each with skip connections from the input and to the output."""
    n_mixtures: int = 20
    """M bivariate Gaussians in the mixture density output (eq. 23)."""
    n_window: int = 10
    """K Gaussians of the attention window (eq. 46)."""
    alphabet_size: int = 80
    """Number of characters the synthesis network knows (one-hot width)."""
    n_styles: int = 0
    """Known writers for style conditioning (0: none, style comes from priming only). Index 0 of
    the style embedding is "unknown writer", so the table has n_styles + 1 rows."""
    style_dim: int = 16
    """Width of the learned writer embedding fed to every LSTM layer."""
    kappa_scale: float = 0.1
    """Scales exp(kappa_hat) in eq. 51 so the window starts out moving about a character per
    10 points (our pen density) instead of one per point."""
