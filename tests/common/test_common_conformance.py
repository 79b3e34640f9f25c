"""Every registered assignment follows the recipe in DEVELOPERS.md ("Adding an assignment")."""

from __future__ import annotations

import re

import pytest

from common import registry


@pytest.fixture(params=registry.NAMES)
def assignment(request) -> registry.Assignment:
    return registry.get(request.param)


def test_model_card_has_the_shared_sections_in_order(assignment):
    text = assignment.model_card.read_text()
    assert re.findall(r"^## (.+?)\s*$", text, re.M) == list(registry.MODEL_CARD_HEADINGS)
    assert len(re.findall(r"^# ", text, re.M)) == 1  # one title, then the sections
