"""Graves (2013) handwriting networks as plain torch modules (no Lightning in here).

Prediction network (section 4): stacked LSTMs with skip connections from the input to every layer
and from every layer to the mixture density output. Synthesis network (section 5): the first
layer also reads a soft window over the one-hot text, a mixture of K Gaussians (eqs. 46-51), and
the window feeds every layer above it.

Optional writer conditioning (our extension, not in the paper): a learned embedding of the writer
is a constant extra input of every layer, so the network need not infer the hand from the strokes
so far. Index 0 is "unknown writer": trained on lines whose writer is withheld, used with priming
(section 5.5) for a hand the network has no name for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from handwriting import mdn
from handwriting.config import ModelConfig


@dataclass
class Sample:
    """A generated line: offsets (T, 3) in the model's normalised units, window weights (T, U)."""

    offsets: np.ndarray
    phi: np.ndarray | None
    finished: bool
    nll: float = float("nan")  # mean NLL per point of its own points, unbiased (eq. 26)


def _clip_grad(h: torch.Tensor, limit: float = 10.0) -> torch.Tensor:
    """Clip the derivatives flowing back into an LSTM layer's outputs to [-10, 10], as Graves
    (2013, section 4.2) does for the LSTM derivatives; identity in the forward pass."""
    if h.requires_grad:
        h.register_hook(lambda g: g.clamp(-limit, limit))
    return h


# Points a stroke under way may still take once the window has passed the last character.
FINISH_STEPS = 12


class HandwritingRNN(nn.Module):
    """Prediction or synthesis network, built from a ModelConfig."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        H, A, K = c.hidden_size, c.alphabet_size, c.n_window
        win = A if c.synthesis else 0
        S = c.style_dim if c.n_styles else 0
        self.style = nn.Embedding(c.n_styles + 1, S) if S else None
        if c.synthesis:
            # Layer 1 runs step by step: its input includes the window w_{t-1} (eq. 52).
            self.cell1 = nn.LSTMCell(3 + A + S, H)
            self.window = nn.Linear(H, 3 * K)  # (alpha_hat, beta_hat, kappa_hat), eq. 48
        else:
            self.cell1 = nn.LSTM(3 + S, H, batch_first=True)
        # Layers 2..N see the input x (and the writer), the layer below and the window w_t (eq. 53).
        self.upper = nn.ModuleList(
            nn.LSTM(3 + S + H + win, H, batch_first=True) for _ in range(c.num_layers - 1)
        )
        self.head = nn.Linear(c.num_layers * H, 1 + 6 * c.n_mixtures)  # eq. 17

    def init_state(self, batch: int, device=None) -> dict:
        c, z = self.config, lambda *s: torch.zeros(*s, device=device)
        state = {"upper": [None] * (c.num_layers - 1)}
        if c.synthesis:
            state.update(
                h1=z(batch, c.hidden_size),
                c1=z(batch, c.hidden_size),
                w=z(batch, c.alphabet_size),
                kappa=z(batch, c.n_window),
            )
        else:
            state["lstm1"] = None
        return state

    def one_hot(self, chars: torch.Tensor) -> torch.Tensor:
        """(B, U) codes 1..A (0 = padding) -> (B, U, A) one-hot, all-zero rows for padding."""
        return F.one_hot(chars, self.config.alphabet_size + 1)[..., 1:].float()

    def _attend(self, h1, kappa, onehot):
        """Soft window (eqs. 46-51): weights phi (B, U) over the characters and w (B, A)."""
        a_hat, b_hat, k_hat = self.window(h1).chunk(3, dim=-1)  # (B, K) each
        alpha, beta = a_hat.exp(), b_hat.exp()
        kappa = kappa + self.config.kappa_scale * k_hat.exp()  # eq. 51: monotone progress
        u = torch.arange(onehot.shape[1], device=h1.device, dtype=h1.dtype)  # (U,)
        phi = (
            alpha.unsqueeze(-1) * torch.exp(-beta.unsqueeze(-1) * (kappa.unsqueeze(-1) - u) ** 2)
        ).sum(1)
        w = torch.bmm(phi.unsqueeze(1), onehot).squeeze(1)  # eq. 47: (B, A)
        return phi, w, kappa

    def forward(
        self,
        x: torch.Tensor,
        chars: torch.Tensor | None = None,
        state: dict | None = None,
        style: torch.Tensor | None = None,
    ):
        """Normalised pen offsets x (B, T, 3), character codes `chars` (B, U) (synthesis), the
        `state` of a previous call (None: fresh) and writer indices `style` (B,) (None or 0:
        unknown) -> y (B, T, 1 + 6M) mixture parameters, the new state, phi (B, T, U) or None."""
        B, T, _ = x.shape
        state = state if state is not None else self.init_state(B, x.device)
        if self.style is not None:  # the writer is one more input of every layer, at every step
            if style is None:
                style = torch.zeros(B, dtype=torch.long, device=x.device)
            x = torch.cat([x, self.style(style).unsqueeze(1).expand(B, T, -1)], dim=-1)
        new = {"upper": []}
        phis = None
        if self.config.synthesis:
            onehot = self.one_hot(chars)  # (B, U, A)
            h, c, w, kappa = state["h1"], state["c1"], state["w"], state["kappa"]
            hs, ws, phis = [], [], []
            for t in range(T):
                h, c = self.cell1(torch.cat([x[:, t], w], dim=-1), (h, c))
                phi, w, kappa = self._attend(h, kappa, onehot)
                hs.append(h), ws.append(w), phis.append(phi)
            h1, win = torch.stack(hs, 1), torch.stack(ws, 1)  # (B, T, H), (B, T, A)
            phis = torch.stack(phis, 1)  # (B, T, U)
            new.update(h1=h, c1=c, w=w, kappa=kappa)
            extra = [x, win]
        else:
            h1, new["lstm1"] = self.cell1(x, state["lstm1"])
            extra = [x]
        outs, below = [_clip_grad(h1)], h1
        for layer, s in zip(self.upper, state["upper"]):
            below, s_new = layer(torch.cat([*extra, below], dim=-1), s)  # skip connections
            outs.append(_clip_grad(below))
            new["upper"].append(s_new)
        return self.head(torch.cat(outs, dim=-1)), new, phis

    @torch.no_grad()
    def generate(self, chars: torch.Tensor | None = None, *args, **kwargs) -> Sample:
        """Sample one line, point by point: `generate_batch` of one text, (U,) codes `chars`
        (None for the prediction network), with the same further arguments."""
        return self.generate_batch(None if chars is None else [chars], *args, **kwargs)[0]

    @torch.no_grad()
    def generate_batch(
        self,
        texts: list[torch.Tensor] | None = None,
        max_steps: int = 1000,
        bias: float = 0.0,
        prime: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        style: int = 0,
        candidates: int = 1,
    ) -> list[Sample]:
        """Sample several lines at once, one batch row per text: `texts` (U,) character codes
        (with a `prime`, the primer's text first; None: the prediction network, one line), at most
        `max_steps` points, sampling `bias` b (section 5.4: higher is neater), `prime` (P, 3)
        normalised offsets read first (section 5.5), `style` a writer index (0: unknown).

        Each line stops once its window has passed the last character (section 5.3), finishing
        the stroke under way (up to `FINISH_STEPS` points). A line's draws depend on the whole
        batch; a batch of one draws exactly what `generate` draws. `candidates` K > 1: each text
        is written K times and the line the network finds likeliest is kept (lowest mean NLL per
        point under the unbiased mixture, eq. 26; a finished line first).
        """
        if candidates > 1 and texts:
            many = [t for t in texts for _ in range(candidates)]
            drawn = self.generate_batch(many, max_steps, bias, prime, generator, style)
            return [
                min(drawn[i : i + candidates], key=lambda s: (not s.finished, s.nll))
                for i in range(0, len(drawn), candidates)
            ]
        self.eval()
        device = next(self.parameters()).device
        synthesis = self.config.synthesis
        if synthesis:
            if not texts or any(t is None or t.numel() == 0 for t in texts):
                raise ValueError("the synthesis network needs a non-empty text to write")
            lengths = torch.tensor([t.numel() for t in texts], device=device)  # (B,)
            # One extra, empty position after each text: the window "passing the last
            # character" means phi(t, U) outweighs every phi(t, u < U) (section 5.3).
            chars = pad_sequence([t.view(-1).long() for t in texts], batch_first=True)
            chars = F.pad(chars, (0, 1)).to(device)  # (B, U + 1)
            inside = torch.arange(chars.shape[1], device=device) < lengths.unsqueeze(1)
        B = len(texts) if synthesis else 1
        state = self.init_state(B, device)
        who = torch.full((B,), style, device=device) if self.style is not None else None
        x = torch.tensor([[[0.0, 0.0, 1.0]]], device=device).expand(B, 1, 3)  # pen up at 0
        if prime is not None and len(prime):
            prime_in = torch.cat([x, prime.view(1, -1, 3).to(device).expand(B, -1, 3)], dim=1)
            y, state, _ = self(prime_in[:, :-1], chars if synthesis else None, state, who)
            x = prime_in[:, -1:]
        points, phis, nlls = [], [], []  # nlls: (B,) per step, each point's NLL unbiased
        steps = torch.full((B,), max_steps, device=device)  # points each line keeps
        passed_at = torch.full((B,), -1, device=device)  # step the window passed the text
        lifted = torch.ones(B, dtype=torch.bool, device=device)  # the pen is up before `point`
        for step in range(max_steps):
            y, state, phi = self(x, chars if synthesis else None, state, who)
            point = mdn.sample(mdn.split_params(y[:, -1], self.config.n_mixtures, bias), generator)
            points.append(point)
            nlls.append(mdn.nll(mdn.split_params(y[:, -1], self.config.n_mixtures), point))
            if synthesis:
                p = phi[:, -1]  # (B, U + 1)
                phis.append(p)
                passed = p.gather(1, lengths.unsqueeze(1)).squeeze(1) > p.masked_fill(
                    ~inside, float("-inf")
                ).amax(1)
                running = steps == max_steps
                passed_at[running & passed & (passed_at < 0)] = step
                # Past the text, a new stroke belongs to no character (kept, it was a stray
                # mark the OCR judge read as ' or :, model card): stop before it. A stroke under
                # way (the last letter's) is finished: stop after the point that lifts the pen.
                over = running & (passed_at >= 0)
                steps[over & lifted] = max(step, 1)
                ends = over & ~lifted & ((point[:, 2] > 0.5) | (step - passed_at >= FINISH_STEPS))
                steps[ends] = step + 1
                lifted = point[:, 2] > 0.5
                if (steps < max_steps).all():
                    break
            x = point.view(B, 1, 3)
        if not points:
            return [Sample(np.zeros((0, 3), np.float32), None, not synthesis) for _ in range(B)]
        offsets = torch.stack(points, 1).cpu().numpy()  # (B, T, 3)
        nll = torch.stack(nlls, 1).float().cpu().numpy()  # (B, T)
        phi_all = torch.stack(phis, 1).cpu().numpy() if phis else None  # (B, T, U + 1)
        out = []
        for i in range(B):
            n = int(steps[i])
            phi_i = phi_all[i, :n, : int(lengths[i])] if phi_all is not None else None
            finished = not synthesis or n < max_steps
            sample = Sample(offsets[i, :n], phi_i, finished, float(nll[i, :n].mean()))
            out.append(sample)
        return out
