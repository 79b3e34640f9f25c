"""The assignments register themselves here: each package's `assignment.py` defines `ASSIGNMENT`."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.errors import UserError

NAMES = ("speech", "handwriting", "music", "blackjack")

# The `## ` sections of every MODEL_CARD.md, in this order (`###` subsections are free).
MODEL_CARD_HEADINGS = (
    "Intended use",
    "Model",
    "Data",
    "Training",
    "Metrics and figures",
    "Limits",
    "Ethical impact",
)


class AssignmentUnavailable(UserError):
    """An assignment that is not installed (or has not landed yet)."""


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Headline:
    """The model card's headline figure, which `portfolio exam` and `list` compare runs with.

    Args:
        key: where it is in summary.json: "best_score", or a test or extra metric's name.
        card: the value the model card reports.
        tolerance: how much worse (in the assignment's mode) counts as far below the card.
        label: how to print it, e.g. "test accuracy".
    """

    key: str
    card: float
    tolerance: float
    label: str


@dataclass
class Assignment:
    """One portfolio assignment, as the `portfolio` command sees it. Its `assignment.py` states
    what differs; the rest follows from the package name by the layout every package shares.

    Args:
        name: package name, e.g. "speech".
        demo: the demo's module in the package ("play": `blackjack.play:main`) or a full
            "pkg.module:function", called with an argv list.
        module: "pkg.module:Class", the LightningModule its checkpoints rebuild
            (`common.checkpoints.load_trained`); default: the one that `pkg/module.py` defines.
        exam_demo_args: (checkpoint, output folder, examiner inputs) -> argv for `demo` in the
            oral exam; default: `exam_demo_args` of `pkg/assignment.py`.
        title: the course's title, e.g. "Recognizing speech", and
        summary: what the model does; default: both from the package docstring, "Title: summary."
        train: "pkg.train:main" (the default), called with an argv list; returns the CLI.
        evaluate: "pkg.evaluate:main" (the default), called with an argv list.
        package: the Python package holding configs/ and MODEL_CARD.md (default: `name`).
        overfit: the (train, validation) metrics whose final gap measures overfitting in
            `portfolio compare`, or None where the two losses measure different things.
        headline: the model card's headline figure (see Headline), or None.
        budget_share: its weight when `portfolio train all --budget` splits the minutes: the
            default training's minutes on a 2-core CPU without native bf16 (the targets).
    """

    name: str
    demo: str
    module: str | None = None
    exam_demo_args: Callable[..., list[str]] | None = None
    title: str = ""
    summary: str = ""
    train: str = ""
    evaluate: str = ""
    package: str | None = None
    budget_share: float = 1.0
    overfit: tuple[str, str] | None = ("train/loss", "val/loss")
    headline: Headline | None = None

    def __post_init__(self) -> None:
        package = self.package or self.name
        self.train = self.train or f"{package}.train:main"
        self.evaluate = self.evaluate or f"{package}.evaluate:main"
        if ":" not in self.demo:
            self.demo = f"{package}.{self.demo}:main"
        # assignment.py defines exam_demo_args before ASSIGNMENT: found while it is imported
        self.exam_demo_args = self.exam_demo_args or _resolve(
            f"{package}.assignment:exam_demo_args"
        )
        if not (self.title and self.summary):
            first = " ".join(importlib.import_module(package).__doc__.split("\n\n")[0].split())
            self.title, _, summary = first.partition(": ")
            self.summary = summary.rstrip(".")

    @property
    def mode(self) -> str:
        """The main validation metric's direction, "max" or "min": `run.mode` of its
        default.yaml, the one place that says it (RunOptions' "min" where it says nothing)."""
        default = self.configs_dir / "default.yaml"
        config = yaml.safe_load(default.read_text()) if default.is_file() else None
        return ((config or {}).get("run") or {}).get("mode", "min")

    @property
    def package_dir(self) -> Path:
        # find_spec also works when an editable install made the folder a namespace package
        spec = importlib.util.find_spec(self.package or self.name)
        return Path(next(iter(spec.submodule_search_locations)))

    @property
    def configs_dir(self) -> Path:
        return self.package_dir / "configs"

    @property
    def quick_config(self) -> Path:
        return self.configs_dir / "quick.yaml"

    @property
    def model_card(self) -> Path:
        return self.package_dir / "MODEL_CARD.md"

    def experiment_configs(self) -> list[Path]:
        return sorted((self.configs_dir / "experiments").glob("*.yaml"))

    def module_class(self) -> type:
        if self.module:
            return _resolve(self.module)
        from lightning import LightningModule

        module = importlib.import_module(f"{self.package or self.name}.module")
        found = [
            c
            for c in vars(module).values()
            if isinstance(c, type)
            and issubclass(c, LightningModule)
            and c.__module__ == module.__name__
        ]
        if len(found) != 1:
            raise AssignmentUnavailable(
                f"{module.__file__} defines {len(found)} LightningModules; name the one its "
                "checkpoints rebuild in Assignment.module"
            )
        return found[0]

    def run_train(self, argv: list[str]) -> Any:
        return _resolve(self.train)(argv)

    def run_evaluate(self, argv: list[str]) -> Any:
        return _resolve(self.evaluate)(argv)

    def run_demo(self, argv: list[str]) -> Any:
        return _resolve(self.demo)(argv)


def get(name: str) -> Assignment:
    """The registered assignment `name`; AssignmentUnavailable if it is unknown or not installed."""
    if name not in NAMES:
        raise AssignmentUnavailable(
            f"unknown assignment {name!r}; choose one of: {', '.join(NAMES)}"
        )
    try:
        module = importlib.import_module(f"{name}.assignment")
    except ModuleNotFoundError as err:
        raise AssignmentUnavailable(
            f"assignment {name!r} is not available in this installation ({err.msg}); "
            "it may not have landed yet"
        ) from None
    return module.ASSIGNMENT


def available() -> dict[str, Assignment | AssignmentUnavailable]:
    """Every known assignment, mapped to its registration or to the reason it is unavailable."""
    out: dict[str, Assignment | AssignmentUnavailable] = {}
    for name in NAMES:
        try:
            out[name] = get(name)
        except AssignmentUnavailable as err:
            out[name] = err
    return out
