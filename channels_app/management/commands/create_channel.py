import json
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app.models import Channel, Platform
from channels_app.services import channel_create

# What each platform needs, and which option names its shop (how its webhooks name the channel).
REQUIRED = {
    Platform.SHOPIFY: ("shop_domain", "webhook_secret"),
    Platform.WOOCOMMERCE: ("site_url", "webhook_secret"),
    Platform.SHOPEE: ("shop_id", "partner_id", "partner_key"),
    Platform.EASYPOST: ("account", "webhook_secret"),
    Platform.AFTERSHIP: ("account", "webhook_secret"),
    Platform.TWILIO: ("account", "webhook_secret"),
}
SHOP_OPTION = {
    Platform.SHOPIFY: "shop_domain",
    Platform.WOOCOMMERCE: "site_url",
    Platform.SHOPEE: "shop_id",
    Platform.EASYPOST: "account",
    Platform.AFTERSHIP: "account",
    Platform.TWILIO: "account",  # the account SID: Twilio's posts carry it as AccountSid
}
TWILIO_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")


class Command(BaseCommand):
    help = (
        "Create (or update) a sales channel, as a merchant does in the admin. Prints one line of JSON "
        "with the channel's id, platform and the webhook URL to register with the platform."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organization slug (created if new).")
        parser.add_argument("--platform", required=True, choices=Platform.values)
        parser.add_argument("--name", default="", help="Display name (default: the shop).")
        parser.add_argument("--shop-domain", default="", help="Shopify: the shop's myshopify.com domain.")
        parser.add_argument("--site-url", default="", help="WooCommerce: the store's site URL.")
        parser.add_argument("--shop-id", default="", help="Shopee: the shop id.")
        parser.add_argument("--partner-id", default="", help="Shopee: the partner (app) id.")
        parser.add_argument("--partner-key", default="", help="Shopee: the partner key (signs pushes).")
        parser.add_argument(
            "--webhook-secret",
            default="",
            help="Shopify app secret / WooCommerce / carrier webhook secret / Twilio auth token.",
        )
        parser.add_argument(
            "--account", default="", help="EasyPost / AfterShip: a name for the account; Twilio: its SID."
        )
        parser.add_argument("--access-token", default="")
        parser.add_argument("--refresh-token", default="", help="Shopee: renews the access token.")
        parser.add_argument("--consumer-key", default="", help="WooCommerce REST consumer key.")
        parser.add_argument("--consumer-secret", default="", help="WooCommerce REST consumer secret.")
        parser.add_argument(
            "--api-base-url", default="", help="Platform API base URL (default: the platform's)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        platform = options["platform"]
        required = REQUIRED[platform]
        missing = ["--" + name.replace("_", "-") for name in required if not options[name]]
        if missing:
            raise CommandError(f"{platform} needs {', '.join(missing)}")
        if platform == Platform.SHOPEE and not options["shop_id"].isdigit():
            raise CommandError("--shop-id must be Shopee's numeric shop id")
        if platform == Platform.TWILIO and not TWILIO_ACCOUNT_SID.fullmatch(options["account"]):
            raise CommandError("--account must be the Twilio account SID: AC and 32 hexadecimal digits")
        try:
            channel = self.create(platform, options)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(
            json.dumps(
                {
                    "id": channel.pk,
                    "platform": channel.platform,
                    "organization": channel.organization.slug,
                    "shop": channel.shop_identifier,
                    "webhook_url": channel.webhook_url,
                }
            )
        )

    def create(self, platform: Platform, options: dict[str, Any]) -> Channel:
        return channel_create(
            organization_slug=options["org"],
            platform=platform,
            shop_identifier=options[SHOP_OPTION[platform]].rstrip("/"),
            webhook_secret=options["partner_key"]
            if platform == Platform.SHOPEE
            else options["webhook_secret"],
            name=options["name"],
            partner_id=options["partner_id"],
            api_base_url=options["api_base_url"],
            credentials={
                "access_token": options["access_token"],
                "refresh_token": options["refresh_token"],
                "consumer_key": options["consumer_key"],
                "consumer_secret": options["consumer_secret"],
            },
        )
