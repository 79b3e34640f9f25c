"""Find an assignment's checkpoints; load them safely (`weights_only=True`) with clear errors."""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import UserError
from common.paths import runs_root

if TYPE_CHECKING:
    import torch


class CheckpointError(UserError):
    """A checkpoint that is missing, unreadable, or made by something else."""


def run_dirs(assignment: str, root: Path | None = None) -> list[Path]:
    """This assignment's run folders that hold a checkpoint, oldest first."""
    base = (root or runs_root()) / assignment
    if not base.is_dir():
        return []
    runs = [
        d
        for d in base.iterdir()
        if (d / "checkpoints").is_dir() and any((d / "checkpoints").glob("*.ckpt"))
    ]
    return sorted(
        runs, key=lambda d: max(p.stat().st_mtime for p in (d / "checkpoints").glob("*.ckpt"))
    )


def _rank(run: Path) -> int:
    """Default trainings first, then quick ones, then experiment-comparison runs."""
    if run.name.startswith("compare-"):
        return 0
    return 1 if run.name.startswith("quick-") else 2


def latest_run(assignment: str, root: Path | None = None, any_run: bool = False) -> Path | None:
    """The latest run folder with a checkpoint under `root` (default: runs_root()), or None:
    with `any_run` the one written last, else (what demos and reports want) the latest default
    training, else the latest quick one, else the latest comparison run."""
    runs = run_dirs(assignment, root)
    if not runs:
        return None
    return runs[-1] if any_run else max(reversed(runs), key=_rank)


def find_checkpoint(
    assignment: str, which: str = "best", run: str | None = None, root: Path | None = None
) -> Path:
    """The best or last checkpoint of run `run` (default: the latest run) of an assignment."""
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', not {which!r}")
    root = root or runs_root()
    run_dir = root / assignment / run if run else latest_run(assignment, root)
    if run_dir is None:
        raise CheckpointError(
            f"no {assignment} checkpoint under {root / assignment}; train one first: "
            f"`portfolio train {assignment}` (or `python -m {assignment}.train`)"
        )
    for name in (f"{which}.ckpt", "last.ckpt", "best.ckpt"):
        path = run_dir / "checkpoints" / name
        if path.is_file():
            return path
    raise CheckpointError(
        f"run folder {run_dir} has no checkpoint; train it (again) with "
        f"`python -m {assignment}.train --run.name {run_dir.name}`"
    )


def load_checkpoint(path: str | Path, assignment: str | None = None) -> dict[str, Any]:
    """Load a checkpoint file with `weights_only=True` and check that it belongs to `assignment`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {path} does not exist; pass an existing .ckpt file or train first"
            + (f" (`portfolio train {assignment}`)" if assignment else "")
        )
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder; pass the .ckpt file inside it")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); delete it and train again")
    if path.suffix == ".onnx":
        raise CheckpointError(
            f"{path} is an ONNX export, not a checkpoint; pass the .ckpt it was exported from "
            "(only the speech demo runs an ONNX export)"
        )
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; unpickling any other
        # bytes (a text file) fails with whatever error the bytes happen to cause (KeyError, ...)
        raise CheckpointError(
            f"checkpoint {path} is truncated or not a PyTorch checkpoint (not a zip archive); "
            "use last.ckpt/best.ckpt of another run or train again"
        )
    import torch  # here, not at the top: finding a checkpoint (the ONNX demo) needs no torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's message is a paragraph on weights_only; its "Unsupported ..." line says what
        reason = next(
            (line.split(". ")[0] for line in str(err).splitlines() if "Unsupported" in line),
            "weights_only refused it",
        )
        raise CheckpointError(
            f"checkpoint {path} holds objects that cannot be loaded safely ({reason}); "
            "only load checkpoints you trained with this project"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointError(
            f"checkpoint {path} is truncated or not a PyTorch checkpoint ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'no detail'}); "
            "use last.ckpt/best.ckpt of another run or train again"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a Lightning checkpoint (no 'state_dict'); "
            "pass a checkpoint written by a training run"
        )
    if assignment is not None:
        owner = ckpt.get("mal2", {}).get("assignment")
        if owner != assignment:
            made_by = f"the {owner!r} assignment" if owner else "something outside this portfolio"
            raise CheckpointError(
                f"checkpoint {path} was made by {made_by}, not by {assignment!r}; pass a "
                f"checkpoint from runs/{assignment}/ (or `portfolio train {assignment}`)"
            )
    return ckpt


def _public(hparams: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hparams.items() if not k.startswith("_")}


def _build(cls: type, hparams: dict[str, Any], path: Path, what: str) -> Any:
    try:
        return cls(**hparams)
    except TypeError as err:
        raise CheckpointError(
            f"checkpoint {path} does not fit {cls.__name__} of this version ({what}: "
            f"{str(err).splitlines()[0]}); train a new one"
        ) from None


def load_module(
    path: str | Path,
    module_class: type,
    assignment: str,
    map_location: str | torch.device = "cpu",
):
    """Rebuild a LightningModule from its checkpoint alone, in eval mode (`load_trained`)."""
    return load_trained(
        assignment, path, module_class=module_class, map_location=map_location
    ).module


@dataclass
class Trained:
    """A checkpoint, rebuilt: its path, its eval-mode module, and the settings of the data it
    was trained on (`datamodule()` builds that data module again)."""

    path: Path
    module: Any
    data_hparams: dict[str, Any]

    def datamodule(self, datamodule_class: type, **overrides: Any) -> Any:
        """The checkpoint's data module, with `overrides` (e.g. another data folder) applied."""
        return _build(datamodule_class, {**self.data_hparams, **overrides}, self.path, "data")


def load_trained(
    assignment: str,
    ckpt: str | Path | None = None,
    *,
    which: str = "best",
    module_class: type | None = None,
    map_location: str | torch.device = "cpu",
) -> Trained:
    """The one loader of every evaluate, demo, benchmark and the app: checkpoint `ckpt` (default:
    the `which` checkpoint of the latest run) of `assignment`, checked and rebuilt as its
    registered module class (`Assignment.module`) or `module_class`."""
    if module_class is None:
        from common import registry

        module_class = registry.get(assignment).module_class()
    path = Path(ckpt) if ckpt else find_checkpoint(assignment, which)
    raw = load_checkpoint(path, assignment)
    module = _build(module_class, _public(raw.get("hyper_parameters", {})), path, "settings")
    try:
        module.load_state_dict(raw["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(
            f"checkpoint {path} does not fit {module_class.__name__} of this version "
            f"({str(err).splitlines()[0]}); train a new one"
        ) from None
    data = _public(raw.get("datamodule_hyper_parameters", {}))
    return Trained(path, module.to(map_location).eval(), data)
