"""The composer network: an LSTM over the frames of a piano roll, with one of two output models.

- "lstm" (baseline): every key of the next frame is an independent Bernoulli given the past.
- "nade": RNN-NADE (Boulanger-Lewandowski et al. 2012, sec. 3-4): the LSTM's state sets the
  biases of a NADE (Larochelle & Murray 2011) that models the keys of the frame one after the
  other, low to high, each given the keys below it. Chords become joint events, not 88 coin flips.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from common.errors import ConfigError
from common.threads import one_thread
from music.config import ModelConfig


def frame_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(..., K) log-odds of each key sounding and 0/1 targets -> (...) NLL of each frame in nats:
    -log p(frame) = -sum_k [x_k log p_k + (1 - x_k) log(1 - p_k)]."""
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


def key_order(name: str, n_keys: int) -> torch.Tensor:
    """The order in which a NADE visits the keys: "up" (low to high, the RNN-NADE paper's),
    "down" (high to low: the soprano first, so a given melody can be clamped exactly), or
    "shuffleN" (a fixed random order from seed N, as orderless NADE's ensembles use)."""
    if name == "up":
        return torch.arange(n_keys)
    if name == "down":
        return torch.arange(n_keys - 1, -1, -1)
    if name.startswith("shuffle") and name[7:].isdigit():
        return torch.randperm(n_keys, generator=torch.Generator().manual_seed(int(name[7:])))
    raise ConfigError(f"unknown note ordering {name!r}; use 'up', 'down' or 'shuffle<N>'")


class NADEHead(nn.Module):
    """NADE over the keys of one frame, its biases set by the LSTM state h (RNN-NADE eq. 11-12).

    p(x_k = 1 | x_<k, h) = sigmoid(b_v(h)_k + V_k . sigmoid(b_h(h) + sum_{j<k} x_j W_j))

    "k < j" is in the head's key order (`key_order`); inputs and outputs are in piano order.
    """

    def __init__(self, hidden: int, n_keys: int, nade_hidden: int, order: str = "up"):
        super().__init__()
        self.order = order
        perm = key_order(order, n_keys)
        self.register_buffer("perm", perm, persistent=False)  # position i visits key perm[i]
        self.register_buffer("inverse", torch.argsort(perm), persistent=False)
        self.identity = order == "up"
        self.visible_bias = nn.Linear(hidden, n_keys)  # b_v(h)
        self.hidden_bias = nn.Linear(hidden, nade_hidden)  # b_h(h)
        self.W = nn.Parameter(torch.randn(n_keys, nade_hidden) * 0.05)  # key j -> hidden units
        self.V = nn.Parameter(torch.randn(n_keys, nade_hidden) * 0.05)  # hidden units -> key k

    def logits(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(..., K) teacher-forced log-odds of every key (piano order) given the keys before it
        in the head's order."""
        if self.identity:
            return self._logits(h, x)
        return self._logits(h, x[..., self.perm])[..., self.inverse]

    def _logits(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced log-odds of every key, all keys of all frames at once (head order).

        The hidden pre-activation b_h + sum_{j<k} x_j W_j only changes where a key sounds, so a
        frame with n sounding keys has n + 1 distinct hidden vectors ("segments"): key k uses
        segment s_k = the number of sounding keys below k. Computing the segments instead of all
        88 hidden vectors makes the exact NADE likelihood as cheap as the Bernoulli head (the
        textbook form is the tests' reference).
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

    def sample(
        self,
        h: torch.Tensor,
        temperature: float,
        greedy: bool = False,
        clamp: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(N, K) keys of N frames (piano order), drawn in the head's order.

        clamp: optional (N, K), 1 or 0 for a key whose value is given, -1 for a key to draw. A
        given key is never changed, and the keys after it are drawn knowing it; the draw is
        exact conditional sampling when the given keys come first in the head's order (the
        soprano and the keys above it, for "down").
        """
        if self.identity:
            return self._sample(h, temperature, greedy, clamp)
        clamp = None if clamp is None else clamp[:, self.perm]
        return self._sample(h, temperature, greedy, clamp)[:, self.inverse]

    def _sample(self, h, temperature: float, greedy: bool, clamp: torch.Tensor | None):
        """Draw (or, greedy, decide by p > 0.5) the keys of N frames in head order.

        Exact ancestral sampling, but by segments: until the next key sounds the hidden units do
        not change, so the probabilities of all keys above the last sounding one are computed at
        once and the first key whose uniform draw falls below its probability is the next to
        sound. A frame with n notes takes n + 1 steps instead of 88 (key by key: the tests').
        """
        b_v = self.visible_bias(h)  # (N, K)
        a = self.hidden_bias(h)  # (N, H_nade)
        n, k = b_v.shape
        keys = torch.arange(k, device=h.device)
        u = torch.full_like(b_v, 0.5) if greedy else torch.rand_like(b_v)  # one draw per key
        if clamp is not None:  # a given key sounds (u = -1 < p) or stays silent (u = 2 > p)
            u = torch.where(clamp >= 0, 0.5 - 1.5 * (2 * clamp - 1), u)
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


class Composer(nn.Module):
    """An LSTM reads the frames so far and predicts the next frame through its head."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        if c.kind not in ("lstm", "nade"):
            raise ConfigError(f"unknown model kind {c.kind!r}; choose 'lstm' or 'nade'")
        self.lstm = nn.LSTM(
            c.n_keys, c.hidden, c.layers, batch_first=True, dropout=c.dropout if c.layers > 1 else 0
        )
        self.drop = nn.Dropout(c.dropout)
        # The previous frame also reaches the head directly: most notes of a chorale are held
        # for more than one step, and this path lets the model copy them from the first update
        # while the LSTM learns the slower structure.
        self.skip = nn.Linear(c.n_keys, c.hidden)
        if c.context_frames < 1:
            raise ConfigError(f"context_frames must be 1 or more, got {c.context_frames}")
        # Frames t-2 .. t-N reach the head through a causal temporal convolution beside the
        # LSTM (as in TCNs): a cadence or a repeated chord a few steps back is seen directly.
        self.conv = (
            nn.Conv1d(c.n_keys, c.hidden, c.context_frames - 1, bias=False)
            if c.context_frames > 1
            else None
        )
        if c.kind == "lstm":
            self.heads = nn.ModuleList([BernoulliHead(c.hidden, c.n_keys)])
        else:
            if not c.orderings:
                raise ConfigError("a NADE needs at least one note ordering, e.g. ['down']")
            # One NADE per note ordering, all on the same LSTM state: an ensemble over orderings
            # (orderless NADE, Uria et al. 2014) whose frame probability is their mean.
            self.heads = nn.ModuleList(
                NADEHead(c.hidden, c.n_keys, c.nade_hidden, order) for order in c.orderings
            )
        with torch.no_grad():  # start at the data's density, about 4 of 88 keys (log-odds -3)
            for head in self.heads:
                bias = head.proj.bias if c.kind == "lstm" else head.visible_bias.bias
                bias.fill_(-3.0)

    @property
    def head(self) -> nn.Module:
        """The first head: the one greedy prediction uses."""
        return self.heads[0]

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, K) frames -> (B, T, hidden): the state that predicts frame t from frames < t."""
        start = torch.zeros_like(x[:, :1])  # frame 0 is predicted from an empty "previous" frame
        previous = torch.cat([start, x[:, :-1]], 1)  # (B, T, K)
        h, _ = self.lstm(previous)
        return self.drop(h) + self.direct(previous)  # (B, T, hidden)

    def direct(self, previous: torch.Tensor) -> torch.Tensor:
        """(B, T, K) previous frames -> (B, T, hidden): the paths beside the LSTM, from frame t-1
        (linear) and, with context_frames N > 1, from frames t-2 .. t-N (convolution)."""
        out = self.skip(previous)
        if self.conv is not None:
            n = self.conv.kernel_size[0]
            earlier = F.pad(previous[:, :-1].transpose(1, 2), (n, 0))  # (B, K, n + T - 1)
            out = out + self.conv(earlier).transpose(1, 2)  # position t sees frames t-2..t-n-1
        return out

    def ordering_nll(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, K) frames -> (O, B, T) NLL of each frame under each head (note ordering);
        h: their `context`, when the caller has it already."""
        h = self.context(x) if h is None else h
        return torch.stack([frame_nll(head.logits(h, x), x) for head in self.heads])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, K) frames -> (B, T) negative log-likelihood of each frame, in nats (the
        ensemble's over note orderings when there are several)."""
        return ensemble_nll(self.ordering_nll(x))

    def transposition_nll(self, x: torch.Tensor, semitones: int) -> torch.Tensor:
        """(B, T, K) frames -> (B, T) NLL under an ensemble over transpositions.

        Each frame's probability is the mean over k = -semitones..semitones of the model's
        probability of the frame shifted by k keys, given the past shifted by k: a mixture of
        2 semitones + 1 autoregressive models, so still a likelihood (like the ensemble over
        note orderings of orderless NADE). A member gives probability 0 to a frame whose notes
        its shift would push off the keyboard, which keeps every member normalised or below.
        """
        if semitones <= 0:
            return self(x)
        members = []
        for k in range(-semitones, semitones + 1):
            shifted = shift_keys(x, k)
            lost = shifted.sum(-1) != x.sum(-1)  # (B, T) frames with notes off the keyboard
            members.append(self(shifted).masked_fill(lost, float("inf")))
        return ensemble_nll(torch.stack(members))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, K) 0/1 guess of every frame from the true frames before it (for accuracy);
        h: their `context`, when the caller has it already."""
        h = self.context(x) if h is None else h
        return self.head.sample(h.flatten(0, 1), 1.0, greedy=True).view_as(x)

    @torch.no_grad()
    def generate(
        self,
        steps: int,
        temperature: float = 1.0,
        prime: torch.Tensor | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> torch.Tensor:
        """Compose `steps` new frames, (steps, K), after an optional (P, K) prime.

        Call `model.eval()` first (as with nanoGPT's generate); seed torch for repeatable pieces.
        `progress(frames_done)` is called after every frame (long pieces show progress).
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        with one_thread():  # one frame at a time: a chain of tiny operations
            return self._generate(steps, temperature, prime, progress=progress)

    def _generate(
        self,
        steps: int,
        temperature: float,
        prime: torch.Tensor | None,
        melody: torch.Tensor | None = None,
        progress: Callable[[int], None] | None = None,
    ):
        first = torch.zeros(1, 1, self.config.n_keys, device=self.skip.weight.device)
        inp = first if prime is None else torch.cat([first, prime.float().unsqueeze(0)], 1)
        h, state = self.lstm(inp)
        seen = inp  # (1, P + 1, K) every input frame so far, for the direct paths
        frames = []
        down = self.ordering_index("down") if melody is not None else None
        for t in range(steps):
            recent = seen[:, -self.config.context_frames :]
            context = h[:, -1] + self.direct(recent)[:, -1]  # (1, hidden)
            if melody is not None:
                frame = self.heads[down].sample(context, temperature, clamp=melody_clamp(melody[t]))
            else:  # an ensemble is a mixture: each frame comes from one head drawn at random
                pick = int(torch.randint(len(self.heads), ())) if len(self.heads) > 1 else 0
                frame = self.heads[pick].sample(context, temperature)  # (1, K)
            frames.append(frame)
            inp = frame.unsqueeze(1)
            seen = torch.cat([seen, inp], 1)[:, -self.config.context_frames :]
            h, state = self.lstm(inp, state)
            if progress is not None:
                progress(t + 1)
        return torch.cat(frames, 0)

    def ordering_index(self, name: str) -> int:
        orderings = list(self.config.orderings) if self.config.kind == "nade" else []
        if name not in orderings:
            raise ValueError(
                f"this model has no {name!r} note ordering (it has {orderings or 'none'}); "
                f"harmonizing needs an RNN-NADE trained with '{name}' in --model.orderings"
            )
        return orderings.index(name)

    @torch.no_grad()
    def harmonize(self, melody: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """(T,) melody keys (0..87, -1 for a rest) -> (T, K) frames whose top note is the melody.

        The "down" head visits the keys from the top, so the soprano and the silent keys above
        it come first: clamping them and drawing the keys below is exact sampling from
        p(lower voices | soprano, all frames so far), not an approximation. At a rest of the
        melody every voice rests. Call `model.eval()` first.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.ordering_index("down")
        with one_thread():
            return self._generate(len(melody), temperature, None, melody.long())


def melody_clamp(key: torch.Tensor | int, n_keys: int = 88) -> torch.Tensor:
    """(1, K) clamp for one frame of a melody: the melody key sounds, every key above it is
    silent, the keys below are free (-1); a rest (-1) silences the whole frame."""
    key = int(key)
    keys = torch.arange(n_keys)
    if key < 0:
        return torch.zeros(1, n_keys)
    clamp = torch.where(keys > key, 0.0, -1.0)
    clamp[key] = 1.0
    return clamp.unsqueeze(0)


def shift_keys(x: torch.Tensor, k: int) -> torch.Tensor:
    """(..., K) frames moved up by k keys (down for k < 0); notes pushed off are dropped."""
    out = torch.zeros_like(x)
    if k > 0:
        out[..., k:] = x[..., :-k]
    elif k < 0:
        out[..., :k] = x[..., -k:]
    else:
        out = x
    return out


def ensemble_nll(nll: torch.Tensor) -> torch.Tensor:
    """(O, ...) NLL under O note orderings -> (...) NLL of their mixture, each weighted 1/O:
    -log (1/O sum_o exp(-nll_o)). With one ordering it is that ordering's NLL."""
    if len(nll) == 1:
        return nll[0]
    return math.log(len(nll)) - torch.logsumexp(-nll, 0)
