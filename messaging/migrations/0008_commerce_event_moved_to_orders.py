# CommerceEvent now belongs to orders (orders 0003): state only, the table stays.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0007_checkout_keyed_by_token"),
        ("orders", "0003_commerce_event"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="CommerceEvent")],
            database_operations=[],
        ),
    ]
