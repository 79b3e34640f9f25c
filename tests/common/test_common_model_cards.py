"""The one model-card parser (common.exam.card_sections) behind the exam's summary and the
report's quoted sections: exact outputs on a card with tables, lists and long sentences."""

from common.exam import card_sections, model_card_summary
from common.report import card_section

CARD = """# Model card: toy

## Intended use
Teaching. Not for production.

## Data

| split | n |
|---|---|

- Synthetic clips, 35 words. Eight accents. Ten voices.
second line

## Model
A tiny CNN
that goes on
and on
and on
and on
and on.
## Limits
cut short here"""


def test_card_sections_keep_every_line_under_its_heading(tmp_path):
    card = tmp_path / "MODEL_CARD.md"
    card.write_text("before\n" + CARD)
    sections = card_sections(card)
    assert [h for h, _ in sections] == [
        "", "# Model card: toy", "## Intended use", "## Data", "## Model", "## Limits"
    ]  # fmt: skip
    assert sections[0][1] == ["before"] and sections[-1][1] == ["cut short here"]
    lines = [line for heading, body in sections for line in [heading][: bool(heading)] + body]
    assert lines == ("before\n" + CARD).split("\n")  # nothing lost or moved


def test_summary_and_quoted_sections(tmp_path):
    card = tmp_path / "MODEL_CARD.md"
    card.write_text(CARD)
    assert model_card_summary(card, max_lines=2).split("\n") == [
        "MODEL CARD: TOY",
        "Intended use",
        "  Teaching. Not for production.",
        "Data",
        "  - Synthetic clips, 35 words. Eight accents. Ten voices.",
        "  second line ...",  # ends mid-sentence at the next heading
        "Model",
        "  A tiny CNN",
        "  that goes on",
        "  and on",
        "  and on",
        "  and on ...",  # a sentence longer than max_lines + 3 lines: cut visibly
        "Limits",
        "  cut short here ...",  # the last section too
    ]
    assert card_section(card, "data") == "Synthetic clips, 35 words. Eight accents."
    assert card_section(card, "data", sentences=5) == (
        "Synthetic clips, 35 words. Eight accents. Ten voices. second line"
    )
    assert card_section(card, "limits", "model", sentences=1) == (
        "A tiny CNN that goes on and on and on and on and on."
    )
    assert card_section(card, "ethics") is None
    assert card_section(tmp_path / "missing.md", "data") is None
    assert (
        model_card_summary(tmp_path / "missing.md") == f"(no model card at {tmp_path}/missing.md)"
    )
