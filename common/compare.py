"""The course's coding experiments: train several configurations and compare them side by side.

The default configuration is the first row (the baseline); each row: wall time, epochs, why it
stopped, best validation metric, final losses and their overfitting gap. Writes comparison.csv,
.md and .png (learning curves overlaid). Ctrl-C or SIGTERM stops the whole comparison and keeps
what finished (`CompareInterrupted`).
"""

from __future__ import annotations

import csv
import io
import math
import shlex
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from common.paths import runs_root
from common.runs import read_metrics, run_config

COLUMNS = (
    "config", "status", "reason", "wall_time_s", "epochs", "stopped_by", "early_stopped", "monitor",
    "best", "final_train_loss", "final_val_loss", "overfit_gap", "run_dir",
)  # fmt: skip
BASELINE = "default"


class CompareInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped a comparison; `out_dir` holds what finished."""

    def __init__(self, out_dir: Path, signum: int, run: str) -> None:
        self.out_dir, self.signum, self.run = out_dir, signum, run
        name = signal.Signals(signum).name
        super().__init__(f"{name} during run {run!r}: the comparison stopped")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _row(name: str, summary: dict[str, Any], overfit: tuple[str, str] | None) -> dict[str, Any]:
    gap = None
    if overfit is not None:
        epochs = read_metrics(Path(summary["run_dir"]) / "metrics.csv")
        train, val = (next((e[k] for e in reversed(epochs) if k in e), None) for k in overfit)
        gap = val - train if train is not None and val is not None else None
    stopped = summary.get("stopped_by") or (
        "early stopping" if summary.get("early_stopped") else "max_epochs"
    )
    row = {k: summary.get(k) for k in COLUMNS}  # the figures summary.json holds as they are
    row.update(config=name, status="ok", reason="", stopped_by=stopped, overfit_gap=gap)
    row["best"] = summary.get("best_score")
    return row


def format_value(value: Any) -> str:
    """A table cell: 4 significant digits for floats, "-" for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _resolved_config(row: dict[str, Any]) -> dict[str, Any] | None:
    """A run's resolved config.yaml without what names the run (its name and folder)."""
    config = run_config(row["run_dir"])
    if config is None:
        return None
    run = dict(config.get("run") or {})
    run.pop("name", None)
    run.pop("root", None)
    return {**config, "run": run}


def same_as_baseline(ok: list[dict[str, Any]]) -> list[str]:
    """Experiments whose resolved configuration is the baseline's (a row that repeats it)."""
    base = next((r for r in ok if r["config"] == BASELINE), None)
    reference = _resolved_config(base) if base else None
    if reference is None:
        return []
    return [r["config"] for r in ok if r is not base and _resolved_config(r) == reference]


def write_comparison(
    rows: list[dict[str, Any]],
    out_dir: Path,
    mode: str,
    overfit: tuple[str, str] | None = ("train/loss", "val/loss"),
) -> None:
    """comparison.csv, comparison.md (table plus a short reading) and comparison.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "comparison.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: row.get(k) for k in COLUMNS} for row in rows)

    ok = [r for r in rows if r["status"] == "ok" and r["best"] is not None]
    monitor = ok[0]["monitor"] if ok else "metric"
    header = ["config", "time (s)", "epochs", "stopped by", f"best {monitor}"]
    header += ["train loss", "val loss"]
    if overfit is not None:
        header.append(f"gap ({overfit[1]} - {overfit[0]})")
        gap_text = (
            f"the gap is the final {overfit[1]} minus the final {overfit[0]} (large: overfitting)."
        )
    else:
        gap_text = (
            "this assignment has no train/validation pair that measures overfitting, so no "
            "gap is shown."
        )
    lines = [
        "# Experiment comparison",
        "",
        f"Created {datetime.now():%Y-%m-%d %H:%M}. The first row, `{BASELINE}`, is the "
        f"assignment's default configuration (the baseline). Best {monitor} is the "
        f"{'highest' if mode == 'max' else 'lowest'} value over the validation rounds; {gap_text}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    shown = ["wall_time_s", "epochs", "stopped_by", "best", "final_train_loss", "final_val_loss"]
    shown += ["overfit_gap"] if overfit is not None else []  # the header's columns after config
    for r in rows:
        if r["status"] != "ok":
            reason = str(r.get("reason") or "").replace("|", "/").replace("\n", " ")
            lines.append(f"| {r['config']} | {r['status']}: {reason} |" + " |" * (len(header) - 2))
            continue
        lines.append("| " + " | ".join([r["config"], *(format_value(r[k]) for k in shown)]) + " |")
    if ok:
        pick = max if mode == "max" else min
        best = pick(ok, key=lambda r: r["best"])
        fastest = min(ok, key=lambda r: r["wall_time_s"])
        lines += ["", f"- Best {monitor}: **{best['config']}** ({format_value(best['best'])})."]
        lines.append(
            f"- Fastest: **{fastest['config']}** ({format_value(fastest['wall_time_s'])} s)."
        )
        cut = [r["config"] for r in ok if r["stopped_by"] not in ("max_epochs", "max_steps")]
        if cut:
            lines.append(f"- Stopped before their last epoch: {', '.join(cut)}.")
        gaps = [r for r in ok if r["overfit_gap"] is not None]
        if overfit is not None and gaps:
            worst = max(gaps, key=lambda r: r["overfit_gap"])
            gap = format_value(worst["overfit_gap"])
            if worst["overfit_gap"] > 0:
                lines.append(f"- Largest overfitting gap: **{worst['config']}** ({gap}).")
            else:  # a "largest gap" below zero would name the run that overfits least
                lines.append(
                    f"- No run overfits: every final {overfit[1]} is at or below its "
                    f"{overfit[0]} (the largest gap, {worst['config']}'s, is {gap})."
                )
        same = same_as_baseline(ok)
        if same:
            lines.append(
                f"- {', '.join(same)} ran exactly the `{BASELINE}` row's configuration (its file "
                "changes nothing that is not already so here): the same run twice, not an "
                "experiment."
            )
    failed = [r for r in rows if r["status"] != "ok"]
    for r in failed:
        lines.append(f"- {r['config']} {r['status']}: {r.get('reason')}")
    lines += ["", "![learning curves](comparison.png)", ""]
    (out_dir / "comparison.md").write_text("\n".join(lines))

    curves = {r["config"]: read_metrics(Path(r["run_dir"]) / "metrics.csv") for r in ok}
    if curves:
        from common.plots import plot_comparison  # matplotlib: not on `portfolio --help`'s path

        plot_comparison(curves, out_dir / "comparison.png", monitor)


def row_names(configs: Sequence[Path]) -> list[str]:
    """Row (and run) names: the file stem, with its folder where two files share a stem."""
    stems = Counter(Path(c).stem for c in configs)
    names = [
        Path(c).stem if stems[Path(c).stem] == 1 else f"{Path(c).parent.name}-{Path(c).stem}"
        for c in configs
    ]
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        seen[name] += 1
        out.append(name if seen[name] == 1 and names.count(name) == 1 else f"{name}-{seen[name]}")
    return out


class _Tail(io.TextIOBase):
    """Passes stderr through and keeps its end: the reason a failed run gives there."""

    def __init__(self, stream) -> None:
        self.stream, self.text = stream, ""

    def write(self, s: str) -> int:
        self.text = (self.text + s)[-4000:]
        return self.stream.write(s)

    def flush(self) -> None:
        self.stream.flush()

    def reason(self) -> str | None:
        lines = [ln.strip() for ln in self.text.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()]
        return (errors or lines or [None])[-1]


class _Caught:
    signum: int | None = None


@contextmanager
def stop_on_signals() -> Iterator[_Caught]:
    """SIGINT and SIGTERM raise KeyboardInterrupt and are remembered, whoever catches it."""
    caught = _Caught()
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum, frame) -> None:
        caught.signum = caught.signum or signum
        raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def compare(
    assignment: str,
    configs: Sequence[Path],
    train: Callable[[list[str]], Any],
    *,
    mode: str = "min",
    extra_args: Sequence[str] = (),
    root: Path | None = None,
    overfit: tuple[str, str] | None = ("train/loss", "val/loss"),
    baseline: bool = True,
) -> Path:
    """Train the baseline (`baseline`: the default config, first row) and each YAML file of
    `configs` (a row named by its stem) with `train` in this process, `extra_args` before each,
    under `root`/<assignment>/; returns the folder of comparison.md/.csv/.png. `overfit`: the
    (train, val) metrics whose final gap measures overfitting, or None. After Ctrl-C or SIGTERM
    it writes up the finished runs and raises CompareInterrupted."""
    missing = [str(c) for c in configs if not Path(c).is_file()]
    if missing:
        raise FileNotFoundError(f"configuration file(s) not found: {', '.join(missing)}")
    runs = [(BASELINE, [])] if baseline else []
    runs += [(n, ["--config", str(c)]) for n, c in zip(row_names(configs), configs, strict=True)]
    if len(runs) < 2:
        raise ValueError("a comparison needs at least two configurations (the course asks for 3)")
    root = root or runs_root()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = root / assignment / f"compare-{stamp}"
    rows: list[dict[str, Any]] = []
    with stop_on_signals() as caught:
        for name, config_args in runs:
            run_name = f"compare-{stamp}-{name}"
            argv = [*extra_args, *config_args, "--run.name", run_name, "--run.root", str(root)]
            tail = _Tail(sys.stderr)
            try:
                print(f"== {assignment} experiment {name}: {shlex.join(argv)}", flush=True)
                sys.stderr = tail
                cli = train(argv)
            except KeyboardInterrupt:  # outside Lightning's own handling (data preparation)
                caught.signum = caught.signum or signal.SIGINT
            except SystemExit as err:  # a failed run (bad config, NaN loss) becomes a row
                if caught.signum is None:
                    code = err.code
                    reason = code if isinstance(code, str) else tail.reason()
                    rows.append({"config": name, "status": "failed", "reason": reason})
                    continue
            except Exception as err:  # noqa: BLE001 (one broken configuration is one row)
                reason = f"{type(err).__name__}: {err}"
                rows.append({"config": name, "status": "failed", "reason": reason})
                continue
            finally:
                sys.stderr = tail.stream
            if caught.signum is not None:
                resume = shlex.join(
                    ["python", "-m", f"{assignment}.train", *argv, "--run.resume", "last"]
                )
                rows.append({"config": name, "status": "interrupted", "reason": resume})
                write_comparison(rows, out_dir, mode, overfit)
                raise CompareInterrupted(out_dir, caught.signum, name)
            rows.append(_row(name, cli.summary, overfit))
    write_comparison(rows, out_dir, mode, overfit)
    return out_dir
