"""Index generations and the distance-metric triggers of migration 0003.

A rebuild (kb.rebuild) writes the chunks of a KB's next generation beside the serving one, with the rebuild's
settings: a row of another generation than the KB's serving one takes its metric from the KBRebuild of that
(kb, generation), so it lands in the partial HNSW index of the NEW metric while the serving rows stay in theirs.
A change of the KB's metric rewrites only the serving generation's rows, and only those whose metric differs: at
a rebuild's switch (metric and generation change in one UPDATE) that is none, and the old generation is deleted.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION kb_chunk_set_distance_metric() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    serving integer;
    config jsonb;
BEGIN
    SELECT generation, vector_store_config INTO serving, config FROM kb_knowledgebase WHERE id = NEW.kb_id;
    IF serving IS NOT NULL AND NEW.generation IS DISTINCT FROM serving THEN
        SELECT vector_store_config INTO config FROM kb_kbrebuild
            WHERE kb_id = NEW.kb_id AND generation = NEW.generation;
    END IF;
    NEW.distance_metric := coalesce(kb_distance_metric(config), 'cosine');
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS kb_chunk_distance_metric ON kb_chunk;
CREATE TRIGGER kb_chunk_distance_metric BEFORE INSERT OR UPDATE OF kb_id, generation, distance_metric ON kb_chunk
    FOR EACH ROW EXECUTE FUNCTION kb_chunk_set_distance_metric();

CREATE OR REPLACE FUNCTION kb_knowledgebase_sync_distance_metric() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE kb_chunk SET distance_metric = kb_distance_metric(NEW.vector_store_config)
        WHERE kb_id = NEW.id AND generation = NEW.generation
          AND distance_metric IS DISTINCT FROM kb_distance_metric(NEW.vector_store_config);
    RETURN NULL;
END $$;
"""

# The functions and trigger exactly as migration 0003 created them.
REVERSE = """
CREATE OR REPLACE FUNCTION kb_chunk_set_distance_metric() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT kb_distance_metric(vector_store_config) INTO NEW.distance_metric FROM kb_knowledgebase WHERE id = NEW.kb_id;
    NEW.distance_metric := coalesce(NEW.distance_metric, 'cosine');
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS kb_chunk_distance_metric ON kb_chunk;
CREATE TRIGGER kb_chunk_distance_metric BEFORE INSERT OR UPDATE OF kb_id, distance_metric ON kb_chunk
    FOR EACH ROW EXECUTE FUNCTION kb_chunk_set_distance_metric();

CREATE OR REPLACE FUNCTION kb_knowledgebase_sync_distance_metric() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE kb_chunk SET distance_metric = kb_distance_metric(NEW.vector_store_config) WHERE kb_id = NEW.id;
    RETURN NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("kb", "0008_living_kbs")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
