from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(model_name="message", old_name="claimed_job", new_name="job_id"),
        migrations.AlterField(
            model_name="message",
            name="job_id",
            field=models.CharField(
                blank=True, help_text="The delivery job that carries it (or is sending it).", max_length=100
            ),
        ),
    ]
