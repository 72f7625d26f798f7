"""search_vector gains the chunk's heading path at weight B (kb.pipeline.store.replace_chunks writes it so
from now on); existing rows are rewritten the same way here.

It is also kept inside the row (STORAGE MAIN): a chunk row (content + 1.5 kB embedding + tsvector) is over
the TOAST threshold, and with the default storage the tsvector went out of line, so the keyword leg fetched
it from the TOAST table for every row it matched and again for every ts_rank call. Now the embedding goes
out of line instead (read only for the few rows a vector search returns). Measured on the 100k-chunk
benchmark table: keyword p50 9.1 -> 6.4 ms, p95 23 -> 15 ms (tests/bench/bench_search.py)."""

from django.db import migrations

STORAGE = "ALTER TABLE kb_chunk ALTER COLUMN search_vector SET STORAGE MAIN"
STORAGE_BACK = "ALTER TABLE kb_chunk ALTER COLUMN search_vector SET STORAGE EXTENDED"

FORWARD = """
UPDATE kb_chunk c SET search_vector =
    setweight(to_tsvector(k.language::regconfig,
        coalesce((SELECT string_agg(h, E'\\n') FROM jsonb_array_elements_text(
            CASE WHEN jsonb_typeof(c.metadata->'heading_path') = 'array' THEN c.metadata->'heading_path'
                 ELSE '[]'::jsonb END) AS h), '')), 'B')
    || to_tsvector(k.language::regconfig, c.content)
FROM kb_knowledgebase k WHERE k.id = c.kb_id
"""

BACKWARD = """
UPDATE kb_chunk c SET search_vector = to_tsvector(k.language::regconfig, c.content)
FROM kb_knowledgebase k WHERE k.id = c.kb_id
"""


class Migration(migrations.Migration):
    dependencies = [("kb", "0003_search_indexes")]

    # storage first: the UPDATE writes every row anew, so existing rows are laid out the new way too
    operations = [migrations.RunSQL(STORAGE, STORAGE_BACK), migrations.RunSQL(FORWARD, BACKWARD)]
