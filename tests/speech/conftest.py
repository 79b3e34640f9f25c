from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speech import audio, espeak, train
from speech.config import ModelConfig
from tests.conftest import roots_under

WORDS = "yes,no,up"
TINY = [
    "--data.labels", WORDS, "--model.width", "8", "--data.train_per_word", "8",
    "--data.val_per_word", "2", "--data.test_per_word", "2", "--data.batch_size", "8",
    "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false", "--run.name", "tiny",
]  # fmt: skip


def network_config(**changes) -> ModelConfig:
    """The network config KeywordModule builds from its default arguments, with `changes`."""
    from speech.module import KeywordModule

    return replace(KeywordModule().model.cfg, **changes)


def band_limit(
    wavs: torch.Tensor,
    high_hz: torch.Tensor,
    low_hz: torch.Tensor | None = None,
    sample_rate: int = audio.SAMPLE_RATE,
) -> torch.Tensor:
    """Keep only the band low_hz..high_hz (B,) of each clip (B, N), as when a recording was
    made at 2 * high_hz or through a telephone (a zero-phase FFT mask, `audio.band_response`):
    the tests' telephone and 8 kHz channels."""
    freqs = torch.fft.rfftfreq(wavs.shape[-1], 1.0 / sample_rate).to(wavs.device)  # (F,)
    gain = audio.band_response(high_hz.to(wavs.device), low_hz, freqs)
    return torch.fft.irfft(torch.fft.rfft(wavs) * gain, n=wavs.shape[-1])


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One tiny training run shared by the tests of this file."""
    with roots_under(tmp_path_factory.mktemp("speech")) as root:
        yield root, train.main(TINY)


def speak_to(
    path: Path,
    word: str,
    voice: str,
    rate: int = 16000,
    stereo: bool = False,
    seconds: float | None = None,
) -> Path:
    wav, sr = espeak.synthesize(word, voice)
    wav = audio.resample(torch.from_numpy(wav), sr, rate).numpy()
    if seconds:
        wav = np.pad(wav, (rate // 4, max(0, int(seconds * rate) - len(wav) - rate // 4)))
    if stereo:
        wav = np.stack([wav, 0.5 * wav], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wav, rate)
    return path
