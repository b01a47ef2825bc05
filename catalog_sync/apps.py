from django.apps import AppConfig


class CatalogSyncConfig(AppConfig):
    name = "catalog_sync"
    verbose_name = "Catalog sync"
