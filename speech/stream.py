"""Keyword spotting on a stream: the microphone (`python -m speech.demo --listen`) or a
recording too long to hold in memory. A 1-second window slides over the audio in 250 ms hops;
an energy gate (`audio.has_speech`) keeps silence and steady noise away from the classifier;
a word seen in overlapping windows is reported once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch

from speech import audio

HOP = audio.SAMPLE_RATE // 4


class Spotter:
    """Feed 16 kHz mono chunks of any size; get (word, start_s, probability) detections.

    Memory stays bounded: only the last second of audio is kept.
    """

    def __init__(self, module, threshold: float = 0.6, hop: int = HOP, batch: int = 64):
        self.module, self.threshold, self.hop, self.batch = module, threshold, hop, batch
        self.window = torch.zeros(audio.SAMPLE_RATE)  # the last second heard
        self.pending = torch.zeros(0)  # heard, not yet a full hop
        self.hops = 0  # hops taken: the window ends at hops * hop samples
        self.last: list | None = None  # [word, start_s, end_s, prob] of the latest detection

    def feed(self, chunk: torch.Tensor) -> list[tuple[str, float, float]]:
        """New detections in `chunk` (samples,), in time order."""
        self.pending = torch.cat([self.pending, chunk.float().reshape(-1)])
        windows, starts = [], []
        while len(self.pending) >= self.hop:
            self.window = torch.cat([self.window[self.hop :], self.pending[: self.hop]])
            self.pending = self.pending[self.hop :]
            self.hops += 1
            if audio.has_speech(self.window):  # the gate: silence and steady noise stay out
                windows.append(self.window)
                starts.append((self.hops * self.hop - audio.SAMPLE_RATE) / audio.SAMPLE_RATE)
        found = []
        for i in range(0, len(windows), self.batch):
            probs = self.module.predict_proba(torch.stack(windows[i : i + self.batch])).cpu()
            for p, k, t0 in zip(*probs.max(dim=1), starts[i : i + self.batch]):
                word = self.module.class_names[int(k)]
                if p < self.threshold or word.startswith("_"):
                    continue
                if self.last and self.last[0] == word and t0 <= self.last[2]:
                    self.last[2] = t0 + 1.0  # the same word in overlapping windows
                    self.last[3] = max(self.last[3], p.item())
                    continue
                self.last = [word, max(0.0, t0), t0 + 1.0, p.item()]
                found.append((word, max(0.0, t0), p.item()))
        return found


def spot(module, chunks: Iterable[torch.Tensor], threshold: float = 0.6) -> Iterator[tuple]:
    """Detections (word, start_s, probability) in a stream of 16 kHz chunks."""
    spotter = Spotter(module, threshold)
    for chunk in chunks:
        yield from spotter.feed(chunk)
    yield from spotter.feed(torch.zeros(audio.SAMPLE_RATE // 2))  # let the last word through


def listen(
    module,
    stream,
    threshold: float = 0.6,
    seconds: float | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Read `stream` (a started sounddevice.InputStream, or anything with its `read(frames)`
    -> (array (frames, channels), overflowed)) and print each keyword with its time and
    probability, until `seconds` have been heard, the stream ends, or Ctrl-C. -> detections."""
    spotter = Spotter(module, threshold)
    heard, count = 0, 0
    try:
        while seconds is None or heard < seconds * audio.SAMPLE_RATE:
            data, overflowed = stream.read(HOP)
            data = np.asarray(data, dtype=np.float32)
            if data.size == 0:
                break  # the stream ended
            chunk = torch.from_numpy(data.reshape(len(data), -1))  # (frames, channels)
            heard += len(chunk)
            if overflowed:
                out(f"{heard / audio.SAMPLE_RATE:8.2f} s  (audio dropped: the CPU fell behind)")
            for word, t0, p in spotter.feed(chunk.mean(dim=1)):
                out(f"{t0:8.2f} s  {word:<10} {p:6.1%}")
                count += 1
    except KeyboardInterrupt:
        pass
    return count
