"""The composer network: an LSTM over the frames of a piano roll, with one of two output models.

- "lstm" (baseline): every key of the next frame is an independent Bernoulli given the past.
- "nade": RNN-NADE (Boulanger-Lewandowski et al. 2012, sec. 3-4): the LSTM's state sets the
  biases of a NADE (Larochelle & Murray 2011) that models the keys of the frame one after the
  other, low to high, each given the keys below it. Chords become joint events, not 88 coin flips.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from music.config import ModelConfig


def frame_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of each frame in nats, summed over the keys.

    Args:
        logits: (..., K) log-odds of each key sounding.
        target: (..., K) 0/1.

    Returns:
        (...) -log p(frame) = -sum_k [x_k log p_k + (1 - x_k) log(1 - p_k)].
    """
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)


class BernoulliHead(nn.Module):
    """Independent keys: logits = W h + b."""

    def __init__(self, hidden: int, n_keys: int):
        super().__init__()
        self.proj = nn.Linear(hidden, n_keys)

    def logits(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.proj(h)  # (..., K); the keys do not see each other

    def sample(self, h: torch.Tensor, temperature: float, greedy: bool = False) -> torch.Tensor:
        logits = self.proj(h)
        if greedy:
            return (logits > 0).float()
        return torch.bernoulli(torch.sigmoid(logits / temperature))


class NADEHead(nn.Module):
    """NADE over the keys of one frame, its biases set by the LSTM state h (RNN-NADE eq. 11-12).

    p(x_k = 1 | x_<k, h) = sigmoid(b_v(h)_k + V_k . sigmoid(b_h(h) + sum_{j<k} x_j W_j))
    """

    def __init__(self, hidden: int, n_keys: int, nade_hidden: int):
        super().__init__()
        self.visible_bias = nn.Linear(hidden, n_keys)  # b_v(h)
        self.hidden_bias = nn.Linear(hidden, nade_hidden)  # b_h(h)
        self.W = nn.Parameter(torch.randn(n_keys, nade_hidden) * 0.05)  # key j -> hidden units
        self.V = nn.Parameter(torch.randn(n_keys, nade_hidden) * 0.05)  # hidden units -> key k

    def logits(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced log-odds of every key, all keys of all frames at once.

        The hidden pre-activation b_h + sum_{j<k} x_j W_j only changes where a key sounds, so a
        frame with n sounding keys has n + 1 distinct hidden vectors ("segments"): key k uses
        segment s_k = the number of sounding keys below k. Computing the segments instead of all
        88 hidden vectors makes the exact NADE likelihood as cheap as the Bernoulli head.
        `naive_logits` is the textbook version, kept as the reference for tests.
        """
        below = x.cumsum(-1) - x  # (..., K): s_k, sounding keys strictly below key k
        n_seg = int(x.sum(-1).max().item()) + 1 if x.numel() else 1
        seg = torch.arange(n_seg, device=x.device, dtype=x.dtype).unsqueeze(-1)  # (S, 1)
        # key j feeds segment s when it sounds and lies below the keys of that segment
        feeds = x.unsqueeze(-2) * (below.unsqueeze(-2) < seg)  # (..., S, K)
        hidden = torch.sigmoid(self.hidden_bias(h).unsqueeze(-2) + feeds @ self.W)  # (..., S, H)
        per_segment = hidden @ self.V.T  # (..., S, K): V_k . hidden, for every segment
        chosen = per_segment.gather(-2, below.long().unsqueeze(-2)).squeeze(-2)  # (..., K)
        return self.visible_bias(h) + chosen

    def naive_logits(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """RNN-NADE eq. 11-12 as written: one hidden vector per key (slow, memory-hungry)."""
        contrib = x.unsqueeze(-1) * self.W  # (..., K, H): what key j adds when it sounds
        below = contrib.cumsum(-2) - contrib  # (..., K, H): sum over keys j < k
        hidden = torch.sigmoid(self.hidden_bias(h).unsqueeze(-2) + below)
        return self.visible_bias(h) + (hidden * self.V).sum(-1)  # (..., K)

    def sample(self, h: torch.Tensor, temperature: float, greedy: bool = False) -> torch.Tensor:
        """Draw (or, greedy, decide by p > 0.5) the keys of N frames, low to high.

        Exact ancestral sampling, but by segments: until the next key sounds the hidden units do
        not change, so the probabilities of all keys above the last sounding one are computed at
        once and the first key whose uniform draw falls below its probability is the next to
        sound. A frame with n notes takes n + 1 steps instead of 88 (`sample_slow` is the
        key-by-key reference).
        """
        b_v = self.visible_bias(h)  # (N, K)
        a = self.hidden_bias(h)  # (N, H_nade)
        n, k = b_v.shape
        keys = torch.arange(k, device=h.device)
        u = torch.full_like(b_v, 0.5) if greedy else torch.rand_like(b_v)  # one draw per key
        frame = torch.zeros_like(b_v)
        last = torch.full((n,), -1, device=h.device)  # highest sounding key so far
        active = torch.ones(n, dtype=torch.bool, device=h.device)
        while active.any():
            rows = active.nonzero().squeeze(1)
            logits = b_v[rows] + torch.sigmoid(a[rows]) @ self.V.T  # (n_active, K)
            p = torch.sigmoid(logits / (1.0 if greedy else temperature))
            sounds = (u[rows] < p) & (keys > last[rows].unsqueeze(1))
            found = sounds.any(1)
            first = sounds.float().argmax(1)  # lowest key that sounds, where any does
            hit, key = rows[found], first[found]
            frame[hit, key] = 1.0
            a[hit] = a[hit] + self.W[key]
            last[hit] = key
            active[rows[~found]] = False
        return frame

    def sample_slow(self, h: torch.Tensor, temperature: float, u: torch.Tensor) -> torch.Tensor:
        """Key-by-key NADE sampling with given uniforms u (N, K): the reference for tests."""
        b_v, a = self.visible_bias(h), self.hidden_bias(h)
        keys = []
        for k in range(self.W.shape[0]):
            logit = b_v[:, k] + torch.sigmoid(a) @ self.V[k]  # (N,)
            key = (u[:, k] < torch.sigmoid(logit / temperature)).float()
            a = a + key.unsqueeze(-1) * self.W[k]
            keys.append(key)
        return torch.stack(keys, -1)  # (N, K)


class Composer(nn.Module):
    """An LSTM reads the frames so far and predicts the next frame through its head."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        if c.kind not in ("lstm", "nade"):
            raise ValueError(f"unknown model kind {c.kind!r}; choose 'lstm' or 'nade'")
        self.lstm = nn.LSTM(
            c.n_keys, c.hidden, c.layers, batch_first=True, dropout=c.dropout if c.layers > 1 else 0
        )
        self.drop = nn.Dropout(c.dropout)
        # The previous frame also reaches the head directly: most notes of a chorale are held
        # for more than one step, and this path lets the model copy them from the first update
        # while the LSTM learns the slower structure.
        self.skip = nn.Linear(c.n_keys, c.hidden)
        if c.kind == "lstm":
            self.head = BernoulliHead(c.hidden, c.n_keys)
        else:
            self.head = NADEHead(c.hidden, c.n_keys, c.nade_hidden)
        with torch.no_grad():  # start at the data's density, about 4 of 88 keys (log-odds -3)
            bias = self.head.proj.bias if c.kind == "lstm" else self.head.visible_bias.bias
            bias.fill_(-3.0)

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, K) frames -> (B, T, hidden): the state that predicts frame t from frames < t."""
        start = torch.zeros_like(x[:, :1])  # frame 0 is predicted from an empty "previous" frame
        previous = torch.cat([start, x[:, :-1]], 1)  # (B, T, K)
        h, _ = self.lstm(previous)
        return self.drop(h) + self.skip(previous)  # (B, T, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, K) frames -> (B, T) negative log-likelihood of each frame, in nats."""
        return frame_nll(self.head.logits(self.context(x), x), x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, K) 0/1 guess of every frame from the true frames before it (for accuracy)."""
        h = self.context(x)
        return self.head.sample(h.flatten(0, 1), 1.0, greedy=True).view_as(x)

    @torch.no_grad()
    def generate(
        self, steps: int, temperature: float = 1.0, prime: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Compose `steps` new frames, (steps, K), after an optional (P, K) prime.

        Call `model.eval()` first (as with nanoGPT's generate); seed torch for repeatable pieces.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        # One frame at a time is a chain of tiny operations: a second thread only adds
        # synchronisation, which costs 30x on a busy 2-core CPU (4.7 s instead of 0.15 s).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._generate(steps, temperature, prime)
        finally:
            torch.set_num_threads(threads)

    def _generate(self, steps: int, temperature: float, prime: torch.Tensor | None):
        first = torch.zeros(1, 1, self.config.n_keys)
        inp = first if prime is None else torch.cat([first, prime.float().unsqueeze(0)], 1)
        h, state = self.lstm(inp)
        frames = []
        for _ in range(steps):
            frame = self.head.sample(h[:, -1] + self.skip(inp[:, -1]), temperature)  # (1, K)
            frames.append(frame)
            inp = frame.unsqueeze(1)
            h, state = self.lstm(inp, state)
        return torch.cat(frames, 0)
