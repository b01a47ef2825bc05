"""WooCommerce's signature check against its documented vector, valid and tampered."""

from django.test import RequestFactory

from channels_app.platforms.woocommerce import webhooks as woocommerce
from tests.platforms import b64_hmac, fixture_json

WOO = fixture_json("woocommerce/webhooks/headers_and_signature.json")


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
    body = b'{"id":1}'
    signature = b64_hmac("a&b\"c'd", body)
    assert woocommerce.signature_valid(woo_request(signature, body), body, ["a&amp;b&quot;c&#039;d"])


def test_woocommerce_ping_is_recognised_only_unsigned():
    ping = RequestFactory().post("/x", b"webhook_id=12", content_type="application/x-www-form-urlencoded")
    assert woocommerce.is_ping(ping, b"webhook_id=12")
    assert not woocommerce.is_ping(woo_request("x", b"webhook_id=12"), b"webhook_id=12")
