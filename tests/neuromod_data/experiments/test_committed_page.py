"""The committed results page (docs/results.md) is whole: every figure it shows exists, the fitted
neurons' validation figure and the factorial section are on it (issue 21, "Done when"), and no
table shows a reader an infinity or a NaN."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "results.md"

pytestmark = pytest.mark.skipif(not PAGE.is_file(), reason="no committed results page")


def _text() -> str:
    return PAGE.read_text()


def test_every_figure_the_page_shows_exists():
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", _text())
    assert links
    missing = [link for link in links if not (PAGE.parent / link).is_file()]
    assert missing == []


def test_fitted_validation_figure_and_factorial_section_are_shown():
    text = _text()
    assert "](figures/m1_fitted_validation.png)" in text
    if (ROOT / "experiments" / "runs" / "m1_factorial").is_dir():
        assert "\n## The 2 × 2 factorial" in text
        assert "](figures/m1_factorial_interaction.png)" in text


def test_no_table_cell_is_an_infinity_or_nan():
    # as Python prints them, alone or inside a cell ("0.05 ± nan", "-inf [...]")
    bad = re.compile(r"(?<![\w.])[+-]?(inf|nan|NaN|Infinity)(?!\w)")
    cells = [
        c.strip()
        for line in _text().splitlines()
        if line.startswith("|")
        for c in line.strip("|").split("|")
    ]
    assert cells
    assert [c for c in cells if bad.search(c)] == []
