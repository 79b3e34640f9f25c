"""Figures of the music benchmark that no package feature uses: how much the soprano tells the
model about the voices below it, and the voice-leading faults of four-part writing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from music.midi import in_key_share


@torch.no_grad()
def lower_voice_nll(model, rolls: list[np.ndarray], samples: int = 64, eval_len: int = 1024):
    """How much the soprano tells the model about the voices below it (nats per frame).

    For every frame of the pieces (each predicted from the true frames before it), with s its
    highest sounding key (the soprano), under the top-down ("down") NADE head:

    - given_soprano: -log p(keys below s | soprano and the silent keys above it): exact, these
      keys come first in the head's order;
    - without_soprano: -log p(keys below s), the keys from s up summed out. They come first, so
      p(keys below s) = E[p(keys below s | keys from s up)] over draws of the keys from s up:
      estimated with `samples` draws (log of a mean: a slight overestimate of the NLL).

    Frames where nothing sounds have no soprano and are skipped.
    """
    model.eval()
    head = model.heads[model.ordering_index("down")]
    keys = torch.arange(model.config.n_keys)
    given, marginal, frames = 0.0, 0.0, 0
    for roll in rolls:
        for start in range(0, len(roll), eval_len):
            x = torch.from_numpy(roll[start : start + eval_len]).float().unsqueeze(0)
            h = model.context(x)[0]  # (T, hidden)
            x = x[0]  # (T, K)
            sounding = x.any(1)
            if not sounding.any():
                continue
            h, x = h[sounding], x[sounding]
            top = x.shape[1] - 1 - x.flip(1).argmax(1)  # (F,) soprano key
            below = keys < top.unsqueeze(1)  # (F, K)
            bce = torch.nn.functional.binary_cross_entropy_with_logits
            given += float((bce(head.logits(h, x), x, reduction="none") * below).sum())
            # draw the keys from the soprano up; keep the real keys below (they come after)
            f = len(x)
            clamp = torch.where(below, x, torch.full_like(x, -1.0))
            hh = h.repeat(samples, 1)  # (S F, hidden)
            drawn = head.sample(hh, 1.0, clamp=clamp.repeat(samples, 1))  # (S F, K)
            lower = bce(head.logits(hh, drawn), drawn, reduction="none") * below.repeat(samples, 1)
            log_p = -lower.sum(1).view(samples, f)  # log p(keys below | drawn keys above)
            marginal += float(-(torch.logsumexp(log_p, 0) - np.log(samples)).sum())
            frames += f
    return {
        "given_soprano": given / max(frames, 1),
        "without_soprano": marginal / max(frames, 1),
        "frames": frames,
    }


def voice_leading_statistics(rolls: Sequence[np.ndarray], voices: int = 4) -> dict[str, float]:
    """Textbook faults of four-part writing, counted over consecutive steps of the pieces.

    A roll does not say which voice sings which note, so the voices of a step with exactly
    `voices` notes are its notes from the bottom up (bass, tenor, alto, soprano); only pairs of
    consecutive such steps are judged ("transitions"):

    - parallel fifths / octaves: two voices a perfect fifth (or octave or unison, compound
      intervals included) apart at both steps, both moving in the same direction;
    - voice overlaps: a voice moves above the note the voice above it just left, or below the
      note the voice below it just left (the crossing a roll can show: crossed voices
      themselves are indistinguishable from re-sorted ones);
    - notes outside the key: 1 - `in_key_share`, averaged over pieces.

    Returns rates per 100 transitions, the share of sounding steps with exactly `voices` notes,
    and the counts.
    """
    fifths = octaves = overlaps = transitions = full = sounding = 0
    for roll in rolls:
        sizes = roll.sum(1)
        sounding += int((sizes > 0).sum())
        full += int((sizes == voices).sum())
        for t in range(1, len(roll)):
            if sizes[t] != voices or sizes[t - 1] != voices:
                continue
            before, now = np.flatnonzero(roll[t - 1]), np.flatnonzero(roll[t])  # low to high
            transitions += 1
            move = np.sign(now - before)
            for i in range(voices):
                for j in range(i + 1, voices):
                    if move[i] == 0 or move[i] != move[j]:
                        continue  # a held voice or contrary motion: no parallel
                    a, b = (before[j] - before[i]) % 12, (now[j] - now[i]) % 12
                    fifths += int(a == 7 and b == 7)
                    octaves += int(a == 0 and b == 0)
            overlaps += int((now[:-1] > before[1:]).sum() + (now[1:] < before[:-1]).sum())
    per100 = 100.0 / transitions if transitions else float("nan")
    in_key = [in_key_share(r) for r in rolls if r.any()]
    return {
        "parallel_fifths_per_100": fifths * per100,
        "parallel_octaves_per_100": octaves * per100,
        "voice_overlaps_per_100": overlaps * per100,
        "outside_key_share": float(1 - np.mean(in_key)) if in_key else float("nan"),
        "four_voice_share": full / sounding if sounding else float("nan"),
        "transitions": transitions,
    }
