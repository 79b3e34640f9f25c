"""Reading recordings and the energy gate in NumPy alone (the demo's torch-free path);
`speech.audio` builds its tensor versions on these, so both paths read, resample and gate alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from common.errors import DataError

SAMPLE_RATE = 16000
MIN_SECONDS = 0.1  # a recording shorter than this cannot hold a word
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3"}  # what a folder is read for


def too_short(wav) -> str | None:
    """Why a 16 kHz recording (array or tensor) is too short to classify or enroll; None when it
    is long enough. (A 1 ms click would otherwise be padded to a second and given a word.)"""
    seconds = wav.shape[-1] / SAMPLE_RATE
    if seconds >= MIN_SECONDS:
        return None
    return f"too short ({seconds:.3f} s): a word needs at least {MIN_SECONDS} s; record it again"


class AudioError(DataError):
    """An input file that cannot be used as audio; the message says why and what to do."""


def audio_files(folder: Path) -> list[Path]:
    """The recordings in `folder` and its subfolders (by suffix, AUDIO_SUFFIXES), sorted."""
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
    )


def check_file(path: Path) -> None:
    if not path.is_file():
        raise AudioError(f"{path}: no such file; give the path of a WAV/FLAC/OGG recording")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes); record or copy it again")


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Checks the file, then turns soundfile's failures to read it into an AudioError that says
    how to convert it (what every reader here does)."""
    check_file(path)
    try:
        yield
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(
            f"{path}: not a readable audio file ({err}); convert it to WAV, e.g. "
            f"`ffmpeg -i {path.name} -ar 16000 -ac 1 out.wav`"
        ) from None


def duration(path: str | Path) -> float:
    """Length of a recording in seconds, read from its header (no samples loaded)."""
    path = Path(path)
    with _reading(path):
        info = sf.info(str(path))
    return info.frames / info.samplerate if info.samplerate else 0.0


def read(path: str | Path) -> tuple[np.ndarray, int]:
    """A whole recording mixed down to mono -> ((samples,) float32, its sample rate)."""
    path = Path(path)
    with _reading(path):
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the recording has no samples (zero length); record it again")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: the audio contains NaN or infinite samples; re-export it")
    return data.mean(axis=1), rate


def read_blocks(
    path: str | Path, sample_rate: int = SAMPLE_RATE, block_seconds: float = 20.0
) -> Iterator[np.ndarray]:
    """A long recording in mono `sample_rate` chunks (float32) of about `block_seconds`, read
    block by block: memory stays bounded however long the file is. Each block is resampled on
    its own (zero-padded at its ends, as `torchaudio.functional.resample` pads a whole file)."""
    path = Path(path)
    with _reading(path):
        rate = sf.info(str(path)).samplerate
        blocks = sf.blocks(
            str(path), blocksize=int(block_seconds * rate), dtype="float32", always_2d=True
        )
        for block in blocks:
            if not np.isfinite(block).all():
                raise AudioError(
                    f"{path}: the audio contains NaN or infinite samples; re-export it"
                )
            yield resample(block.mean(axis=1), rate, sample_rate)


def resample(x: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling of (samples,), the same filter as `torchaudio.functional.resample`
    with its defaults (a Hann-windowed sinc, 6 zero crossings, roll-off 0.99; its
    `_get_sinc_resample_kernel`), applied as a polyphase filter: one kernel row per output phase.
    """
    if orig_rate == new_rate:
        return x
    gcd = math.gcd(int(orig_rate), int(new_rate))
    orig, new = int(orig_rate) // gcd, int(new_rate) // gcd
    zeros, base = 6, min(orig, new) * 0.99
    width = math.ceil(zeros * orig / base)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None] / orig  # (1, K)
    phase = (np.arange(0, -new, -1, dtype=np.float32) / np.float32(new)).astype(np.float64)
    t = np.clip((phase[:, None] + idx) * base, -zeros, zeros)  # (new, K)
    window = np.cos(t * math.pi / zeros / 2) ** 2
    t *= math.pi
    safe = np.where(t == 0, 1.0, t)
    kernel = (np.where(t == 0, 1.0, np.sin(safe) / safe) * window * base / orig).astype(np.float32)
    padded = np.pad(x.astype(np.float32), (width, width + orig))
    frames = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape[1])[::orig]
    out = (frames @ kernel.T).reshape(-1)  # (frames, new) -> interleaved phases
    return out[: math.ceil(new * len(x) / orig)]


def fit_length(x: np.ndarray, length: int = SAMPLE_RATE) -> np.ndarray:
    """Centre-crop or zero-pad (centred) to exactly `length` samples."""
    n = len(x)
    if n > length:
        start = (n - length) // 2
        return x[start : start + length]
    left = (length - n) // 2
    return np.pad(x, (left, length - n - left))


def sliding_windows(
    x: np.ndarray, length: int = SAMPLE_RATE, hop: int = SAMPLE_RATE // 4
) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping 1-second windows of a long recording -> (windows (W, length), starts (W,))."""
    if len(x) <= length:
        return fit_length(x, length)[None], np.zeros(1, dtype=np.int64)
    n = 1 + math.ceil((len(x) - length) / hop)
    padded = np.pad(x, (0, (n - 1) * hop + length - len(x)))
    return np.lib.stride_tricks.sliding_window_view(padded, length)[::hop], np.arange(n) * hop


def is_silent(x: np.ndarray, threshold_db: float = -60.0) -> bool:
    """True when the clip's RMS level is below `threshold_db` dB full scale."""
    rms = math.sqrt(float(np.mean(np.square(x, dtype=np.float32))))
    return 20 * math.log10(rms + 1e-12) < threshold_db


def speech_band(x: np.ndarray, low_hz: float = 250.0, high_hz: float = 4000.0) -> np.ndarray:
    """Only `low_hz`..`high_hz` of a clip: a zero-phase FFT mask with raised-cosine edges 100 Hz
    wide inside the band (`audio.band_response`'s shape)."""
    freqs = np.fft.rfftfreq(len(x), 1.0 / SAMPLE_RATE).astype(np.float32)
    edge = lambda v: 0.5 - 0.5 * np.cos(np.pi * np.clip(v, 0.0, 1.0))  # noqa: E731
    gain = edge((high_hz - freqs) / 100.0) * edge((freqs - low_hz) / 100.0)
    return np.fft.irfft(np.fft.rfft(x) * gain, n=len(x)).astype(np.float32)


def frame_levels(x: np.ndarray, frame: int = 320) -> np.ndarray:
    """Level of each `frame`-sample frame (20 ms at 16 kHz) in dB full scale -> (frames,)."""
    n = max(1, len(x) // frame)
    x = fit_length(x, n * frame) if len(x) < frame else x[: n * frame]
    return 10 * np.log10(np.square(x.reshape(n, -1), dtype=np.float32).mean(axis=1) + 1e-12)


def has_speech(x: np.ndarray, floor_db: float = -50.0, contrast_db: float = 6.0) -> bool:
    """Energy gate (a simple VAD): True when the loudest 20 ms frame of the speech band
    (250-4000 Hz) is above `floor_db` dBFS and `contrast_db` above the quietest tenth of the
    frames. Silence fails the first test; steady noise (hum, fan, hiss: frame levels within a
    few dB) fails the second. A clip shorter than 1 s is judged padded with silence."""
    x = np.asarray(x, dtype=np.float32)
    x = fit_length(x) if len(x) < SAMPLE_RATE else x  # a short clip: in silence
    levels = frame_levels(speech_band(x))  # 250-4000 Hz: a fan's rumble counts less
    peak, background = float(levels.max()), float(np.quantile(levels, 0.1))
    return peak > floor_db and peak - background > contrast_db
