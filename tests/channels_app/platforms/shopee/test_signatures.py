"""Shopee's push Authorization check against the recorded vector, valid and tampered."""

from django.test import RequestFactory, override_settings

from channels_app.platforms.shopee import webhooks as shopee
from tests.platforms import fixture_json, shopee_authorization

SHOPEE = fixture_json("shopee/signing_and_push_auth.json")


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
