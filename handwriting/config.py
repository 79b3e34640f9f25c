"""The network's shape, built by `HandwritingModule` from its arguments (see there), and the
writing default that the demo, the evaluation and the app share."""

from __future__ import annotations

from dataclasses import dataclass

# Lines drawn for each line written; the one the network itself finds likeliest is kept
# (`HandwritingRNN.generate_batch`; see the model card).
CANDIDATES = 4


@dataclass
class ModelConfig:
    """The Graves (2013) network: prediction (section 4) or synthesis (section 5)."""

    synthesis: bool
    hidden_size: int
    num_layers: int
    n_mixtures: int
    n_window: int
    kappa_scale: float
    alphabet_size: int
    """Number of characters the synthesis network knows (one-hot width): len(alphabet)."""
    n_styles: int
    """Known writers for style conditioning (0: none): len(styles). Index 0 of the style
    embedding is "unknown writer", so the table has n_styles + 1 rows."""
    style_dim: int = 16  # not a setting: width of the writer embedding fed to every LSTM layer
