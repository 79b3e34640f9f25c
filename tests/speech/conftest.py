from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speech import audio, espeak, train


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Fresh data and runs roots for one test (cached data sets and runs land in tmp_path)."""
    monkeypatch.setenv("MAL2_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MAL2_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("MAL2_RUN_NAME", raising=False)
    return tmp_path


WORDS = "yes,no,up"
TINY = [
    "--data.labels",
    WORDS,
    "--model.width",
    "8",
    "--data.train_per_word",
    "8",
    "--data.val_per_word",
    "2",
    "--data.test_per_word",
    "2",
    "--data.batch_size",
    "8",
    "--trainer.max_epochs",
    "2",
    "--trainer.enable_progress_bar",
    "false",
    "--run.name",
    "tiny",
]


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One tiny training run shared by the tests of this file."""
    root = tmp_path_factory.mktemp("speech")
    mp = pytest.MonkeyPatch()
    mp.setenv("MAL2_DATA", str(root / "data"))
    mp.setenv("MAL2_RUNS", str(root / "runs"))
    mp.delenv("MAL2_RUN_NAME", raising=False)
    cli = train.main(TINY)
    yield root, cli
    mp.undo()


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
