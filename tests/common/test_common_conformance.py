"""Every registered assignment follows the recipe in DEVELOPERS.md ("Adding an assignment"):
the same files, entry points, `__main__` form, evaluate edge (flags and report), plots in
plots.py, model-card sections and a benchmark that prints the shared verdict table."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from common import registry

ROOT = Path(__file__).resolve().parents[2]
FILES = (
    "__init__.py", "assignment.py", "data.py", "model.py", "module.py", "train.py",
    "evaluate.py", "plots.py", "MODEL_CARD.md", "configs/default.yaml", "configs/quick.yaml",
)  # fmt: skip
MAIN_FORM = '\n\nif __name__ == "__main__":\n    command(main)\n'


@pytest.fixture(params=registry.NAMES)
def assignment(request) -> registry.Assignment:
    return registry.get(request.param)


def test_package_has_the_shared_files(assignment):
    missing = [f for f in FILES if not (assignment.package_dir / f).is_file()]
    assert missing == []
    assert list((assignment.package_dir / "configs" / "experiments").glob("*.yaml"))
    tests = ROOT / "tests" / assignment.name
    assert (tests / "conftest.py").is_file() and list(tests.glob(f"test_{assignment.name}_*.py"))


def test_entry_points_are_train_evaluate_and_a_demo_main(assignment):
    name = assignment.name
    assert (assignment.train, assignment.evaluate) == (
        f"{name}.train:main",
        f"{name}.evaluate:main",
    )
    assert re.fullmatch(rf"{name}\.[a-z_]+:main", assignment.demo)
    for ref in (assignment.train, assignment.evaluate, assignment.demo):
        module = importlib.import_module(ref.partition(":")[0])
        main = module.main
        assert hasattr(main, "__wrapped__"), f"{ref}: not wrapped in common.errors.entry_point"
        first = next(iter(inspect.signature(main.__wrapped__).parameters.values()))
        assert (first.name, first.default) == ("argv", None), ref
        assert Path(module.__file__).read_text().endswith(MAIN_FORM), ref


def test_registration_derives_title_summary_and_module_class(assignment):
    # the package docstring starts "Title: summary."; module.py defines one LightningModule
    from lightning.pytorch import LightningModule

    doc = " ".join(importlib.import_module(assignment.name).__doc__.split())
    assert doc.startswith(f"{assignment.title}: {assignment.summary}")
    assert assignment.title[0].isupper() and len(assignment.summary.split()) >= 5
    cls = assignment.module_class()
    assert issubclass(cls, LightningModule) and cls.__module__ == f"{assignment.name}.module"
    assert inspect.signature(assignment.exam_demo_args).parameters.keys() >= {"ckpt", "out_dir"}


def test_evaluate_has_the_shared_flags_and_report(assignment):
    # common.evaluation gives the flags and the report's keys; test_common_evaluate_edge.py
    # checks each evaluate's --help and the report
    text = (assignment.package_dir / "evaluate.py").read_text()
    assert "from common import evaluation" in text
    assert "evaluation.add_arguments(" in text and "evaluation.report(" in text


def test_figures_are_drawn_in_plots_py_only(assignment):
    drawing = re.compile(r"savefig|imsave|^\s*(import|from) matplotlib", re.M)
    elsewhere = [
        path.name
        for path in sorted(assignment.package_dir.glob("*.py"))
        if path.name != "plots.py" and drawing.search(path.read_text())
    ]
    assert elsewhere == []
    assert "matplotlib.use" not in (assignment.package_dir / "plots.py").read_text()


def test_model_card_has_the_shared_sections_in_order(assignment):
    text = assignment.model_card.read_text()
    assert re.findall(r"^## (.+?)\s*$", text, re.M) == list(registry.MODEL_CARD_HEADINGS)
    assert len(re.findall(r"^# ", text, re.M)) == 1  # one title, then the sections


def test_benchmark_prints_the_shared_verdict_table(assignment):
    text = (ROOT / "benchmarks" / f"{assignment.name}.py").read_text()
    assert "from benchmarks.verdict import" in text and "return verdict(" in text
    assert "def main(argv: list[str] | None = None) -> int:" in text
    assert text.endswith(MAIN_FORM)
