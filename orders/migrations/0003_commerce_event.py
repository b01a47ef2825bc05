# CommerceEvent moves from messaging to orders, which writes it: state only, the table
# (messaging_commerceevent, made by messaging 0004) stays as it is.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_fulfillment_push_and_tracking"),
        ("messaging", "0004_commerce_event"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="CommerceEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("order_paid", "Order paid"),
                                    ("fulfillment_created", "Fulfillment created"),
                                    ("fulfillment_shipped", "Order shipped (tracking)"),
                                    ("order_cancelled", "Order cancelled"),
                                ],
                                max_length=30,
                            ),
                        ),
                        ("key", models.CharField(help_text="One event, however often it is said.", max_length=200, unique=True)),
                        ("order_id", models.BigIntegerField()),
                        ("fulfillment_id", models.BigIntegerField(blank=True, null=True)),
                        ("forwarded_at", models.DateTimeField(blank=True, help_text="Handed to messaging-events.", null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "messaging_commerceevent",
                        "indexes": [
                            models.Index(
                                condition=models.Q(("forwarded_at__isnull", True)),
                                fields=["created_at"],
                                name="commerce_event_waiting_idx",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
