"""Products written before their title was the family's (it was the first variant's name) are
written again by their supplier's next sync, so the stores are sent the family's title: a family
of several variants is marked as not yet written (a family of one had its name as title already)."""

from django.db import migrations
from django.db.models import Count


def families_rewrite(apps, schema_editor):
    ProductFamily = apps.get_model("catalog_sync", "ProductFamily")
    several = (
        ProductFamily.objects.exclude(applied_hash="")
        .annotate(variants=Count("records"))
        .filter(variants__gt=1)
        .values_list("pk", flat=True)
    )
    ProductFamily.objects.filter(pk__in=list(several)).update(applied_hash="")


class Migration(migrations.Migration):
    dependencies = [("catalog_sync", "0002_pipeline")]

    operations = [migrations.RunPython(families_rewrite, migrations.RunPython.noop)]
