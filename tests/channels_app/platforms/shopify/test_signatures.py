"""Each platform's signature check against the recorded vectors, valid and tampered."""

import pytest
from django.test import RequestFactory, override_settings

from channels_app.platforms.shopee import webhooks as shopee
from channels_app.platforms.shopify import webhooks as shopify
from channels_app.platforms.woocommerce import webhooks as woocommerce
from tests.platforms import fixture_json, shopee_authorization

SHOPIFY_VECTORS = fixture_json("shopify/hmac/shopify_hmac_vectors.json")["webhook_vectors"]
WOO = fixture_json("woocommerce/webhooks/headers_and_signature.json")
SHOPEE = fixture_json("shopee/signing_and_push_auth.json")


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


def woo_request(signature: str, body: bytes):
    return RequestFactory().post(
        "/webhooks/woocommerce/1/",
        body,
        content_type="application/json",
        HTTP_X_WC_WEBHOOK_SIGNATURE=signature,
    )


def test_woocommerce_official_vector_verifies():
    vector = WOO["official_test_vector"]
    body = vector["payload"].encode()
    assert woocommerce.signature_valid(woo_request(vector["expected_base64"], body), body, [vector["secret"]])


def test_woocommerce_rejects_a_tampered_body():
    vector = WOO["official_test_vector"]
    assert not woocommerce.signature_valid(woo_request(vector["expected_base64"], b"secreT"), b"secreT", [""])


def test_woocommerce_decodes_html_entities_in_the_secret_as_wordpress_does():
    # WordPress stores `a&b"c` as `a&amp;b&quot;c` and signs with the decoded form.
    import base64
    import hashlib
    import hmac

    body = b'{"id":1}'
    signature = base64.b64encode(hmac.new(b"a&b\"c'd", body, hashlib.sha256).digest()).decode()
    assert woocommerce.signature_valid(woo_request(signature, body), body, ["a&amp;b&quot;c&#039;d"])


def test_woocommerce_ping_is_recognised_only_unsigned():
    ping = RequestFactory().post("/x", b"webhook_id=12", content_type="application/x-www-form-urlencoded")
    assert woocommerce.is_ping(ping, b"webhook_id=12")
    assert not woocommerce.is_ping(woo_request("x", b"webhook_id=12"), b"webhook_id=12")


def test_the_shopee_helper_reproduces_the_recorded_derived_value():
    derived = SHOPEE["push_authorization"]["derived_self_check_NOT_UPSTREAM"]
    url, _, body = derived["msg"].partition("|")
    assert (
        shopee_authorization(partner_key=derived["partner_key"], callback_url=url, body=body.encode())
        == derived["hex"]
    )


@override_settings(WEBHOOK_BASE_URL="https://hub.example.com")
def test_shopee_signs_over_the_registered_callback_url_not_the_host():
    body = b'{"shop_id": 1, "code": 3}'
    expected = shopee_authorization(
        partner_key="PARTNER_KEY", callback_url="https://hub.example.com/webhooks/shopee/", body=body
    )
    request = RequestFactory().post(
        "/webhooks/shopee/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=expected,
        HTTP_HOST="evil.example",
    )
    assert shopee.signature_valid(request, body, ["PARTNER_KEY"])
    assert not shopee.signature_valid(request, body + b" ", ["PARTNER_KEY"])
    assert not shopee.signature_valid(request, body, ["OTHER_KEY"])
