from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("kb", "0009_c_generation_metric")]

    operations = [
        migrations.AddField(
            model_name="chunk",
            name="context",
            field=models.TextField(blank=True, db_default="", default=""),
        ),
    ]
