# Retention policy and legal hold of a knowledge base (kb.retention, kb.legal_hold).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("kb", "0006_embedding_cache_per_organization"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="knowledgebase",
            name="retention_inherit",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="knowledgebase",
            name="retention_days",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="knowledgebase",
            name="retention_basis",
            field=models.CharField(
                choices=[("uploaded", "Upload"), ("updated", "Last update")], default="uploaded", max_length=8
            ),
        ),
        migrations.AddField(
            model_name="knowledgebase",
            name="legal_hold",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="knowledgebase",
            name="legal_hold_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="knowledgebase",
            name="legal_hold_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="knowledgebase",
            name="legal_hold_reason",
            field=models.CharField(blank=True, max_length=500),
        ),
    ]
