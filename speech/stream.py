"""Keyword spotting on a stream: the microphone (`python -m speech.demo --listen`) or a
recording too long to hold in memory. A 1-second window slides over the audio in 250 ms hops;
an energy gate (`wave.has_speech`) keeps silence and steady noise away from the classifier;
a word seen in overlapping windows is reported once.

NumPy only: the model is anything with `class_names` and `predict_proba(windows (B, 16000))`,
the torch `KeywordModule` or the torch-free `speech.exported.ExportedModel`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from speech import wave

HOP = wave.SAMPLE_RATE // 4


def detect(names: list[str], probs, starts, threshold: float, found: list, end=np.inf) -> list:
    """Append to `found` ([word, start_s, end_s, prob] lists) the windows of `probs`
    (W, n_classes) starting at `starts` (s) whose top word is above `threshold`; the same word
    in overlapping windows extends the last detection. Returns the detections it started, as
    first seen."""
    new = []
    for row, t0 in zip(probs, starts):
        k = int(row.argmax())
        word, p = names[k], float(row[k])
        if p < threshold or word.startswith("_"):
            continue
        t1 = min(t0 + 1.0, end)  # a last window is zero-padded past the end
        if found and found[-1][0] == word and t0 <= found[-1][2]:
            found[-1][2:] = [t1, max(found[-1][3], p)]
        else:
            found.append([word, max(0.0, t0), t1, p])
            new.append(tuple(found[-1]))  # as first seen: later windows may extend it
    return new


class Spotter:
    """Feed 16 kHz mono chunks of any size; get (word, start_s, probability) detections.

    Memory stays bounded: only the last second of audio is kept.
    """

    def __init__(self, module, threshold: float = 0.6, hop: int = HOP, batch: int = 64):
        self.module, self.threshold, self.hop, self.batch = module, threshold, hop, batch
        self.window = np.zeros(wave.SAMPLE_RATE, dtype=np.float32)  # the last second heard
        self.pending = np.zeros(0, dtype=np.float32)  # heard, not yet a full hop
        self.hops = 0  # hops taken: the window ends at hops * hop samples
        self.last: list = []  # [[word, start_s, end_s, prob]] of the latest detection

    def feed(self, chunk: np.ndarray) -> list[tuple[str, float, float]]:
        """New detections in `chunk` (samples,) (an array or a CPU tensor), in time order."""
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        self.pending = np.concatenate([self.pending, chunk])
        windows, starts = [], []
        while len(self.pending) >= self.hop:
            self.window = np.concatenate([self.window[self.hop :], self.pending[: self.hop]])
            self.pending = self.pending[self.hop :]
            self.hops += 1
            if wave.has_speech(self.window):  # the gate: silence and steady noise stay out
                windows.append(self.window)
                starts.append((self.hops * self.hop - wave.SAMPLE_RATE) / wave.SAMPLE_RATE)
        found = []
        for i in range(0, len(windows), self.batch):
            probs = self.module.predict_proba(np.stack(windows[i : i + self.batch]))  # (B, C)
            names, start = self.module.class_names, starts[i : i + self.batch]
            new = detect(names, np.asarray(probs), start, self.threshold, self.last)
            found += [(word, t0, p) for word, t0, _, p in new]
            del self.last[:-1]
        return found


def spot(module, chunks: Iterable[np.ndarray], threshold: float = 0.6) -> Iterator[tuple]:
    """Detections (word, start_s, probability) in a stream of 16 kHz chunks."""
    spotter = Spotter(module, threshold)
    for chunk in chunks:
        yield from spotter.feed(chunk)
    yield from spotter.feed(np.zeros(wave.SAMPLE_RATE // 2))  # let the last word through


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
        while seconds is None or heard < seconds * wave.SAMPLE_RATE:
            data, overflowed = stream.read(HOP)
            data = np.asarray(data, dtype=np.float32)
            if data.size == 0:
                break  # the stream ended
            chunk = data.reshape(len(data), -1)  # (frames, channels)
            heard += len(chunk)
            if overflowed:
                out(f"{heard / wave.SAMPLE_RATE:8.2f} s  (audio dropped: the CPU fell behind)")
            for word, t0, p in spotter.feed(chunk.mean(axis=1)):
                out(f"{t0:8.2f} s  {word:<10} {p:6.1%}")
                count += 1
    except KeyboardInterrupt:
        pass
    return count
