# Deletion receipts (privexbot.models.DeletionReceipt, written by kb.deletion).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("privexbot", "0003_audit_integrity"),
    ]

    operations = [
        migrations.CreateModel(
            name="DeletionReceipt",
            fields=[
                ("id", models.UUIDField(primary_key=True, serialize=False)),
                ("created_at", models.DateTimeField(db_index=True)),
                ("organization_id", models.UUIDField(blank=True, null=True)),
                ("workspace_id", models.UUIDField(blank=True, db_index=True, null=True)),
                ("scope", models.CharField(max_length=16)),
                ("reason", models.CharField(max_length=32)),
                ("body", models.JSONField()),
                ("signature", models.CharField(max_length=128)),
            ],
            options={"ordering": ["-created_at"]},
        ),
    ]
