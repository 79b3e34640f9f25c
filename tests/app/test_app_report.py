"""`portfolio report`: one self-contained HTML file with the figures and every model card."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from common import registry
from common.report import build_report


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "src" in attrs:
            self.srcs.append(attrs["src"])
        if tag in ("a", "link") and "href" in attrs:
            self.hrefs.append(attrs["href"])


def test_report_html_is_self_contained_with_figures_and_model_cards(tiny_runs, tmp_path):
    md, page = build_report(tiny_runs)
    text = page.read_text()
    links = Links()
    links.feed(text)
    pngs = [p for name in registry.NAMES for p in (tiny_runs / name / "tiny").glob("*.png")]
    assert len(pngs) >= 4 and len(links.srcs) >= len(pngs)
    assert all(s.startswith("data:image/png;base64,") for s in links.srcs), links.srcs[:3]
    assert not [h for h in links.hrefs if not h.startswith(("#", "http", "data:"))]
    for name in registry.NAMES:
        card = registry.get(name).model_card.read_text()
        title = re.search(r"^# (.+)$", card, re.M).group(1)
        assert f"Model card ({name}/MODEL_CARD.md)" in text
        assert title.split("(")[0].strip().split()[0] in text
    assert "<table>" in text  # metrics and model-card tables rendered, not Markdown source
    # moved elsewhere alone, the page still shows everything
    alone = tmp_path / "handed_in.html"
    alone.write_bytes(page.read_bytes())
    assert alone.stat().st_size == page.stat().st_size > 50_000
    linked = re.findall(r"!\[[^]]*\]\(([^)]+)\)", md.read_text())  # the .md links beside it
    assert linked and all((tiny_runs / rel).is_file() for rel in linked)
