"""The portfolio report: each assignment's latest metrics and plots on one Markdown + HTML page."""

from __future__ import annotations

import html
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from common import registry
from common.checkpoints import latest_run
from common.compare import format_value
from common.paths import runs_root


def latest_summary(assignment: str, root: Path | None = None) -> dict[str, Any] | None:
    """summary.json of the assignment's latest run that finished, or None."""
    run = latest_run(assignment, root)
    if run is None or not (run / "summary.json").is_file():
        return None
    return json.loads((run / "summary.json").read_text())


def _metrics(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    rows = [
        ("run", summary["run"]),
        (f"best {summary['monitor']}", summary.get("best_score")),
        ("epochs", summary.get("epochs")),
        ("training time (s)", summary.get("wall_time_s")),
        ("final train loss", summary.get("final_train_loss")),
        ("final val loss", summary.get("final_val_loss")),
    ]
    rows += sorted(summary.get("test", {}).items())
    rows += sorted(summary.get("extra", {}).items())
    return rows


def build_report(root: Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html into the runs root; return their paths."""
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    md = [f"# MAL2 portfolio report\n\nCreated {datetime.now():%Y-%m-%d %H:%M}.\n"]
    body = [f"<h1>MAL2 portfolio report</h1><p>Created {datetime.now():%Y-%m-%d %H:%M}.</p>"]
    for name, entry in registry.available().items():
        if isinstance(entry, registry.AssignmentUnavailable):
            md.append(f"## {name}\n\nUnavailable: {entry}\n")
            body.append(f"<h2>{name}</h2><p>Unavailable: {html.escape(str(entry))}</p>")
            continue
        md.append(f"## {entry.title} (`{name}`)\n\n{entry.summary}\n")
        body.append(
            f"<h2>{html.escape(entry.title)} ({name})</h2><p>{html.escape(entry.summary)}</p>"
        )
        summary = latest_summary(name, root)
        if summary is None:
            hint = f"Not trained yet: `portfolio train {name}`."
            md.append(hint + "\n")
            body.append(f"<p>{html.escape(hint)}</p>")
            continue
        md += ["| metric | value |", "|---|---|"]
        md += [f"| {k} | {format_value(v)} |" for k, v in _metrics(summary)]
        body.append("<table border=1 cellpadding=4><tr><th>metric</th><th>value</th></tr>")
        body += [
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(format_value(v))}</td></tr>"
            for k, v in _metrics(summary)
        ]
        body.append("</table>")
        run_dir = Path(summary["run_dir"])
        for png in sorted(run_dir.glob("*.png")):
            rel = os.path.relpath(png, root)
            md.append(f"\n![{png.stem}]({rel})")
            body.append(
                f'<figure><img src="{rel}" style="max-width:900px"><figcaption>'
                f"{png.stem}</figcaption></figure>"
            )
        comparisons = sorted((root / name).glob("compare-*/comparison.md"))
        if comparisons:
            rel = os.path.relpath(comparisons[-1], root)
            md.append(f"\nLatest experiment comparison: [{rel}]({rel})")
            body.append(f'<p>Latest experiment comparison: <a href="{rel}">{rel}</a></p>')
        md.append(f"\nModel card: `{name}/MODEL_CARD.md`\n")
    md_path, html_path = root / "report.md", root / "report.html"
    md_path.write_text("\n".join(md) + "\n")
    html_path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>MAL2 portfolio</title>"
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
    return md_path, html_path
