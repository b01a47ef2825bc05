"""The events' own index on channel_id goes: the identity constraint's (channel, source, event_key)
serves every lookup by channel, and each webhook's INSERT wrote it for nothing.

Django's AlterField would drop and re-add the foreign key, validating it over the whole table
while webhooks wait; only the index is dropped here, and on PostgreSQL concurrently (no lock that
holds up the intake)."""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "channels_app_processedwebhookevent"
INDEX = "channels_app_processedwebhookevent_channel_id_7759d519"


def index_drop(apps, schema_editor):
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f'DROP INDEX{concurrently} IF EXISTS "{INDEX}"')


def index_create(apps, schema_editor):
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f'CREATE INDEX{concurrently} IF NOT EXISTS "{INDEX}" ON "{TABLE}" ("channel_id")')


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY runs outside a transaction

    dependencies = [
        ("channels_app", "0011_needs_mapping"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="processedwebhookevent",
                    name="channel",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="webhook_events",
                        to="channels_app.channel",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(index_drop, index_create)],
        ),
    ]
