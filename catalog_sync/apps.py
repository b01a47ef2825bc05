from django.apps import AppConfig


class CatalogSyncConfig(AppConfig):
    name = "catalog_sync"
    verbose_name = "Catalog sync"

    def ready(self) -> None:
        # Imported here, not at the top: these modules import models, which load only after
        # the app registry is ready.
        from catalog_sync.push import channel_push_all_on_commit
        from channels_app.services import catalog_push_turned_on

        # A channel that turns the catalog on gets the products so far; channels_app says so
        # and never imports catalog_sync.
        catalog_push_turned_on.connect(channel_push_all_on_commit, dispatch_uid="catalog_sync.push")
