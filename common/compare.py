"""The course's coding experiments: train several configurations and compare them side by side.

Per configuration: training wall time, epochs run (EarlyStopping may stop early), best validation
metric, final train and validation loss, and the overfitting gap (final val loss - train loss).
Writes comparison.csv, comparison.md and comparison.png (learning curves overlaid).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from common.paths import runs_root
from common.plots import plot_comparison
from common.runs import read_metrics

COLUMNS = (
    "config",
    "status",
    "wall_time_s",
    "epochs",
    "early_stopped",
    "monitor",
    "best",
    "final_train_loss",
    "final_val_loss",
    "overfit_gap",
    "run_dir",
)


def _row(name: str, summary: dict[str, Any]) -> dict[str, Any]:
    train, val = summary.get("final_train_loss"), summary.get("final_val_loss")
    gap = val - train if train is not None and val is not None else None
    return {
        "config": name,
        "status": "ok",
        "wall_time_s": summary.get("wall_time_s"),
        "epochs": summary.get("epochs"),
        "early_stopped": summary.get("early_stopped"),
        "monitor": summary.get("monitor"),
        "best": summary.get("best_score"),
        "final_train_loss": train,
        "final_val_loss": val,
        "overfit_gap": gap,
        "run_dir": summary.get("run_dir"),
    }


def format_value(value: Any) -> str:
    """A table cell: 4 significant digits for floats, "-" for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_comparison(rows: list[dict[str, Any]], out_dir: Path, mode: str) -> None:
    """comparison.csv, comparison.md (table plus a short reading) and comparison.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "comparison.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: row.get(k) for k in COLUMNS} for row in rows)

    ok = [r for r in rows if r["status"] == "ok" and r["best"] is not None]
    monitor = ok[0]["monitor"] if ok else "metric"
    header = [
        "config",
        "time (s)",
        "epochs",
        "early stop",
        f"best {monitor}",
        "train loss",
        "val loss",
        "gap (val-train)",
    ]
    lines = [
        "# Experiment comparison",
        "",
        f"Created {datetime.now():%Y-%m-%d %H:%M}. Best {monitor} is the "
        f"{'highest' if mode == 'max' else 'lowest'} value over the validation rounds; the gap "
        "is the final validation loss minus the final training loss (large: overfitting).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['config']} | failed: {r['status']} |" + " |" * (len(header) - 2))
            continue
        cells = [
            r["config"],
            format_value(r["wall_time_s"]),
            format_value(r["epochs"]),
            "yes" if r["early_stopped"] else "no",
            format_value(r["best"]),
            format_value(r["final_train_loss"]),
            format_value(r["final_val_loss"]),
            format_value(r["overfit_gap"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if ok:
        pick = max if mode == "max" else min
        best = pick(ok, key=lambda r: r["best"])
        fastest = min(ok, key=lambda r: r["wall_time_s"])
        lines += ["", f"- Best {monitor}: **{best['config']}** ({format_value(best['best'])})."]
        lines.append(
            f"- Fastest: **{fastest['config']}** ({format_value(fastest['wall_time_s'])} s)."
        )
        gaps = [r for r in ok if r["overfit_gap"] is not None]
        if gaps:
            worst = max(gaps, key=lambda r: r["overfit_gap"])
            gap = format_value(worst["overfit_gap"])
            lines.append(f"- Largest overfitting gap: **{worst['config']}** ({gap}).")
    lines += ["", "![learning curves](comparison.png)", ""]
    (out_dir / "comparison.md").write_text("\n".join(lines))

    curves = {r["config"]: read_metrics(Path(r["run_dir"]) / "metrics.csv") for r in ok}
    if curves:
        plot_comparison(curves, out_dir / "comparison.png", monitor)


def compare(
    assignment: str,
    configs: Sequence[Path],
    train: Callable[[list[str]], Any],
    *,
    mode: str = "min",
    extra_args: Sequence[str] = (),
    root: Path | None = None,
) -> Path:
    """Train every configuration (in this process, one after another) and write the comparison.

    Args:
        assignment: the assignment's name (the runs go to runs/<assignment>/).
        configs: YAML files, each a named experiment; the file stem names the row.
        train: the assignment's train entry point (argv list -> PortfolioCLI).
        mode: 'max' or 'min' for the monitored metric.
        extra_args: arguments put before each configuration (e.g. a quick profile).
        root: runs root (default: $MAL2_RUNS or ./runs).

    Returns:
        The folder holding comparison.md, comparison.csv and comparison.png.
    """
    missing = [str(c) for c in configs if not Path(c).is_file()]
    if missing:
        raise FileNotFoundError(f"configuration file(s) not found: {', '.join(missing)}")
    if len(configs) < 2:
        raise ValueError("a comparison needs at least two configurations (the course asks for 3)")
    root = root or runs_root()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    rows = []
    for config in configs:
        name = Path(config).stem
        argv = [*extra_args, "--config", str(config), "--run.name", f"compare-{stamp}-{name}"]
        argv += ["--run.root", str(root)]
        print(f"== {assignment} experiment {name}: {' '.join(argv)}", flush=True)
        try:
            cli = train(argv)
        except SystemExit as err:  # a failed run (bad config, NaN loss) becomes a row
            rows.append({"config": name, "status": str(err.code) or "failed"})
            continue
        rows.append(_row(name, cli.summary))
    out_dir = root / assignment / f"compare-{stamp}"
    write_comparison(rows, out_dir, mode)
    return out_dir
