"""Templates read like django-rq's: indented, no line past 120 characters, and no inline styles
where a class of the hub's one stylesheet (config/static/hub/admin.css) serves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = ("templates", "config/ops/templates", "messaging/templates")
TEMPLATES = sorted(path for folder in TEMPLATE_DIRS for path in (ROOT / folder).rglob("*.html"))


def test_the_template_folders_are_found():
    assert len(TEMPLATES) >= 10


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: str(path.relative_to(ROOT)))
def test_a_template_has_short_lines_and_no_inline_style(path):
    lines = path.read_text().splitlines()
    long = [number for number, line in enumerate(lines, start=1) if len(line) > 120]
    assert long == [], f"lines over 120 characters: {long}"
    assert not re.search(r"\sstyle=", path.read_text()), "an inline style: give it a class in hub/admin.css"
