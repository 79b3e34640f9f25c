"""Shared fixtures: a tiny JSB-like pickle and a model trained on it in seconds."""

import pickle
from pathlib import Path

import numpy as np
import pytest

from music import train

TINY = [
    "--model.hidden", "16", "--model.layers", "1", "--model.nade_hidden", "8",
    "--data.batch_size", "4", "--trainer.max_epochs", "2", "--model.sample_bars", "2",
]  # fmt: skip


def jsb_pickle(path: Path) -> Path:
    rng = np.random.default_rng(0)
    chords = [(48, 55, 64, 72), (53, 57, 65, 72), (55, 59, 62, 67), (48, 55, 64, 67)]

    def piece():
        return [chords[(t + int(rng.integers(4))) % 4] for t in range(16)]

    data = {"train": [piece() for _ in range(8)], "valid": [piece()] * 2, "test": [piece()] * 2}
    path.write_bytes(pickle.dumps(data, protocol=2))
    return path


def assert_refuses_missing_and_unreadable(load, error, junk: Path, unreadable: str) -> None:
    """`load` names a file that is not there and refuses the `junk` file, both by `error`."""
    with pytest.raises(error, match="does not exist"):
        load(junk.with_name("missing" + junk.suffix))
    with pytest.raises(error, match=unreadable):
        load(junk)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    pickle_path = jsb_pickle(root / "jsb.pickle")
    mp = pytest.MonkeyPatch()
    mp.setenv("MAL2_RUNS", str(root / "runs"))
    mp.setenv("MAL2_DATA", str(root / "data"))
    cli = train.main(
        ["--data.source", "jsb", "--data.path", str(pickle_path), "--run.name", "tiny", *TINY]
    )
    yield root, pickle_path, cli
    mp.undo()
