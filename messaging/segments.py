"""How many SMS segments a text takes, and in which encoding: what carriers bill.

A text made only of GSM 03.38 characters goes as GSM-7: 160 septets in one segment, or 153 per
segment once it is split (each part carries a 7-septet header). The extension table's characters
(`€`, `[`, `{`, `|`, ...) take two septets each, an escape and the character, and the pair is
never split across two segments. One character outside GSM-7 (an emoji, `ë`, a curly quote) sends
the whole text as UCS-2: 70 UTF-16 code units in one segment, 67 per segment once split, where a
character beyond the Basic Multilingual Plane (most emoji) is two units that are never split.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7 = "GSM-7"
UCS2 = "UCS-2"
# Units (septets or UTF-16 code units) in one segment alone, and in each part of a longer text.
CAPACITY = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class Segments:
    """What a text costs to send: its characters, encoding, units in that encoding, and segments."""

    characters: int
    encoding: str
    units: int
    segments: int

    def __str__(self) -> str:
        plural = "" if self.segments == 1 else "s"
        return f"{self.characters} characters, encoding {self.encoding}, {self.segments} segment{plural}"


def segments_of(text: str) -> Segments:
    """The segments `text` is sent in (see the module's docstring for the rules)."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        encoding = GSM7
        sizes = [2 if char in GSM7_EXTENSION else 1 for char in text]
    else:
        encoding = UCS2
        sizes = [2 if ord(char) > 0xFFFF else 1 for char in text]
    single, part = CAPACITY[encoding]
    units = sum(sizes)
    if units <= single:
        return Segments(len(text), encoding, units, 1 if text else 0)
    # Fill each part as a phone does: a character that does not fit whole starts the next part.
    count, used = 1, 0
    for size in sizes:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return Segments(len(text), encoding, units, count)


@dataclass(frozen=True)
class Cost:
    """An estimate: `segments` at `price` each, in `currency` (ISO 4217)."""

    segments: int
    price: Decimal
    currency: str

    @property
    def total(self) -> Decimal:
        return self.price * self.segments

    def __str__(self) -> str:
        return money(self.total, self.currency)


def money(amount: Decimal, currency: str) -> str:
    """Cents like an invoice, but a fraction of a cent under one unit is kept, not rounded to
    nothing: 12.35 USD, 0.30 USD, 0.0249 USD."""
    cents = amount.quantize(Decimal("0.01"))
    shown = cents if amount >= 1 or cents == amount else amount.normalize()
    return f"{shown:f} {currency}"
