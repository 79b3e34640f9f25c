"""Signal processing for keyword spotting: reading any audio file, fitting it to a 1-second clip,
and the augmentations that make synthetic speech sound less synthetic.

Pure functions on tensors (no Lightning, no model): shared by data generation, the data sets, the
demo and the tests. Every random function takes an explicit `torch.Generator`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

SAMPLE_RATE = 16000


class AudioError(ValueError):
    """An input file that cannot be used as audio; the message says why and what to do."""


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read any file soundfile understands: mixed down to mono, resampled -> (samples,) float32."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file; give the path of a WAV/FLAC/OGG recording")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes); record or copy it again")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(
            f"{path}: not a readable audio file ({err}); convert it to WAV, e.g. "
            f"`ffmpeg -i {path.name} -ar 16000 -ac 1 out.wav`"
        ) from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the recording has no samples (zero length); record it again")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: the audio contains NaN or infinite samples; re-export it")
    wav = torch.from_numpy(data.mean(axis=1))  # mix down: (samples,)
    return resample(wav, rate, sample_rate)


def resample(wav: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited (windowed sinc) resampling along the last axis."""
    if orig_rate == new_rate:
        return wav
    return AF.resample(wav, int(orig_rate), int(new_rate))


def is_silent(wav: torch.Tensor, threshold_db: float = -60.0) -> bool:
    """True when the clip's RMS level is below `threshold_db` dB full scale."""
    rms = wav.float().pow(2).mean().sqrt().item()
    return 20 * math.log10(rms + 1e-12) < threshold_db


def active_region(wav: torch.Tensor, threshold_db: float = -35.0, frame: int = 160) -> tuple:
    """(start, end) sample indices of the part louder than `threshold_db` below its peak frame."""
    n = wav.shape[-1] // frame
    if n == 0:
        return 0, wav.shape[-1]
    energy = wav[: n * frame].reshape(n, frame).pow(2).mean(dim=1)
    level = 10 * torch.log10(energy + 1e-12)
    loud = torch.nonzero(level > level.max() - abs(threshold_db)).flatten()
    return int(loud[0]) * frame, int(loud[-1] + 1) * frame


def fit_length(wav: torch.Tensor, length: int = SAMPLE_RATE) -> torch.Tensor:
    """Centre-crop or zero-pad (centred) the last axis to exactly `length` samples."""
    n = wav.shape[-1]
    if n > length:
        start = (n - length) // 2
        return wav[..., start : start + length]
    left = (length - n) // 2
    return torch.nn.functional.pad(wav, (left, length - n - left))


def place_randomly(
    wav: torch.Tensor, length: int, generator: torch.Generator, margin: int = 800
) -> torch.Tensor:
    """Cut the active region out of `wav` and put it at a random offset in a `length` clip
    (time-shift augmentation; a word longer than the clip keeps its centre)."""
    start, end = active_region(wav)
    start, end = max(0, start - margin), min(wav.shape[-1], end + margin)
    word = wav[start:end]
    if word.shape[-1] >= length:
        return fit_length(word, length)
    offset = int(torch.randint(0, length - word.shape[-1] + 1, (1,), generator=generator))
    return torch.nn.functional.pad(word, (offset, length - word.shape[-1] - offset))


def spectral_warp(wavs: torch.Tensor, alphas: torch.Tensor, n_fft: int = 512) -> torch.Tensor:
    """Vocal-tract-length-like warping: scale every frequency by `alpha` (B,) keeping duration.

    The magnitude spectrum is resampled along frequency, |Y(f)| = |X(f / alpha)|, with the
    original phase (VTLP, Jaitly & Hinton 2013, applied to the waveform). alpha > 1 sounds like
    a shorter vocal tract (formants move up). (B, N) -> (B, N).
    """
    hop = n_fft // 2  # a Hann window at 50 % overlap sums to a constant: exact resynthesis
    window = torch.hann_window(n_fft)
    spec = torch.stft(wavs, n_fft, hop, window=window, return_complex=True)  # (B, F, T)
    n_freq = spec.shape[1]
    src = torch.arange(n_freq, dtype=torch.float32)[None, :] / alphas[:, None]  # (B, F)
    src = src.clamp(max=n_freq - 1)
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=n_freq - 1)
    frac = (src - lo)[:, :, None]
    mag = spec.abs()
    warped = torch.gather(mag, 1, lo[:, :, None].expand_as(mag)) * (1 - frac)
    warped += torch.gather(mag, 1, hi[:, :, None].expand_as(mag)) * frac
    phase = spec / (mag + 1e-12)  # unit phasors of the original
    return torch.istft(warped * phase, n_fft, hop, window=window, length=wavs.shape[-1])


def room_impulse_responses(
    rt60: torch.Tensor, generator: torch.Generator, sample_rate: int = SAMPLE_RATE
) -> torch.Tensor:
    """Synthetic rooms, one per `rt60` (B,) in seconds: a direct path, then exponentially
    decaying noise that reaches -60 dB after rt60 (the statistical reverberation model).
    Unit energy, (B, n) with n = the longest rt60 in samples."""
    n = max(2, int(rt60.max() * sample_rate))
    t = torch.arange(n, dtype=torch.float32)[None, :] / sample_rate
    decay = torch.exp(-6.9078 * t / rt60.clamp(min=1e-3)[:, None])  # ln(1000) = 6.9078
    rir = torch.randn(len(rt60), n, generator=generator) * decay
    rir[:, : int(0.002 * sample_rate)] = 0  # 2 ms gap before the first reflection
    rir[:, 0] = 3.0  # the direct sound dominates early energy
    return rir / rir.norm(dim=1, keepdim=True)


def reverberate(wavs: torch.Tensor, rirs: torch.Tensor) -> torch.Tensor:
    """Convolve each clip (B, N) with its impulse response (B, n); keep length and RMS level."""
    size = 1 << (wavs.shape[-1] + rirs.shape[-1] - 1).bit_length()  # FFT-friendly length
    wet = torch.fft.irfft(torch.fft.rfft(wavs, size) * torch.fft.rfft(rirs, size), size)
    wet = wet[..., : wavs.shape[-1]]
    rms = wavs.pow(2).mean(dim=-1, keepdim=True).sqrt()
    return wet * rms / (wet.pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-9)


def colour(white: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Shape white noise (B, N) to a power spectrum ~ 1/f^beta (B,): 0 white, 1 pink, 2 brown.
    Unit RMS per row."""
    spec = torch.fft.rfft(white)
    f = torch.arange(spec.shape[-1], dtype=torch.float32).clamp(min=1.0)
    spec = spec * f[None, :].pow(-beta[:, None] / 2)  # amplitude ~ f^(-beta/2)
    noise = torch.fft.irfft(spec, n=white.shape[-1])
    return noise / noise.pow(2).mean(dim=-1, keepdim=True).sqrt()


def coloured_noise(
    n_clips: int, length: int, beta: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Noise with power spectrum ~ 1/f^beta (0 white, 1 pink, 2 brown), unit RMS, (B, length)."""
    return colour(torch.randn(n_clips, length, generator=generator), beta)


def mix_at_snr(speech: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """speech + noise scaled so that 10 log10(P_speech / P_noise) = snr_db, all (B, N)."""
    p_speech = speech.pow(2).mean(dim=-1, keepdim=True)
    p_noise = noise.pow(2).mean(dim=-1, keepdim=True) + 1e-12
    scale = (p_speech / (p_noise * 10 ** (snr_db[:, None] / 10))).sqrt()
    return speech + scale * noise


def sliding_windows(
    wav: torch.Tensor, length: int = SAMPLE_RATE, hop: int = SAMPLE_RATE // 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlapping 1-second windows of a long recording -> (windows (W, length), starts (W,))."""
    if wav.shape[-1] <= length:
        return fit_length(wav, length)[None], torch.zeros(1, dtype=torch.long)
    n = 1 + math.ceil((wav.shape[-1] - length) / hop)
    padded = torch.nn.functional.pad(wav, (0, (n - 1) * hop + length - wav.shape[-1]))
    return padded.unfold(0, length, hop), torch.arange(n) * hop
