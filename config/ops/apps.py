from django.apps import AppConfig


class OpsConfig(AppConfig):
    """An app without models: its admin module wires the console into django-rq's Dashboard."""

    name = "config.ops"
    label = "ops"
    verbose_name = "Ops console"
