"""SMS segments as carriers count them: GSM-7 (160, or 153 a part) unless one character is outside
it, then UCS-2 (70, or 67 a part) in UTF-16 code units; an escape pair or a surrogate pair is never
split across two parts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from messaging.segments import GSM7_BASIC, GSM7_EXTENSION, Cost, segments_of


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 153 * 2, "GSM-7", 306, 2),
        ("a" * (153 * 2 + 1), "GSM-7", 307, 3),
        ("é" * 160, "GSM-7", 160, 1),  # é, ñ, ü, Δ are GSM-7's own
        ("€" * 80, "GSM-7", 160, 1),  # an extension character is two septets
        ("€" * 81, "GSM-7", 162, 2),
        # 306 septets would fill two parts, but the euro's escape pair does not fit at 152 + 2:
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),
        ("ë" * 70, "UCS-2", 70, 1),  # ë is not in GSM-7
        ("ë" * 71, "UCS-2", 71, 2),
        ("ë" * 67 * 2, "UCS-2", 134, 2),
        ("Hi 😀", "UCS-2", 5, 1),  # an emoji forces UCS-2, and is two UTF-16 units
        ("😀" * 35, "UCS-2", 70, 1),
        ("😀" * 36, "UCS-2", 72, 2),
        # 134 units would fill two parts, but the emoji's surrogate pair does not fit at 66 + 2:
        ("a" * 66 + "😀" + "a" * 66, "UCS-2", 134, 3),
        ("“quoted”", "UCS-2", 8, 1),  # curly quotes, pasted from a word processor
    ],
)
def test_known_vectors(text, encoding, units, segments):
    counted = segments_of(text)
    assert (counted.encoding, counted.units, counted.segments) == (encoding, units, segments)
    assert counted.characters == len(text)


def test_the_gsm_tables_are_the_standards():
    assert len(GSM7_BASIC) == 127  # 128 positions, one of them the escape to the extension table
    assert "\x1b" not in GSM7_BASIC
    assert set("^{}\\[~]|€\f") == GSM7_EXTENSION
    assert "`" not in GSM7_BASIC | GSM7_EXTENSION  # a backtick looks harmless and is UCS-2


def test_it_reads_like_the_preview():
    assert str(segments_of("a" * 203)) == "203 characters, encoding GSM-7, 2 segments"
    assert str(segments_of("Hi")) == "2 characters, encoding GSM-7, 1 segment"


def test_a_cost_shows_fractions_of_a_cent_and_cents_once_over_one():
    assert str(Cost(3, Decimal("0.0083"), "USD")) == "0.0249 USD"
    assert str(Cost(1000, Decimal("0.0083"), "USD")) == "8.30 USD"
    assert str(Cost(36, Decimal("0.05"), "EUR")) == "1.80 EUR"
    assert str(Cost(6, Decimal("0.05"), "EUR")) == "0.30 EUR"
    assert str(Cost(0, Decimal("0.0083"), "EUR")) == "0.00 EUR"
