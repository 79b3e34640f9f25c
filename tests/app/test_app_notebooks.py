"""notebooks/<assignment>.ipynb run top to bottom (quick settings), and are committed clean.

Executed with nbclient in a fresh kernel each (two at a time), with MAL2_NOTEBOOK_QUICK=1 (tiny
trainings), runs and data in a temporary folder. Marked `once`: CI runs them in its first pass only.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("speech", "handwriting", "music", "blackjack")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs_and_installs_on_colab(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert "google.colab" in code[0].source and "pip" in code[0].source
    text = "\n".join(c.source for c in nb.cells)
    assert (
        "## 1. Data" in text or "## 1. The environment" in text
    )  # RL: the environment is the data
    for step in ("## 2. Model", "## 3. A short training", "## 4. Evaluation", "## 5. Demo"):
        assert step in text, step
    assert "compare(" in text  # the coding experiment: three configurations compared


def execute(name: str, root: Path) -> tuple[nbformat.NotebookNode, float | BaseException]:
    """notebooks/<name>.ipynb run in a fresh kernel, runs and data under root: (the notebook with
    its outputs, seconds) or (the notebook, the error that stopped it)."""
    from nbclient import NotebookClient

    env = {**os.environ, "MAL2_NOTEBOOK_QUICK": "1", "MAL2_RUNS": str(root / "runs"),
           "MAL2_DATA": str(root / "data"), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}  # fmt: skip
    env.pop("MAL2_RUN_NAME", None)
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    try:
        client.execute(env=env)
    except Exception as err:  # reported by that notebook's test, not by the others'
        return nb, err
    return nb, time.perf_counter() - start


@pytest.fixture(scope="module")
def executed(request, tmp_path_factory) -> dict[str, tuple]:
    """The notebooks this session runs, two at a time: each kernel trains at one thread
    (OMP_NUM_THREADS=1), so two share the two cores a notebook alone leaves half idle.
    {name: (root, notebook, seconds or error)}, the longest (speech) started first."""
    wanted = [n for n in NOTEBOOKS if any(f"[{n}]" in i.nodeid for i in request.session.items)]
    roots = {name: tmp_path_factory.mktemp(f"notebook-{name}") for name in wanted}
    with ThreadPoolExecutor(2) as pool:
        done = {name: pool.submit(execute, name, roots[name]) for name in wanted}
    return {name: (roots[name], *job.result()) for name, job in done.items()}


@pytest.mark.once
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, executed):
    root, nb, seconds = executed[name]
    if isinstance(seconds, BaseException):
        raise seconds
    print(f"{name}.ipynb: {seconds:.0f} s (beside another notebook)")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4, f"{len(images)} inline pictures"  # data, curves, demo, comparison
    assert (root / "runs" / name / "notebook" / "checkpoints" / "best.ckpt").is_file()
    assert list((root / "runs" / name).glob("compare-*/comparison.md"))
