"""An order's addresses as people write them, from whichever platform's shape was stored.

Shopify sends `address1`/`zip`/`province`, WooCommerce `address_1`/`postcode`/`state`, Shopee a
`full_address` with `zipcode`/`state`/`region`; each leaves unused fields null or empty, which must
never be shown as "None".
"""

from __future__ import annotations

from typing import Any


def _text(address: dict[str, Any], *keys: str) -> str:
    """The first of the keys that holds something, as text."""
    for key in keys:
        value = address.get(key)
        if value not in (None, ""):
            return str(value).strip()
    return ""


def _joined(*parts: str, sep: str = " ") -> str:
    return sep.join(part for part in parts if part)


def address_lines(address: dict[str, Any] | None) -> list[str]:
    """The address's lines, top to bottom, with nothing empty; [] for no address."""
    if not isinstance(address, dict) or not address:
        return []
    name = _text(address, "name") or _joined(_text(address, "first_name"), _text(address, "last_name"))
    full = _text(address, "full_address")
    if full:
        # Shopee's full_address already holds the street, town and city.
        street = [full]
        place = _joined(_text(address, "zipcode"), _text(address, "state"))
    else:
        street = [_text(address, "address1", "address_1"), _text(address, "address2", "address_2")]
        town = _joined(_text(address, "zip", "postcode", "zipcode"), _text(address, "city"))
        place = _joined(town, _text(address, "province", "state"), sep=", ")
    country = _text(address, "country", "region", "country_code")
    lines = [name, _text(address, "company"), *street, place, country, _text(address, "phone")]
    return [line for line in lines if line]
