"""The recording-channel transforms and the level/channel-invariant front end (issue 11)."""

import torch

from speech import audio
from speech.model import LogMel
from speech.module import KeywordModule
from tests.speech.conftest import band_limit, network_config


def spectrum_energy(wav: torch.Tensor, lo: float, hi: float) -> float:
    spec = torch.fft.rfft(wav).abs().pow(2)
    freqs = torch.fft.rfftfreq(wav.shape[-1], 1 / audio.SAMPLE_RATE)
    return spec[..., (freqs >= lo) & (freqs < hi)].sum().item()


def test_band_limit_removes_the_energy_above_its_cut_off_and_keeps_the_band():
    white = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    out = band_limit(white, torch.tensor([3400.0, 4000.0]), torch.tensor([300.0, 0.0]))
    total = spectrum_energy(white, 0, 8001)
    assert spectrum_energy(out[0], 3400, 8001) < 1e-9 * total  # telephone band: nothing above
    assert spectrum_energy(out[0], 0, 300) < 1e-9 * total  # ... and nothing below 300 Hz
    assert spectrum_energy(out[1], 4000, 8001) < 1e-9 * total  # an 8 kHz recording's band
    inside = spectrum_energy(white[1], 200, 3850)
    assert abs(spectrum_energy(out[1], 200, 3850) / inside - 1) < 1e-4  # the band is untouched


def test_an_impulse_response_keeps_length_and_level():
    gen = torch.Generator().manual_seed(1)
    dry = torch.randn(3, 16000, generator=gen) * torch.tensor([[0.01], [0.1], [0.5]])
    rirs = audio.room_impulse_responses(torch.tensor([0.2, 0.5, 0.9]), gen)
    wet = audio.reverberate(dry, rirs)
    assert wet.shape == dry.shape
    rms = lambda x: x.pow(2).mean(dim=-1).sqrt()  # noqa: E731
    assert torch.allclose(rms(wet), rms(dry), rtol=1e-3)
    assert not torch.allclose(wet, dry, atol=1e-3)  # it did reverberate


def test_a_flat_response_changes_nothing_and_a_tilt_shifts_the_balance():
    freqs = torch.fft.rfftfreq(16000, 1 / audio.SAMPLE_RATE)
    gain = audio.eq_response(torch.zeros(1, 6), freqs, 8000.0)
    assert torch.allclose(gain, torch.ones_like(gain))
    tilt = audio.eq_response(torch.tensor([[-6.0, -3.0, 0.0, 0.0, 3.0, 6.0]]), freqs, 8000.0)
    assert tilt[0, freqs < 100].allclose(torch.tensor(10 ** (-6 / 20)))
    assert abs(tilt[0, -1].item() - 10 ** (6 / 20)) < 1e-5


def test_random_channel_is_deterministic_bounded_and_varied():
    wav = 0.5 * torch.randn(64, 16000, generator=torch.Generator().manual_seed(3)).clamp(-2, 2)
    a = audio.random_channel(wav, torch.Generator().manual_seed(7))
    b = audio.random_channel(wav, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == wav.shape
    assert a.abs().max() <= 1.0 and torch.isfinite(a).all()
    high = torch.tensor([spectrum_energy(x, 4100, 8001) / spectrum_energy(x, 0, 8001) for x in a])
    assert (high < 1e-6).sum() >= 10  # band-limited clips (8 kHz recordings, telephones) ...
    assert (high > 0.1).sum() >= 10  # ... and full-band ones


def test_trim_to_word_silences_everything_outside_the_word():
    wav = 1e-3 * torch.randn(1, 16000, generator=torch.Generator().manual_seed(4))
    wav[0, 6000:9000] += 0.5 * torch.sin(torch.arange(3000) * 0.3)
    out = audio.trim_to_word(wav, margin=0)
    assert out[0, :5800].abs().max() == 0 and out[0, 9200:].abs().max() == 0
    assert torch.equal(out[0, 6000:9000], wav[0, 6000:9000])


def test_features_ignore_gain_channel_colour_and_the_other_clips_of_the_batch():
    gen = torch.Generator().manual_seed(5)
    word = torch.zeros(16000)
    word[4000:12000] = torch.randn(8000, generator=gen) * torch.hann_window(8000)
    quiet = 0.01 * word
    loud = torch.randn(16000, generator=gen).clamp(-1, 1)
    utterance = LogMel(network_config(hop_ms=20.0))
    alone = utterance(quiet[None])
    assert torch.allclose(utterance(torch.stack([quiet, loud]))[:1], alone, atol=1e-4)
    assert torch.allclose(utterance(word[None]), alone, atol=1e-3)  # gain: no change
    band = LogMel(network_config(hop_ms=20.0, norm="band"))
    freqs = torch.fft.rfftfreq(16000, 1 / audio.SAMPLE_RATE)
    colour = audio.eq_response(torch.tensor([[6.0, 6.0, 6.0, -6.0, -6.0, -6.0]]), freqs, 8000.0)
    steady = torch.randn(16000, generator=gen) * (0.2 + torch.hann_window(16000))
    coloured = torch.fft.irfft(torch.fft.rfft(steady) * colour[0], n=16000)
    plain, tinted = band(steady[None]), band(coloured[None])
    assert (plain - tinted).abs().mean() < 0.5 * (
        utterance(word[None]) - utterance(coloured[None])
    ).abs().mean()


def test_the_speech_gate_passes_words_and_stops_silence_and_steady_noise():
    gen = torch.Generator().manual_seed(6)
    word = torch.zeros(16000)
    word[5000:10000] = 0.3 * torch.randn(5000, generator=gen) * torch.hann_window(5000)
    assert audio.has_speech(word)
    assert audio.has_speech(word + 0.003 * torch.randn(16000, generator=gen))  # in quiet noise
    assert not audio.has_speech(torch.zeros(16000))
    assert not audio.has_speech(1e-4 * torch.randn(16000, generator=gen))  # below -50 dBFS
    assert not audio.has_speech(0.2 * torch.randn(32000, generator=gen))  # loud, steady hiss
    pink = audio.coloured_noise(1, 32000, torch.ones(1), gen)[0] * 0.2
    assert not audio.has_speech(pink)


def test_pcen_follows_its_equation_and_nearly_divides_out_a_gain_per_band():
    pcen = LogMel(network_config(hop_ms=25.0, norm="pcen"))
    energy = torch.rand(2, 40, 41, generator=torch.Generator().manual_seed(7)) + 0.1
    # the smoother as a closed form: M_t = (1-s)^t E_0 + sum_k s (1-s)^(t-k) E_k, k = 1..t
    s, t = pcen.pcen_s, torch.arange(41.0)
    weights = s * (1 - s) ** (t[:, None] - t[None, :]) * (t[:, None] >= t[None, :])  # (T, T)
    weights[:, 0] = (1 - s) ** t  # M_0 = E_0
    smooth = energy @ weights.T
    expected = (energy / (1e-6 + smooth) ** 0.98 + 2).sqrt() - 2**0.5
    assert torch.allclose(pcen.pcen(energy), expected, atol=1e-5)
    gain = torch.ones(40, 1)
    gain[:20] = 100.0  # 20 dB more in the low bands: a channel colour
    before, after = pcen.pcen(energy), pcen.pcen(energy * gain)
    assert torch.equal(after[:, 20:], before[:, 20:])  # each band on its own
    assert ((after - before).abs() <= 0.1 * before).all()  # 100^0.02 = 1.096: under 10 %


def test_f_max_leaves_the_features_deaf_above_it():
    noise = torch.randn(1, 16000, generator=torch.Generator().manual_seed(6))
    voice = band_limit(noise, torch.tensor([3000.0]), torch.tensor([0.0]))  # nothing above 3 kHz
    whistle = voice + 0.05 * torch.sin(2 * torch.pi * 6000 * torch.arange(16000) / 16000)
    full, upto4k = LogMel(network_config()), LogMel(network_config(f_max=4000.0))
    assert (full(whistle) - full(voice)).abs().max() > 1.0  # the whole band hears the 6 kHz tone
    assert (upto4k(whistle) - upto4k(voice)).abs().max() < 0.05  # bands up to 4 kHz do not


def test_trim_prob_one_trims_every_training_clip_to_its_word():
    wav = 1e-3 * torch.randn(3, 16000, generator=torch.Generator().manual_seed(7))
    wav[:, 6000:9000] += 0.5 * torch.sin(torch.arange(3000) * 0.3)
    module = KeywordModule(labels="yes,no", width=8, pretrained=False, trim_prob=1.0)
    assert module.augmenting
    assert torch.equal(module.augment(wav), audio.trim_to_word(wav))
    assert not KeywordModule(labels="yes,no", width=8, pretrained=False).augmenting
