"""Signal processing for keyword spotting: reading any audio file, fitting it to a 1-second clip,
and the augmentations that make synthetic speech sound less synthetic.

Pure functions on tensors (no Lightning, no model): shared by data generation, the data sets, the
demo and the tests. Every random function takes an explicit `torch.Generator`.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torchaudio.functional as AF

from speech import wave
from speech.wave import SAMPLE_RATE, AudioError, too_short  # noqa: F401 (used from here too)


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read any file soundfile understands: mixed down to mono, resampled -> (samples,) float32."""
    data, rate = wave.read(path)
    return torch.from_numpy(wave.resample(data, rate, sample_rate))


def resample(wav: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited (windowed sinc) resampling along the last axis."""
    if orig_rate == new_rate:
        return wav
    return AF.resample(wav, int(orig_rate), int(new_rate))


def is_silent(wav: torch.Tensor, threshold_db: float = -60.0) -> bool:
    """True when the clip's RMS level is below `threshold_db` dB full scale."""
    return wave.is_silent(wav.detach().cpu().float().numpy(), threshold_db)


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
    window = torch.hann_window(n_fft, device=wavs.device)
    spec = torch.stft(wavs, n_fft, hop, window=window, return_complex=True)  # (B, F, T)
    n_freq = spec.shape[1]
    src = torch.arange(n_freq, device=wavs.device)[None, :] / alphas[:, None].to(wavs)  # (B, F)
    src = src.clamp(max=n_freq - 1)
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=n_freq - 1)
    frac = (src - lo)[:, :, None]
    mag = spec.abs()
    rows = torch.arange(len(wavs), device=wavs.device)[:, None]  # (B, 1)
    warped = mag[rows, lo] * (1 - frac) + mag[rows, hi] * frac  # (B, F, T); whole frames
    # at once: a third cheaper than gathering with an index expanded over time
    # keep the original phase: scale each bin's complex value by |Y| / |X|
    ratio = warped / (mag + 1e-12)
    return torch.istft(spec * ratio, n_fft, hop, window=window, length=wavs.shape[-1])


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


def trim_to_word(
    wavs: torch.Tensor, threshold_db: float = -35.0, margin: int = 800
) -> torch.Tensor:
    """Digital silence outside each clip's word (B, N): what a recording trimmed to the word
    and zero-padded to 1 s looks like (the active region as in `active_region`, per clip)."""
    frame = 160
    n = wavs.shape[-1] // frame
    energy = wavs[:, : n * frame].reshape(len(wavs), n, frame).pow(2).mean(dim=-1)  # (B, n)
    level = 10 * torch.log10(energy + 1e-12)
    loud = level > level.amax(dim=1, keepdim=True) - abs(threshold_db)  # (B, n)
    idx = torch.arange(n, device=wavs.device)
    first = torch.where(loud, idx, n).amin(dim=1) * frame - margin  # (B,)
    last = (torch.where(loud, idx, -1).amax(dim=1) + 1) * frame + margin
    t = torch.arange(wavs.shape[-1], device=wavs.device)[None, :]
    return wavs * ((t >= first[:, None]) & (t < last[:, None]))


def band_response(
    high_hz: torch.Tensor,
    low_hz: torch.Tensor | None,
    freqs: torch.Tensor,
    transition_hz: float = 100.0,
) -> torch.Tensor:
    """Zero-phase gain (B, F) at `freqs` (F,) passing only low_hz..high_hz (B,), raised-cosine
    edges `transition_hz` wide placed inside the band: nothing above high_hz passes."""
    mask = _edge((high_hz[:, None] - freqs[None, :]) / transition_hz)  # 1 below, 0 above
    if low_hz is not None:
        mask = mask * _edge((freqs[None, :] - low_hz[:, None]) / transition_hz)
    return mask


def _edge(x: torch.Tensor) -> torch.Tensor:
    """0 for x <= 0, 1 for x >= 1, a raised cosine between."""
    return 0.5 - 0.5 * torch.cos(math.pi * x.clamp(0.0, 1.0))


def eq_response(gains_db: torch.Tensor, freqs: torch.Tensor, nyquist: float) -> torch.Tensor:
    """A smooth gain (B, F): gains_db (B, K) at K log-spaced frequencies 100 Hz..`nyquist`,
    interpolated linearly in log frequency (a microphone's or loudspeaker's colour)."""
    k = gains_db.shape[-1]
    pos = torch.log2(freqs.clamp(min=100.0) / 100.0) / math.log2(nyquist / 100.0)
    pos = (pos * (k - 1)).clamp(0, k - 1)  # (F,) in anchor units
    lo = pos.floor().long().clamp(max=k - 2)
    frac = pos - lo
    db = gains_db[:, lo] * (1 - frac) + gains_db[:, lo + 1] * frac  # (B, F)
    return 10 ** (db / 20)


def random_channel(wavs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """What a real recording chain does to a clip (B, N) in [-1, 1], drawn per clip: a band
    limit (8 kHz recording, telephone 300-3400 Hz, a cheap microphone's roll-off, or none), a
    microphone/loudspeaker colour (+-6 dB smooth response), a level, then sometimes DC offset,
    clipping and 8-bit mu-law coding. Deterministic for a seeded `generator` (on the CPU)."""
    b, device = wavs.shape[0], wavs.device

    def rand(*shape):
        return torch.rand(*shape, generator=generator).to(device)

    kind = (rand(b) * 4).long()  # 0: 8 kHz recording, 1: telephone, 2: roll-off, 3: full band
    high = torch.stack(
        [
            torch.full((b,), 3900.0, device=device),
            torch.full((b,), 3400.0, device=device),
            3000.0 + 4000.0 * rand(b),
            torch.full((b,), SAMPLE_RATE / 2 + 200.0, device=device),
        ]
    ).gather(0, kind[None])[0]
    low = torch.where(kind == 1, torch.full_like(high, 300.0), 20.0 + 130.0 * rand(b))
    freqs = torch.fft.rfftfreq(wavs.shape[-1], 1.0 / SAMPLE_RATE).to(device)
    gain = band_response(high, low, freqs) * eq_response(
        (rand(b, 6) * 2 - 1) * 6.0, freqs, SAMPLE_RATE / 2
    )  # (B, F): one FFT pass for both
    x = torch.fft.irfft(torch.fft.rfft(wavs) * gain, n=wavs.shape[-1])
    peak = x.abs().amax(dim=-1, keepdim=True) + 1e-9
    x = x / peak * 10 ** (-rand(b, 1) * 30 / 20)  # peak -30..0 dBFS
    dc = (rand(b, 1) < 0.2) * (rand(b, 1) * 2 - 1) * 0.05
    clip = rand(b, 1) < 0.15  # overdriven: the peak goes 1.5-4x over full scale
    x = torch.where(clip, (x / x.abs().amax(-1, keepdim=True) * (1.5 + 2.5 * rand(b, 1))), x)
    x = (x + dc).clamp(-1.0, 1.0)
    mu = rand(b, 1)[:, 0] < 0.15  # 8-bit mu-law (G.711-like) coding, on those clips only
    if mu.any():
        x[mu] = AF.mu_law_decoding(AF.mu_law_encoding(x[mu], 256), 256)
    return x


def has_speech(wav: torch.Tensor, floor_db: float = -50.0, contrast_db: float = 6.0) -> bool:
    """Energy gate (a simple VAD), `wave.has_speech` on a tensor: the loudest 20 ms frame of
    the speech band (250-4000 Hz) above `floor_db` dBFS and `contrast_db` above the quietest
    tenth of the frames (silence and steady noise fail)."""
    return wave.has_speech(wav.detach().cpu().float().numpy(), floor_db, contrast_db)
