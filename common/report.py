"""The portfolio report: per assignment a paragraph (data, model, the run shown against the model
card, what fails), then its latest metrics, plots and experiment comparison, as Markdown + HTML.

report.html is one self-contained file (figures embedded as data URIs, every model card included)
that a student can hand in; report.md links the figures beside it."""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import re
from datetime import datetime
from itertools import dropwhile, takewhile
from pathlib import Path
from typing import Any

from common import registry
from common.checkpoints import latest_run
from common.compare import format_value
from common.exam import card_sections, check_checkpoint, is_prose
from common.paths import runs_root
from common.runs import run_config


def latest_summary(assignment: str, root: Path | None = None) -> dict[str, Any] | None:
    """summary.json of the assignment's latest run that finished, or None."""
    run = latest_run(assignment, root)
    if run is None or not (run / "summary.json").is_file():
        return None
    return json.loads((run / "summary.json").read_text())


def metrics_table(summary: dict[str, Any]) -> list[str]:
    """A run's figures (summary.json) as the lines of a Markdown table."""
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
    return ["| metric | value |", "|---|---|", *(f"| {k} | {format_value(v)} |" for k, v in rows)]


def card_section(card: Path, *headings: str, sentences: int = 2) -> str | None:
    """The first sentences of the first paragraph of the first model-card section whose heading
    starts with one of `headings` (case-insensitive), as one line; None when there is none."""
    lines = []
    for heading, body in card_sections(card) if card.is_file() else []:
        if any(heading.lstrip("# ").lower().startswith(h.lower()) for h in headings):
            paragraph = takewhile(is_prose, dropwhile(lambda line: not is_prose(line), body))
            lines = [line.strip().removeprefix("- ") for line in paragraph]
        if lines:
            break
    if not lines:
        return None
    text = re.sub(r"\s+", " ", " ".join(lines))
    parts = re.split(r"(?<=[.!?])(?<! [A-Z]\.)\s+(?=[A-Z*(])", text)  # not after "A."
    return " ".join(parts[:sentences])


def data_used(run_dir: Path, limit: int = 8) -> str:
    """The run's data settings from its config.yaml, e.g. "source=jsb, path=..., batch_size=4"."""
    config = run_config(run_dir)
    if config is None:
        return "unknown (no config.yaml)"
    data = config.get("data") or {}
    data = data.get("init_args", data) if isinstance(data, dict) else {}
    items = [f"{k}={v}" for k, v in data.items() if v is not None and not isinstance(v, dict)]
    return ", ".join(items[:limit]) + (", ..." if len(items) > limit else "") or "the defaults"


def story(entry: registry.Assignment, summary: dict[str, Any]) -> list[str]:
    """The assignment in a paragraph: data, model, headline against the model card, what fails,
    and whether the run shown is a quick or cut-short one."""
    run_dir = Path(summary["run_dir"])
    ckpt = Path(summary.get("best_checkpoint") or run_dir / "checkpoints" / "last.ckpt")
    check = check_checkpoint(entry, ckpt)
    card = entry.model_card
    out = []
    data = card_section(card, "data")
    used = data_used(run_dir)
    used += "" if used.endswith("...") else "."
    out.append(f"**Data.** {data + ' ' if data else ''}This run used: {used}")
    model = card_section(card, "model")
    if model:
        out.append(f"**Model.** {model}")
    epochs = format_value(check.epochs) + (f" of {check.max_epochs}" if check.max_epochs else "")
    kind = "a QUICK run" if check.quick else "a default or custom run"
    line = f"**The run shown.** `{check.run}`, {kind}, {epochs} epochs"
    line += f", stopped by {check.stopped_by}." if check.stopped_by else "."
    if check.headline is not None:
        label, value, card_value = check.headline
        line += (
            f" Headline: {label} {format_value(value)} against the model card's "
            f"{format_value(card_value)}."
        )
    out.append(line)
    out += [f"**Warning.** {w}" for w in check.warnings]
    fails = card_section(card, "limits", sentences=2)
    if fails:
        out.append(f"**What fails.** {fails}")
    return out


def data_uri(path: Path) -> str:
    """A file as a `data:` URI, so that the HTML page needs nothing beside it."""
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def markdown_html(text: str, folder: Path | None = None) -> str:
    """Markdown (tables included) as HTML that stands alone: images next to the file embedded,
    others dropped, links to files beside it reduced to their text."""
    from markdown_it import MarkdownIt

    page = MarkdownIt("commonmark").enable("table").render(text)

    def embed(match: re.Match) -> str:
        src = match.group(1)
        if src.startswith(("data:", "http://", "https://")) or folder is None:
            return match.group(0)
        path = folder / src
        return f'src="{data_uri(path)}"' if path.is_file() else 'src=""'

    page = re.sub(r'<a href="(?!#|https?:)[^"]*">(.*?)</a>', r"\1", page)
    return re.sub(r'src="([^"]*)"', embed, page)


def section(name: str, entry: registry.Assignment | Exception, root: Path) -> list[str]:
    """The report's Markdown lines of one assignment; figures linked relative to `root`."""
    if isinstance(entry, registry.AssignmentUnavailable):
        return [f"## {name}\n\nUnavailable: {entry}\n"]
    md = [f"## {entry.title} (`{name}`)\n\n{entry.summary}\n"]
    summary = latest_summary(name, root)
    if summary is None:
        return [*md, f"Not trained yet: `portfolio train {name}`.\n"]
    md += [p + "\n" for p in story(entry, summary)]
    md += metrics_table(summary)
    for png in sorted(Path(summary["run_dir"]).glob("*.png")):
        md.append(f"\n![{png.stem}]({os.path.relpath(png, root)})")
    comparisons = sorted((root / name).glob("compare-*/comparison.md"))
    if comparisons:
        rel = os.path.relpath(comparisons[-1], root)
        md += ["", f"Latest experiment comparison ([{rel}]({rel})):", ""]
        md += [ln for ln in comparisons[-1].read_text().splitlines() if ln.startswith("|")]
        png = comparisons[-1].parent / "comparison.png"
        if png.is_file():
            md.append(f"\n![comparison]({os.path.relpath(png, root)})")
    return [*md, f"\nModel card: `{name}/MODEL_CARD.md`\n"]


def build_report(root: Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html into the runs root; return their paths. The HTML page is
    the Markdown rendered, figures embedded, with every model card."""
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    md = [f"# MAL2 portfolio report\n\nCreated {datetime.now():%Y-%m-%d %H:%M}.\n"]
    body = [markdown_html(md[0])]
    for name, entry in registry.available().items():
        lines = section(name, entry, root)
        md += lines
        body.append(markdown_html("\n".join(lines), root))
        if isinstance(entry, registry.Assignment) and entry.model_card.is_file():
            card = markdown_html(entry.model_card.read_text(), entry.model_card.parent)
            body.append(
                f"<details class='card'><summary>Model card ({name}/MODEL_CARD.md)</summary>"
                f"{card}</details>"
            )
    md_path, html_path = root / "report.md", root / "report.html"
    md_path.write_text("\n".join(md) + "\n")
    html_path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>MAL2 portfolio</title><style>"
        "body{font-family:sans-serif;max-width:1000px;margin:auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:3px 8px}"
        "img{max-width:100%}details.card{border:1px solid #ccc;padding:0 1em;margin:1em 0}"
        "summary{cursor:pointer;font-weight:bold;padding:.5em 0}"
        "</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )
    return md_path, html_path
