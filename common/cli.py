"""The shared training entry point: a LightningCLI that gives every run a folder of its own.

    python -m speech.train --config speech/configs/quick.yaml --model.lr 3e-3 --trainer.max_epochs 5
    python -m speech.train --print_config
    python -m speech.train --run.name long --run.resume last        # continue after Ctrl-C / a kill
    python -m speech.train --trainer.devices 2 --trainer.strategy ddp  # same code, many processes

Lightning's own `--trainer.*` options pass through unchanged; `--run.*` are ours (see RunOptions).
Here: parsing and the trainer (callbacks, loggers) and the train_main flow; the run folder's
files and locks are in common.runs, summary.json in common.summary. Public Lightning API only.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import os
import re
import signal
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from jsonargparse import DefaultHelpFormatter, set_parsing_settings
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import (
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    RichProgressBar,
)
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.plugins import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.model_helpers import is_overridden

from common.budget import BudgetPlanner
from common.cache import replacing, save_atomic
from common.callbacks import EpochPrinter, PortfolioCallback
from common.checkpoints import CheckpointError, latest_run, load_checkpoint
from common.errors import entry_point, naming
from common.media import MediaCallback
from common.paths import runs_root
from common.precision import cpu_has_bf16
from common.runs import (
    RunError,
    RunLock,
    empty_folder,
    refuse_reuse,
    run_info,
    write_json,
)
from common.seed import seed_everything
from common.summary import stopped_by, write_summary

# `portfolio` calls the entry points in-process with an argv list; that is intended here.
warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within")
warnings.filterwarnings("ignore", message=".*smaller than the logging interval")
warnings.filterwarnings("ignore", message=".*treespec, LeafSpec.*")
# Lightning advertises a cloud logger on every run; this portfolio is offline.
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
    lambda record: "litlogger" not in record.getMessage()
)
# LightningCLI seeds before before_instantiate_classes seeds the same way again, quietly.
logging.getLogger("lightning.fabric.utilities.seed").addFilter(
    lambda record: "Seed set to" not in record.getMessage()
)

_RUN_NAME_ENV = "MAL2_RUN_NAME"  # lets DDP worker processes find the run folder of rank zero
# `--help` describes RunOptions' fields by their attribute docstrings.
set_parsing_settings(docstring_parse_attribute_docstrings=True)

# The `--trainer.*` options that `--help` lists; the others still parse (in yaml files too).
TRAINER_OPTIONS_SHOWN = {
    *("accelerator", "strategy", "devices", "num_nodes", "precision", "fast_dev_run"),
    *("max_epochs", "min_epochs", "max_steps", "max_time", "overfit_batches"),
    *("limit_train_batches", "limit_val_batches", "limit_test_batches"),
    *("val_check_interval", "check_val_every_n_epoch", "num_sanity_val_steps"),
    *("log_every_n_steps", "enable_progress_bar", "accumulate_grad_batches"),
    *("gradient_clip_val", "deterministic", "detect_anomaly"),
}


class HelpFormatter(DefaultHelpFormatter):
    """`--help` without the trainer options a run here does not use (they still parse and are
    still in `--print_config` and the run's config.yaml)."""

    def add_argument(self, action: argparse.Action) -> None:
        name = action.dest.removeprefix("trainer.").removesuffix(".help")
        if not action.dest.startswith("trainer.") or name in TRAINER_OPTIONS_SHOWN:
            super().add_argument(action)


def first_sentence(text: str) -> str:
    """The first sentence of a (docstring) description, on one line."""
    return re.split(r"(?<=\.)\s|(?<=[a-z]\.)(?=[A-Z])", " ".join(text.split()), maxsplit=1)[0]


@dataclass
class RunOptions:
    """The run (`--run.*`): where it lives, how it checkpoints, stops and resumes."""

    name: str | None = None
    """Run folder name under runs/<assignment>/ (default: a timestamp)."""
    root: str | None = None
    """Runs root (default: $MAL2_RUNS or ./runs)."""
    monitor: str = "val/loss"
    """Metric that picks the best checkpoint and drives EarlyStopping."""
    mode: str = "min"
    """'min' or 'max' for the monitored metric."""
    early_stopping: bool = False
    """Stop when the monitored metric has not improved for `patience` validation rounds."""
    patience: int = 5
    """EarlyStopping patience, in validation rounds."""
    min_delta: float = 0.0
    """Smallest change that counts as an improvement for EarlyStopping."""
    resume: str | None = None
    """'last' (this run's last checkpoint, or the latest run's) or a checkpoint path."""
    deterministic: bool = False
    """Use torch's deterministic algorithms."""
    test: bool = True
    """After fit, evaluate the best checkpoint on the test split (when the module has test_step)."""
    media: bool = True
    """After each validation, log the assignment's figures and audio to TensorBoard."""
    budget: float | None = None
    """Minutes for the whole run: fewer steps, same learning-rate schedule compressed to end
    annealed (common.budget). Never longer than the config's epochs."""
    overwrite: bool = False
    """Replace an earlier run of this name (its folder is emptied first); refused otherwise."""


# TensorBoard's writer thread wakes at least this often (its default: 120 s). A Ctrl-C or SIGTERM
# that lands inside the writer's queue hand-over loses that wake-up, and closing the logger then
# waited until the thread's next flush: up to 2 minutes of "attempting graceful shutdown".
TB_FLUSH_SECS = 5


class MetricsCSV(Logger):
    """metrics.csv directly in the run folder, written at every logging step so that a killed run
    keeps it; a resumed run continues the file, a fresh run of the same name replaces it.
    (Lightning's CSVLogger deletes the file whenever the folder is not empty, resume or not.)

    Args:
        run_dir: the run folder.
        append: continue the existing file (a resumed run).
    """

    def __init__(self, run_dir: Path, append: bool) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "metrics.csv"
        self._append = append
        self._keys: list[str] | None = None  # the file's columns, once it is opened
        self._hparams: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return ""

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return str(self.run_dir)

    def _open(self) -> list[str]:
        if self._keys is None:
            self._keys = []
            if self.path.is_file() and self._append:
                with self.path.open(newline="") as f:
                    self._keys = sorted(next(csv.reader(f), []))
            elif self.path.is_file():
                self.path.unlink()
        return self._keys

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        from lightning.pytorch.core.saving import save_hparams_to_yaml

        if isinstance(params, argparse.Namespace):
            params = vars(params)
        self._hparams.update(params or {})
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "hparams.yaml"
        with naming(path):  # a full disk: name the file
            save_hparams_to_yaml(path, self._hparams)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        row = {k: v.item() if isinstance(v, torch.Tensor) else v for k, v in metrics.items()}
        row["step"] = step
        keys = self._open()
        exists = self.path.is_file()
        new = set(row) - set(keys)
        if new:  # a new column: rewrite the file under the wider header (whole, or not at all)
            keys[:] = sorted({*keys, *new})
            old = []
            if exists:
                with self.path.open(newline="") as f:
                    old = list(csv.DictReader(f))
            with replacing(self.path) as raw, io.TextIOWrapper(raw, newline="") as f:
                writer = csv.DictWriter(f, fieldnames=keys)
                writer.writeheader()
                writer.writerows(old)
            exists = True
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with naming(self.path), self.path.open("a" if exists else "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            if not exists:
                writer.writeheader()
            writer.writerow(row)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written beside their final path and renamed into place (`save_atomic`).

    Lightning writes one in the system's temporary folder and moves it; where that folder is on
    another disk (a tmpfs /tmp), the move copies into the checkpoint itself, so a full disk or a
    kill during the copy leaves it truncated, and a full /tmp stopped every run at its first
    checkpoint. Here the new file needs room beside the old one until the rename.
    """

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        if storage_options is not None:  # Lightning's own refusal
            return super().save_checkpoint(checkpoint, path, storage_options)
        save_atomic(checkpoint, Path(path))


class PortfolioCLI(LightningCLI):
    """LightningCLI with run folders, checkpoints, loggers and safe resume for one assignment."""

    def __init__(
        self,
        model_class: type[LightningModule],
        datamodule_class: type[LightningDataModule] | None = None,
        *,
        assignment: str,
        args: list[str] | None = None,
        default_config_files: list[str | Path] | None = None,
        links: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.assignment = assignment
        self.links = links or {}  # e.g. {"data.labels": "model.labels"}: set once, in --data
        self.start = time.monotonic()  # a --run.budget counts from here
        self.run_dir: Path | None = None
        self.summary: dict[str, Any] = {}
        if default_config_files is None:
            pkg_default = Path(sys.modules[model_class.__module__].__file__).parent
            default_yaml = pkg_default / "configs" / "default.yaml"
            default_config_files = [default_yaml] if default_yaml.exists() else []
        parser_kwargs = kwargs.pop("parser_kwargs", {})
        parser_kwargs.setdefault("default_config_files", [str(p) for p in default_config_files])
        parser_kwargs.setdefault("prog", f"python -m {assignment}.train")
        parser_kwargs.setdefault("formatter_class", HelpFormatter)
        parser_kwargs.setdefault(
            "usage", "%(prog)s [--config FILE] [--print_config] [--OPTION VALUE ...]"
        )
        parser_kwargs.setdefault(
            "description",
            f"Train the {assignment} model: one run folder under runs/{assignment}/ with its "
            "config, checkpoints, metrics and plots.",
        )
        super().__init__(
            model_class,
            datamodule_class,
            args=args,
            run=False,
            save_config_kwargs={"overwrite": True},
            seed_everything_default=42,
            parser_kwargs=parser_kwargs,
            trainer_defaults={"log_every_n_steps": 10},
            auto_configure_optimizers=False,  # every module configures its own optimizers
            **kwargs,
        )

    # --- parsing ---------------------------------------------------------------------------
    def add_core_arguments_to_parser(self, parser) -> None:
        """Lightning's `--trainer.*`, `--model.*` and `--data.*` (none where the module brings
        its own loaders)."""
        parser.add_lightning_class_args(self.trainer_class, "trainer")
        parser.groups["trainer"].title = "Lightning's Trainer (`--trainer.*`)"
        defaults = {f"trainer.{k}": v for k, v in self.trainer_defaults.items()}
        parser.set_defaults({k: v for k, v in defaults.items() if k != "trainer.callbacks"})
        parser.add_lightning_class_args(self.model_class, "model")
        if self.datamodule_class is not None:
            parser.add_lightning_class_args(self.datamodule_class, "data")

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_class_arguments(RunOptions, "run")
        for source, target in self.links.items():  # values that must agree, given once
            parser.link_arguments(source, target)
        for action in parser._actions:  # every description in one line
            if action.help and action.help != argparse.SUPPRESS:
                action.help = first_sentence(action.help)

    def _check_values(self) -> None:
        """Values that would otherwise fail deep inside torch or train nothing, refused here."""
        lr = (self.config.get("model") or {}).get("lr")  # every module's learning rate
        if isinstance(lr, (int, float)) and not (math.isfinite(lr) and lr >= 0):
            raise RunError(
                f"--model.lr {lr}: give a learning rate of 0 or more, e.g. 1e-3 (0 freezes the "
                "weights)"
            )
        trainer = self.config.get("trainer") or {}
        epochs = trainer.get("max_epochs")
        if epochs is not None and (epochs == 0 or epochs < -1):
            raise RunError(
                f"--trainer.max_epochs {epochs}: give 1 or more epochs (-1: until stopped)"
            )

    def before_instantiate_classes(self) -> None:
        seed = self.config.get("seed_everything")  # LightningCLI has drawn or seeded it
        if seed is not False:  # seed again, the one way: workers and --run.deterministic too
            self.config["seed_everything"] = seed_everything(
                int(seed), deterministic=self.config.run.deterministic
            )
        self._check_values()
        run = self.config.run
        if run.budget is not None and not run.budget > 0:
            raise RunError(
                f"--run.budget {run.budget}: give the run's time in minutes, a positive "
                "number (e.g. --run.budget 5), or leave it out to train the config's epochs"
            )
        root = Path(run.root) if run.root else runs_root()
        self.resume_path, self.resume_shapes = None, {}
        name = run.name
        if run.resume:
            self.resume_path, name = self._resolve_resume(run.resume, root, name)
        if name is None:
            # DDP workers re-run this script; they must land in rank zero's folder.
            name = os.environ.get(_RUN_NAME_ENV) or datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise RunError(f"--run.name {name!r}: give a plain folder name (no '/' and not '.')")
        self.run_name = name
        self.run_dir = root / self.assignment / name
        if run.resume and run.overwrite:
            raise RunError("--run.resume and --run.overwrite contradict each other; pick one")
        if not run.resume and not run.overwrite and rank_zero_only.rank == 0:
            refuse_reuse(self.run_dir, self.assignment)
        os.environ[_RUN_NAME_ENV] = name
        self.config.run.name = name

    def _resolve_resume(self, resume: str, root: Path, name: str | None) -> tuple[Path, str]:
        if resume == "last":
            run_dir = (
                root / self.assignment / name
                if name
                else latest_run(self.assignment, root, any_run=True)
            )
            if run_dir is None:
                raise CheckpointError(
                    f"--run.resume last: no earlier {self.assignment} run under {root}; "
                    "start a run first (drop --run.resume)"
                )
            path = run_dir / "checkpoints" / "last.ckpt"
        else:
            path = Path(resume)
        ckpt = load_checkpoint(path, self.assignment)  # a clear error for missing/broken files
        self.resume_shapes = {
            k: v.shape for k, v in ckpt["state_dict"].items() if torch.is_tensor(v)
        }
        epochs = (self.config.get("trainer") or {}).get("max_epochs")
        done = ckpt.get("epoch")  # the index of its last complete epoch
        if isinstance(done, int) and epochs not in (None, -1) and done > epochs:  # as Lightning
            raise RunError(
                f"--run.resume: {path} holds {done + 1} epochs, more than --trainer.max_epochs "
                f"{epochs}; resume with the run's own config (--trainer.max_epochs {done + 1} or "
                "more), or start a new run"
            )
        if name is None:
            name = path.parent.parent.name if path.parent.name == "checkpoints" else None
        return path, name

    # --- trainer ---------------------------------------------------------------------------
    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        run = self.config.run
        kept = dict(  # one file each; a rerun of a run name replaces its files
            dirpath=self.run_dir / "checkpoints",
            save_top_k=1,
            auto_insert_metric_name=False,
            enable_version_counter=False,
        )
        watch = {"monitor": run.monitor, "mode": run.mode}  # for the best checkpoint and stopping
        callbacks = [
            ModelCheckpoint(filename="best", **watch, **kept),
            # The latest state after every epoch. (ModelCheckpoint(save_last=True) writes
            # last.ckpt only when a new best is saved, so a resume repeated epochs.) It comes
            # second, so the best-checkpoint state it holds is already up to date.
            ModelCheckpoint(filename="last", monitor=None, **kept),
            LearningRateMonitor(logging_interval="epoch"),
            PortfolioCallback(self.assignment),
        ]
        if run.media:
            callbacks.append(MediaCallback(self.assignment))
        if run.budget is not None:
            callbacks.append(BudgetPlanner(run.budget, self.start))
        if run.early_stopping:
            callbacks.append(EarlyStopping(**watch, patience=run.patience, min_delta=run.min_delta))
        trainer_cfg = self.config.get("trainer") or {}
        if trainer_cfg.get("enable_progress_bar", True) is not False:
            if sys.stdout.isatty():
                callbacks.append(RichProgressBar())
            else:  # logs and CI: one plain line per epoch instead of a redrawn bar
                kwargs["enable_progress_bar"] = False
                callbacks.append(EpochPrinter())
        kwargs["logger"] = [
            MetricsCSV(self.run_dir, append=self.resume_path is not None),
            TensorBoardLogger(
                save_dir=self.run_dir, name="", version="tensorboard", flush_secs=TB_FLUSH_SECS
            ),
        ]
        kwargs["default_root_dir"] = str(self.run_dir)
        if not trainer_cfg.get("plugins"):  # the user's --trainer.plugins win
            kwargs["plugins"] = [AtomicCheckpointIO()]
        kwargs["callbacks"] = (list(trainer_cfg.get("callbacks") or [])) + callbacks
        return super().instantiate_trainer(**kwargs)

    # --- running ---------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Fit (resuming if asked), test the best checkpoint, write plots and summary.json."""
        try:
            return self._fit()
        finally:  # the next run in this process (compare, train all) picks its own name
            os.environ.pop(_RUN_NAME_ENV, None)

    def _fit(self) -> dict[str, Any]:
        trainer, model, dm = self.trainer, self.model, self.datamodule
        self._refuse_other_settings(model)
        with RunLock(self.run_dir) if trainer.is_global_zero else nullcontext():
            if trainer.is_global_zero and self.config.run.overwrite:
                empty_folder(self.run_dir)  # asked for: --run.overwrite
            return self._fit_locked(trainer, model, dm)

    def _refuse_other_settings(self, model) -> None:
        """A resume whose model settings give other weight shapes than the checkpoint's (a quick
        run resumed without its --config) failed in load_state_dict with a traceback, after the
        run's config.yaml had been replaced by the new settings; refused before anything is
        written."""
        own = model.state_dict()
        other = [k for k, shape in self.resume_shapes.items() if k in own and own[k].shape != shape]
        if other:
            key, config = other[0], self.run_dir / "config.yaml"
            raise RunError(
                f"--run.resume: {self.resume_path} was trained with other model settings "
                f"({len(other)} weights differ, e.g. {key}: {list(self.resume_shapes[key])} there, "
                f"{list(own[key].shape)} here); resume it with its own: `python -m "
                f"{self.assignment}.train --config {config} --run.resume last`"
            )

    def _fit_locked(self, trainer, model, dm) -> dict[str, Any]:
        self._write_run_info()
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                if self.resume_path:  # a resumed run's folder holds its checkpoints, as it should
                    warnings.filterwarnings("ignore", "Checkpoint directory .* is not empty")
                trainer.fit(model, datamodule=dm, ckpt_path=self.resume_path, weights_only=True)
        except SystemExit as stop:
            if trainer.interrupted:  # Ctrl-C or SIGTERM: Lightning shut down cleanly
                signal.signal(signal.SIGINT, signal.default_int_handler)
                if (self.run_dir / "checkpoints" / "last.ckpt").is_file():
                    hint = (
                        "last.ckpt holds the last complete epoch. Resume with `python -m "
                        f"{self.assignment}.train --config {self.run_dir / 'config.yaml'} "
                        "--run.resume last` (its own settings)"
                    )
                else:
                    hint = (
                        "it stopped before the first epoch ended, so there is no checkpoint to "
                        "resume: run the same command again (data already prepared is reused)"
                    )
                print(f"interrupted; {hint}", file=sys.stderr)
            if isinstance(stop, SIGTERMException):  # Lightning raises it with exit code 0
                raise SystemExit(128 + signal.SIGTERM) from None
            if trainer.interrupted:  # Ctrl-C: Lightning exits 1, a shell command 130
                raise SystemExit(128 + signal.SIGINT) from None
            raise
        wall = time.perf_counter() - start
        best = trainer.checkpoint_callback.best_model_path or None
        self.stopped_by = stopped_by(trainer)  # before trainer.test reloads callback states

        test_metrics: dict[str, float] = {}
        if self.config.run.test and is_overridden("test_step", model) and best:
            results = trainer.test(model, datamodule=dm, ckpt_path=best, weights_only=True)
            test_metrics = {k: float(v) for r in results for k, v in r.items()}
        if trainer.is_global_zero:
            self.summary = write_summary(self, wall, best, test_metrics)
        return self.summary

    @rank_zero_only
    def _write_run_info(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        info = run_info(self.assignment, self.run_name)
        info["seed"] = self.config.get("seed_everything")
        info["resumed_from"] = str(self.resume_path) if self.resume_path else None
        info["world_size"] = self.trainer.world_size
        write_json(self.run_dir / "run.json", info)


@entry_point
def train_main(
    model_class: type[LightningModule],
    datamodule_class: type[LightningDataModule] | None = None,
    args: list[str] | None = None,
    *,
    assignment: str | None = None,
    bf16_where_native: bool = False,
    links: dict[str, str] | None = None,
) -> PortfolioCLI:
    """Parse the command line, train, test and summarise; what every `<pkg>.train.main` calls.

    assignment: the name of the runs' folder, by default the package of `model_class`.

    bf16_where_native: bf16 mixed precision on a CPU with native bfloat16 (common.precision),
    float32 elsewhere; a `--trainer.precision` given on the command line or in a config wins.
    links: settings that must agree, source -> target (`{"data.labels": "model.labels"}`):
    the target takes the source's value and is not an option of its own.
    """
    args = list(sys.argv[1:] if args is None else args)
    assignment = assignment or model_class.__module__.partition(".")[0]
    # oneDNN (torch's CPU convolutions) keeps 1,024 compiled primitives, one per layer, pass and
    # batch shape; speech's CNN sees a new batch size at most steps (its eSpeak rows) and needs
    # about 3,000, so it recompiled ~2,000 per epoch (0.5 s): a float32 epoch 8 % shorter with
    # room for them on one thread (none measurable on two), the same numbers. Read at oneDNN's
    # first use; a value set by the user wins.
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8192")
    native_bf16 = bf16_where_native and cpu_has_bf16()
    if native_bf16:  # first, so that the user's choice comes later
        args = ["--trainer.precision", "bf16-mixed", *args]
    cli = PortfolioCLI(model_class, datamodule_class, assignment=assignment, args=args, links=links)
    cli.fit()
    if cli.summary:
        from common.demo import json_text

        print(json_text(cli.summary))
    return cli
