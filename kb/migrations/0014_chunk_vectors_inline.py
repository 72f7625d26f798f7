"""Chunk vectors stored in the row (STORAGE PLAIN) instead of pgvector's default EXTERNAL.

A chunk row is ~3 KB (a 384-dimensional vector is 1,544 bytes, beside its text, tsvector and metadata), over
PostgreSQL's 2 KB TOAST threshold, and with EXTERNAL storage the vector is the first value moved out of the row:
every exact distance then costs a TOAST fetch. Exact scans are how most KBs are searched (the planner reads a KB
of a few thousand chunks by its kb_id index and sorts them, rather than walk the HNSW graph), and they were
dominated by it: a sequential top-40 over 9,312 chunks took 18 ms with the vectors out of line and 4.8 ms in line
(tests/bench/bench_api.py's table). With PLAIN, the TOAST pass moves the content text out instead (read only for
the top_k rows a search returns); the tsvector the keyword leg ranks stays in the row either way.

Catalog only: rows written from now on are stored this way; rows already stored keep their out-of-line vectors
until they are written again (a KB rebuild, or a document processed again).
"""

from django.db import migrations

COLUMNS = ("embedding", "embedding_768")


class Migration(migrations.Migration):
    dependencies = [
        ("kb", "0013_document_disabled_index"),
    ]

    operations = [
        migrations.RunSQL(
            sql=[f"ALTER TABLE kb_chunk ALTER COLUMN {column} SET STORAGE PLAIN" for column in COLUMNS],
            reverse_sql=[f"ALTER TABLE kb_chunk ALTER COLUMN {column} SET STORAGE EXTERNAL" for column in COLUMNS],
        ),
    ]
