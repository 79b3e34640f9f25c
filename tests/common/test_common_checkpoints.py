"""Finding checkpoints and loading them safely, with clear errors for every kind of bad file."""

import os
import pickle

import pytest
import torch

from common.checkpoints import (
    CheckpointError,
    find_checkpoint,
    latest_run,
    load_checkpoint,
    load_module,
    load_trained,
)
from tests.common.tiny import TinyModule, main


@pytest.fixture
def trained(runs):
    main(["--run.name", "first", "--trainer.max_epochs", "2"])
    main(["--run.name", "second", "--trainer.max_epochs", "2"])
    return runs


def test_find_best_and_last_of_latest_run(trained):
    assert latest_run("tiny") == trained / "tiny" / "second"
    assert find_checkpoint("tiny") == trained / "tiny" / "second" / "checkpoints" / "best.ckpt"
    assert find_checkpoint("tiny", "last").name == "last.ckpt"
    assert find_checkpoint("tiny", run="first").parent.parent.name == "first"
    # touching the first run's checkpoint makes it the latest
    os.utime(trained / "tiny" / "first" / "checkpoints" / "last.ckpt")
    assert latest_run("tiny").name == "first"


def test_no_checkpoint_says_how_to_train(runs):
    with pytest.raises(CheckpointError, match="portfolio train speech"):
        find_checkpoint("speech")


def test_load_module_rebuilds_from_checkpoint_alone(trained):
    path = find_checkpoint("tiny")
    module = load_module(path, TinyModule, "tiny")
    assert not module.training
    state = torch.load(path, weights_only=True)["state_dict"]
    assert torch.equal(module.net[0].weight, state["net.0.weight"])


class _Data:
    def __init__(self, n: int = 256, batch_size: int = 32) -> None:
        self.n, self.batch_size = n, batch_size


def test_load_trained_gives_path_module_and_data_settings(trained):
    first = trained / "tiny" / "first" / "checkpoints" / "last.ckpt"
    latest = load_trained("tiny", module_class=TinyModule)  # default: the latest run's best
    assert latest.path == find_checkpoint("tiny") and not latest.module.training
    given = load_trained("tiny", first, module_class=TinyModule)
    state = torch.load(first, weights_only=True)
    assert given.path == first
    assert torch.equal(given.module.net[0].weight, state["state_dict"]["net.0.weight"])
    given.data_hparams = {"n": 64, "batch_size": 8}  # as a data module's saved settings
    dm = given.datamodule(_Data, batch_size=4)  # an override wins over the saved value
    assert (dm.n, dm.batch_size) == (64, 4)
    with pytest.raises(CheckpointError, match="does not fit _Data .*data: .*nope"):
        given.datamodule(_Data, nope=1)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_trained("tiny", trained / "missing.ckpt", module_class=TinyModule)


def test_missing_empty_truncated_and_foreign_files(trained, tmp_path):
    good = find_checkpoint("tiny")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.ckpt", "tiny")
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(empty, "tiny")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(truncated, "tiny")
    with pytest.raises(CheckpointError, match="made by the 'tiny' assignment, not by 'music'"):
        load_checkpoint(good, "music")
    plain = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="not a Lightning checkpoint"):
        load_checkpoint(plain, "tiny")
    untagged = tmp_path / "untagged.ckpt"
    torch.save({"state_dict": {}}, untagged)
    with pytest.raises(CheckpointError, match="outside this portfolio"):
        load_checkpoint(untagged, "tiny")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_unsafe_pickle_is_refused(tmp_path):
    evil = tmp_path / "evil.ckpt"
    torch.save(
        {"state_dict": {}, "payload": _Evil()}, evil, pickle_protocol=pickle.HIGHEST_PROTOCOL
    )
    with pytest.raises(CheckpointError, match="cannot be loaded safely") as refused:
        load_checkpoint(evil, "tiny")
    assert "\n" not in str(refused.value)  # torch's paragraph reduced to its "Unsupported" line
    assert "Unsupported" in str(refused.value)


@pytest.mark.parametrize("junk", ["hello this is not audio\n", "not a checkpoint\n"])
def test_a_text_file_is_named_not_a_checkpoint(tmp_path, junk):
    """A text file given as --ckpt: unpickling its bytes raised KeyError: 101 (the first) or a
    paragraph of torch's weights_only advice (the second); now one line naming the file."""
    text = tmp_path / "notes.txt"
    text.write_text(junk)
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint") as refused:
        load_checkpoint(text, "tiny")
    assert "\n" not in str(refused.value)
    with pytest.raises(CheckpointError, match="is an ONNX export, not a checkpoint"):
        load_checkpoint(text.rename(tmp_path / "best.onnx"), "tiny")


def test_module_of_another_shape_is_a_clear_error(trained):
    class Other(TinyModule):
        def __init__(self, **kwargs):
            kwargs["hidden"] = 3
            super().__init__(**kwargs)

    with pytest.raises(CheckpointError, match="does not fit Other"):
        load_module(find_checkpoint("tiny"), Other, "tiny")


def test_demos_prefer_default_runs_over_quick_and_comparison_runs(runs):
    for i, name in enumerate(["quick-1", "full", "quick-2", "compare-3-lr"]):
        ckpt = runs / "tiny" / name / "checkpoints" / "last.ckpt"
        ckpt.parent.mkdir(parents=True)
        ckpt.write_bytes(b"x")
        os.utime(ckpt, (1000 + i, 1000 + i))
    assert latest_run("tiny").name == "full"
    assert latest_run("tiny", any_run=True).name == "compare-3-lr"  # what --run.resume last uses
    (runs / "tiny" / "full" / "checkpoints" / "last.ckpt").unlink()
    assert latest_run("tiny").name == "quick-2"
