"""Shopify's signature check against the recorded vectors, valid and tampered."""

import pytest
from django.test import RequestFactory

from channels_app.platforms.shopify import webhooks as shopify
from tests.platforms import fixture_json

SHOPIFY_VECTORS = fixture_json("shopify/hmac/shopify_hmac_vectors.json")["webhook_vectors"]


def shopify_request(signature: str, body: bytes, prefixed: bool = True):
    header = "HTTP_X_SHOPIFY_HMAC_SHA256" if prefixed else "HTTP_SHOPIFY_HMAC_SHA256"
    return RequestFactory().post(
        "/webhooks/shopify/", body, content_type="application/json", **{header: signature}
    )


@pytest.mark.parametrize("vector", SHOPIFY_VECTORS, ids=lambda v: v["id"])
def test_shopify_vectors_verify(vector):
    body = vector["raw_body"].encode()
    assert shopify.signature_valid(shopify_request(vector["expected_base64"], body), body, [vector["secret"]])


@pytest.mark.parametrize("vector", SHOPIFY_VECTORS, ids=lambda v: v["id"])
def test_shopify_rejects_a_tampered_body(vector):
    body = vector["raw_body"].encode()
    tampered = body + b" "
    assert not shopify.signature_valid(
        shopify_request(vector["expected_base64"], tampered), tampered, [vector["secret"]]
    )


def test_shopify_accepts_the_previous_secret_during_rotation():
    old = next(v for v in SHOPIFY_VECTORS if v["secret"] == "old_secret")
    body = old["raw_body"].encode()
    request = shopify_request(old["expected_base64"], body)
    assert shopify.signature_valid(request, body, ["secret", "old_secret"])
    assert not shopify.signature_valid(request, body, ["secret"])


def test_shopify_reads_the_unprefixed_header_form():
    vector = SHOPIFY_VECTORS[0]
    body = vector["raw_body"].encode()
    assert shopify.signature_valid(
        shopify_request(vector["expected_base64"], body, prefixed=False), body, [vector["secret"]]
    )


def test_shopify_rejects_a_missing_signature():
    assert not shopify.signature_valid(shopify_request("", b"{}"), b"{}", ["secret"])
