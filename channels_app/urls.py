from django.urls import path

from channels_app import webhooks

app_name = "webhooks"

urlpatterns = [
    path("shopify/", webhooks.shopify_webhook, name="shopify"),
    path("shopify/<path:topic>", webhooks.shopify_webhook, name="shopify-topic"),
    path("woocommerce/<int:channel_id>/", webhooks.woocommerce_webhook, name="woocommerce"),
    path("shopee/", webhooks.shopee_webhook, name="shopee"),
    path("carriers/<str:carrier>/", webhooks.carrier_webhook, name="carrier"),
    path("carriers/<str:carrier>/<int:channel_id>/", webhooks.carrier_webhook, name="carrier-channel"),
    path("sms/<str:provider>/status/", webhooks.sms_webhook, {"kind": "status"}, name="sms-status"),
    path("sms/<str:provider>/inbound/", webhooks.sms_webhook, {"kind": "inbound"}, name="sms-inbound"),
]
