# The embedding cache becomes per organization (kb.models.EmbeddingCache): a shared cache told one tenant, through
# `embedding_cache_hits` and timing, that another had indexed the same text.
#
# Existing entries cannot be attributed by themselves: each is copied to every organization that holds a chunk
# with that text (so reindexing keeps its cache hits) and the installation-wide originals are dropped — an entry
# no chunk uses any more is exactly what secure deletion removes anyway.

from django.db import migrations, models

COPY_TO_ORGANIZATIONS = """
INSERT INTO kb_embeddingcache (organization_id, model, text_hash, embedding, created_at)
SELECT DISTINCT ON (w.organization_id, ec.id) w.organization_id, ec.model, ec.text_hash, ec.embedding, ec.created_at
FROM kb_embeddingcache ec
JOIN kb_chunk c ON c.content_hash = ec.text_hash
JOIN kb_knowledgebase k ON k.id = c.kb_id
JOIN tenants_workspace w ON w.id = k.workspace_id
WHERE ec.organization_id IS NULL
"""


class Migration(migrations.Migration):
    dependencies = [
        ("kb", "0005_hnsw_ef_construction_128"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="embeddingcache", name="uniq_embedding_cache"),
        migrations.AddField(model_name="embeddingcache", name="organization_id", field=models.UUIDField(null=True)),
        migrations.RunSQL(
            [COPY_TO_ORGANIZATIONS, "DELETE FROM kb_embeddingcache WHERE organization_id IS NULL"],
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(model_name="embeddingcache", name="organization_id", field=models.UUIDField()),
        migrations.AddConstraint(
            model_name="embeddingcache",
            constraint=models.UniqueConstraint(
                fields=("organization_id", "model", "text_hash"), name="uniq_embedding_cache"
            ),
        ),
    ]
