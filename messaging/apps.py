from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self) -> None:
        # Imported here, not at the top: these modules import models, which load only after
        # the app registry is ready.
        from messaging.events import event_enqueue_on_commit
        from orders.events import commerce_event_recorded

        # Orders records its commerce events and never imports messaging; messaging hands each
        # one on after its transaction commits (its sweep is the safety net).
        commerce_event_recorded.connect(event_enqueue_on_commit, dispatch_uid="messaging.events")
