"""Unit tests of the pure signal functions in speech.audio."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from speech import audio, wave


def sine(freq: float, rate: int = 16000, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(rate * seconds)) / rate
    return torch.sin(2 * math.pi * freq * t)


def peak_hz(wav: torch.Tensor, rate: int = 16000) -> float:
    spec = torch.fft.rfft(wav * torch.hann_window(len(wav))).abs()
    return spec.argmax().item() * rate / len(wav)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 16000])
def test_load_audio_resamples_any_rate_and_mixes_stereo_down(tmp_path, rate):
    t = np.arange(rate) / rate
    left = np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, left], axis=1) * 0.5  # (samples, 2)
    path = tmp_path / f"a{rate}.wav"
    sf.write(path, stereo, rate)
    wav = audio.load_audio(path)
    assert wav.shape == (16000,)
    assert abs(peak_hz(wav) - 440) < 3
    assert abs(wav.abs().max().item() - 0.5) < 0.02


def test_load_audio_explains_bad_files(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio")
    sf.write(tmp_path / "zero.wav", np.zeros((0,)), 16000)
    for name, words in [
        ("empty.wav", "empty"),
        ("text.wav", "not a readable audio"),
        ("zero.wav", "zero length"),
        ("missing.wav", "no such file"),
    ]:
        with pytest.raises(audio.AudioError, match=words):
            audio.load_audio(tmp_path / name)
    # the header-only and the block-by-block readers say the same about a file they cannot open
    for name, words in [
        ("empty.wav", "empty"),
        ("text.wav", "not a readable audio.*ffmpeg -i text.wav"),
        ("missing.wav", "no such file"),
    ]:
        with pytest.raises(audio.AudioError, match=words):
            wave.duration(tmp_path / name)
        with pytest.raises(audio.AudioError, match=words):
            list(wave.read_blocks(tmp_path / name))


def test_fit_length_crops_and_pads_centred():
    x = torch.arange(10.0)
    assert audio.fit_length(x, 4).tolist() == [3, 4, 5, 6]
    padded = audio.fit_length(x, 14)
    assert padded.shape == (14,) and padded[:2].sum() == 0 and padded[2:12].tolist() == x.tolist()


def test_spectral_warp_identity_and_formant_shift():
    x = torch.stack([sine(1000), sine(1000)])
    same = audio.spectral_warp(x, torch.ones(2))
    assert torch.allclose(same, x, atol=1e-4)  # alpha = 1 resynthesises the input
    warped = audio.spectral_warp(x, torch.tensor([1.1, 0.9]))
    assert abs(peak_hz(warped[0]) - 1100) < 40
    assert abs(peak_hz(warped[1]) - 900) < 40
    assert warped.shape == x.shape


def test_training_warp_moves_each_clips_frequencies_within_warp():
    from speech.module import KeywordModule

    tones = sine(1000).repeat(32, 1)
    torch.manual_seed(0)
    module = KeywordModule(labels="yes,no", width=8, pretrained=False, warp=0.2)
    assert module.augmenting
    peaks = torch.tensor([peak_hz(w) for w in module.augment(tones)])
    # alpha from [0.8, 1.2] per clip: the tone moves to 800-1200 Hz (+- 40: the 31 Hz STFT bins)
    assert ((peaks >= 760) & (peaks <= 1240)).all()
    assert peaks.min() < 900 and peaks.max() > 1100 and len(peaks.unique()) > 4
    plain = KeywordModule(labels="yes,no", width=8, pretrained=False, warp=0.0)
    assert not plain.augmenting and torch.equal(plain.augment(tones), tones)


def test_coloured_noise_slope_and_unit_rms():
    g = torch.Generator().manual_seed(0)
    noise = audio.coloured_noise(2, 16000, torch.tensor([0.0, 2.0]), g)
    assert torch.allclose(noise.pow(2).mean(dim=1), torch.ones(2), atol=1e-3)
    power = torch.fft.rfft(noise).abs().pow(2)
    low, high = power[:, 10:100].mean(dim=1), power[:, 4000:6000].mean(dim=1)
    assert 0.5 < (low[0] / high[0]).item() < 2  # white: flat
    assert (low[1] / high[1]).item() > 100  # brown: 1/f^2 falls steeply


def test_mix_at_snr_reaches_requested_ratio():
    g = torch.Generator().manual_seed(1)
    speech = sine(300)[None].repeat(3, 1)
    noise = torch.randn(3, 16000, generator=g)
    snr = torch.tensor([0.0, 10.0, 20.0])
    mixed = audio.mix_at_snr(speech, noise, snr)
    added = mixed - speech
    measured = 10 * torch.log10(speech.pow(2).mean(1) / added.pow(2).mean(1))
    assert torch.allclose(measured, snr, atol=1e-3)


def test_reverberation_keeps_length_and_level_and_spreads_energy():
    g = torch.Generator().manual_seed(2)
    click = torch.zeros(1, 16000)
    click[0, 1000] = 1.0
    rir = audio.room_impulse_responses(torch.tensor([0.5]), g)
    assert rir.shape == (1, 8000) and torch.allclose(rir.norm(dim=1), torch.ones(1))
    wet = audio.reverberate(click, rir)
    assert wet.shape == click.shape
    assert torch.allclose(wet.pow(2).mean(), click.pow(2).mean(), rtol=1e-4)
    assert (wet[0, 3000:5000].abs() > 0).float().mean() > 0.9  # a tail long after the click


def test_sliding_windows_cover_the_recording():
    wav = np.arange(1.0, 41001.0)  # 2.56 s
    windows, starts = wave.sliding_windows(wav, 16000, 4000)
    assert windows.shape == (8, 16000)
    assert starts.tolist() == [0, 4000, 8000, 12000, 16000, 20000, 24000, 28000]
    assert windows[1, 0].item() == 4001 and windows[-1, 12999].item() == 41000
    assert not windows[-1, 13000:].any()  # zero-padded end
    short, s0 = wave.sliding_windows(np.ones(8000), 16000, 4000)
    assert short.shape == (1, 16000) and s0.tolist() == [0]


def test_silence_and_active_region():
    assert audio.is_silent(torch.zeros(16000))
    assert not audio.is_silent(0.1 * sine(440))
    wav = torch.zeros(16000)
    wav[6000:9000] = 0.5 * sine(440)[:3000]
    start, end = audio.active_region(wav)
    assert 5800 <= start <= 6000 and 9000 <= end <= 9200
