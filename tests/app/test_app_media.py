"""TensorBoard media: every tiny run's event files hold its figures (and music its audio)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

EXPECTED = {
    "speech": ({"val/confusion_matrix", "val/log_mel_examples"}, set()),
    "handwriting": ({"val/handwriting_sample"}, set()),
    "music": ({"val/piano_roll"}, {"val/sample_audio"}),
    "blackjack": ({"val/strategy_chart"}, set()),
}


def event_media(run_dir: Path) -> dict[str, Any]:
    """{'images': {tag: steps}, 'audio': {tag: steps}} read back from a run's event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0, "audio": 0})
    acc.Reload()
    tags = acc.Tags()
    return {
        "images": {t: [e.step for e in acc.Images(t)] for t in tags.get("images", [])},
        "audio": {t: [e.step for e in acc.Audio(t)] for t in tags.get("audio", [])},
    }


@pytest.mark.parametrize("name", list(EXPECTED))
def test_event_files_contain_the_assignments_images(tiny_runs, name):
    media = event_media(tiny_runs / name / "tiny")
    images, audio = EXPECTED[name]
    assert images <= set(media["images"]) and audio <= set(media["audio"]), media
    assert all(
        steps and min(steps) > 0 for steps in media["images"].values()
    )  # not the sanity check


def test_the_images_are_real_pictures(tiny_runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tiny_runs / "speech" / "tiny" / "tensorboard"), {"images": 0})
    acc.Reload()
    import io

    from PIL import Image

    for tag in ("val/confusion_matrix", "val/log_mel_examples"):
        event = acc.Images(tag)[-1]
        picture = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))
        assert picture.shape[0] > 50 and picture.shape[1] > 50 and picture.std() > 10


def test_media_can_be_turned_off(tmp_path, monkeypatch):
    from blackjack.train import main

    monkeypatch.setenv("MAL2_RUNS", str(tmp_path))
    monkeypatch.delenv("MAL2_RUN_NAME", raising=False)
    main(["--trainer.max_epochs", "1", "--model.batches_per_epoch", "20", "--model.warmup_steps",
          "100", "--model.hidden", "[8]", "--run.media", "false", "--run.name", "plain",
          "--trainer.enable_progress_bar", "false"])  # fmt: skip
    assert event_media(tmp_path / "blackjack" / "plain")["images"] == {}
