"""X-Twilio-Signature against twilio-python's own test vectors (tests/fixtures/twilio)."""

from __future__ import annotations

import pytest

from channels_app.platforms.twilio.webhooks import signature, signature_valid
from tests.platforms import fixture_json

VECTORS = fixture_json("twilio/x_twilio_signature_vectors.json")
TOKEN = VECTORS["auth_token"]
FIRST = VECTORS["vectors"][0]
PARAMS = list(FIRST["params"].items())


def test_the_signature_of_twilios_own_vectors():
    assert signature(TOKEN, FIRST["url"], PARAMS) == FIRST["expected"]
    duplicates = VECTORS["vectors"][1]
    pairs = [tuple(pair) for pair in duplicates["params_ordered_pairs"]]
    assert signature(TOKEN, duplicates["url"], pairs) == duplicates["expected"]


@pytest.mark.parametrize("vector", VECTORS["vectors"][2:6], ids=lambda v: v["name"])
def test_a_signature_made_with_or_without_the_default_port_is_accepted(vector):
    assert signature_valid(TOKEN, vector["url_received"], PARAMS, vector["expected_accepted"])


def test_a_wrong_token_changed_parameter_or_missing_header_is_refused():
    assert not signature_valid("54321", FIRST["url"], PARAMS, FIRST["expected"])
    assert not signature_valid(
        TOKEN, FIRST["url"], [*PARAMS[:-1], ("Caller", "+10000000000")], FIRST["expected"]
    )
    assert not signature_valid(TOKEN, FIRST["url"], PARAMS, "")
    assert not signature_valid("", FIRST["url"], PARAMS, FIRST["expected"])
