"""A KB's content version (table kb_content_version, one row per KB): a number that changes whenever what search serves from the KB may change, kept by
triggers so that no writer (the pipeline's raw INSERTs, the ORM, a rebuild's switch, deletion, an import, admin)
can forget it. kb.search.cache keys cached results by it.

What raises it: any INSERT / UPDATE / DELETE / TRUNCATE of kb_chunk rows of the KB; a document's enabled flag,
metadata, source type (both are search filters) or KB changing, or the document being deleted; a change of the
KB's serving fields (generation, embedding_config, vector_store_config, language). A document's name or URL
does not: a cached result holds chunk ids and scores only and is hydrated from the tables at every hit.

Once per transaction and KB, at its commit: psycopg's executemany sends each chunk row as its own statement, so a
statement-level trigger would still fire per row. The row trigger's first call in a transaction marks the KB in a
transaction-local setting (set_config(..., true): undone with the transaction, or with the savepoint that made
it) and inserts one row into kb_content_mark (a KB id, nothing else; unlogged), whose deferred constraint trigger
bumps the KB and deletes the mark when the transaction commits. Later rows of that KB only read the setting.
Bumping at commit, not at the first write, holds the version row's lock only for the last instant, so two
workers storing documents of one KB do not queue behind each other for their whole store step. The version lives
in its own table, not in the KB row: kb.versions.on_ready locks the KB row and then the old version's document,
while that document's worker holds its document row and, at commit, needs the version; were the version in the
KB row, the two would deadlock. The version row is the last lock either takes. The mark row lives and
dies inside its own transaction: no other session ever sees one. A change of the serving fields bumps at once
(that UPDATE holds the KB row anyway). A KB's row is made with the KB and goes with it (triggers on kb_knowledgebase);
a bump at the commit of the transaction that deleted the KB finds no KB and writes nothing. Until commit a transaction's own searches see the old number:
kb.search.cache reads the setting and leaves the cache out for a KB the transaction has written.

The new value is max(old + 1, microseconds since the epoch of the database clock), not old + 1: after a
point-in-time restore (or a failover that lost commits) the restored KB carries an older value, and a plain
counter would hand out again numbers that cached results of the lost history were stored under. Clock-based
values issued after the restore are larger than any issued before it (as long as the database clock does not go
back by more than the time since the restore point). Nothing but these triggers writes the table, so no save()
of a stale KB copy can lower it.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION kb_content_version_next(current bigint) RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT greatest(coalesce(current, 0) + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
$$;

-- No foreign key: Django's test flush truncates the tables it knows, and a reference from a table it does not
-- know would refuse that. The KB's triggers below make and remove the row instead.
CREATE TABLE kb_content_version (kb_id uuid PRIMARY KEY, version bigint NOT NULL);
INSERT INTO kb_content_version (kb_id, version) SELECT id, kb_content_version_next(0) FROM kb_knowledgebase;

CREATE FUNCTION kb_content_version_raise(kb uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE kb_content_version SET version = kb_content_version_next(version) WHERE kb_id = kb;
    IF NOT FOUND THEN  -- a KB made before its row existed; none when the KB is gone
        INSERT INTO kb_content_version (kb_id, version)
            SELECT id, kb_content_version_next(0) FROM kb_knowledgebase WHERE id = kb
            ON CONFLICT (kb_id) DO UPDATE SET version = kb_content_version_next(kb_content_version.version);
    END IF;
END $$;

CREATE FUNCTION kb_knowledgebase_content_version_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kb_content_version (kb_id, version) VALUES (NEW.id, kb_content_version_next(0))
        ON CONFLICT (kb_id) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER kb_knowledgebase_content_version_create AFTER INSERT ON kb_knowledgebase
    FOR EACH ROW EXECUTE FUNCTION kb_knowledgebase_content_version_create();

CREATE FUNCTION kb_knowledgebase_content_version_drop() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM kb_content_version;
    ELSE
        DELETE FROM kb_content_version WHERE kb_id = OLD.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER kb_knowledgebase_content_version_drop AFTER DELETE ON kb_knowledgebase
    FOR EACH ROW EXECUTE FUNCTION kb_knowledgebase_content_version_drop();
CREATE TRIGGER kb_knowledgebase_content_version_truncate AFTER TRUNCATE ON kb_knowledgebase
    FOR EACH STATEMENT EXECUTE FUNCTION kb_knowledgebase_content_version_drop();

CREATE UNLOGGED TABLE kb_content_mark (kb_id uuid NOT NULL);

CREATE FUNCTION kb_content_mark_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM kb_content_version_raise(NEW.kb_id);
    DELETE FROM kb_content_mark WHERE kb_id = NEW.kb_id;  -- only this transaction's rows are visible to it
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER kb_content_mark_apply AFTER INSERT ON kb_content_mark
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kb_content_mark_apply();

CREATE FUNCTION kb_content_bump(kb uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    marks text := coalesce(current_setting('privexbot.kb_content_bumped', true), '');
BEGIN
    IF kb IS NULL OR strpos(marks, kb::text) > 0 THEN
        RETURN;
    END IF;
    INSERT INTO kb_content_mark (kb_id) VALUES (kb);
    PERFORM set_config('privexbot.kb_content_bumped', marks || kb::text || ',', true);
END $$;

CREATE FUNCTION kb_chunk_content_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM kb_content_bump(OLD.kb_id);
        RETURN OLD;
    END IF;
    PERFORM kb_content_bump(NEW.kb_id);
    IF TG_OP = 'UPDATE' AND OLD.kb_id IS DISTINCT FROM NEW.kb_id THEN
        PERFORM kb_content_bump(OLD.kb_id);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER kb_chunk_content_version BEFORE INSERT OR UPDATE OR DELETE ON kb_chunk
    FOR EACH ROW EXECUTE FUNCTION kb_chunk_content_changed();

CREATE FUNCTION kb_all_content_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE kb_content_version SET version = kb_content_version_next(version);
    RETURN NULL;
END $$;
CREATE TRIGGER kb_chunk_content_version_truncate AFTER TRUNCATE ON kb_chunk
    FOR EACH STATEMENT EXECUTE FUNCTION kb_all_content_changed();

CREATE FUNCTION kb_document_content_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM kb_content_bump(OLD.kb_id);
        RETURN NULL;
    END IF;
    PERFORM kb_content_bump(NEW.kb_id);
    IF OLD.kb_id IS DISTINCT FROM NEW.kb_id THEN
        PERFORM kb_content_bump(OLD.kb_id);
    END IF;
    RETURN NULL;
END $$;
-- Status, progress and heartbeat updates (many per processing run) do not match the WHEN: no function call.
CREATE TRIGGER kb_document_content_version AFTER UPDATE ON kb_document
    FOR EACH ROW
    WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled OR OLD.metadata IS DISTINCT FROM NEW.metadata
          OR OLD.source_type IS DISTINCT FROM NEW.source_type OR OLD.kb_id IS DISTINCT FROM NEW.kb_id)
    EXECUTE FUNCTION kb_document_content_changed();
CREATE TRIGGER kb_document_content_version_delete AFTER DELETE ON kb_document
    FOR EACH ROW EXECUTE FUNCTION kb_document_content_changed();

CREATE FUNCTION kb_knowledgebase_content_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.generation IS DISTINCT FROM NEW.generation
       OR OLD.embedding_config IS DISTINCT FROM NEW.embedding_config
       OR OLD.vector_store_config IS DISTINCT FROM NEW.vector_store_config
       OR OLD.language IS DISTINCT FROM NEW.language THEN
        PERFORM kb_content_version_raise(NEW.id);
        PERFORM set_config('privexbot.kb_content_bumped',
                           coalesce(current_setting('privexbot.kb_content_bumped', true), '') || NEW.id::text || ',',
                           true);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER kb_knowledgebase_content_version BEFORE UPDATE ON kb_knowledgebase
    FOR EACH ROW EXECUTE FUNCTION kb_knowledgebase_content_version();
"""

REVERSE = """
DROP TRIGGER IF EXISTS kb_knowledgebase_content_version_truncate ON kb_knowledgebase;
DROP TRIGGER IF EXISTS kb_knowledgebase_content_version_drop ON kb_knowledgebase;
DROP FUNCTION IF EXISTS kb_knowledgebase_content_version_drop();
DROP TRIGGER IF EXISTS kb_knowledgebase_content_version_create ON kb_knowledgebase;
DROP FUNCTION IF EXISTS kb_knowledgebase_content_version_create();
DROP TRIGGER IF EXISTS kb_knowledgebase_content_version ON kb_knowledgebase;
DROP FUNCTION IF EXISTS kb_knowledgebase_content_version();
DROP TRIGGER IF EXISTS kb_document_content_version_delete ON kb_document;
DROP TRIGGER IF EXISTS kb_document_content_version ON kb_document;
DROP FUNCTION IF EXISTS kb_document_content_changed();
DROP TRIGGER IF EXISTS kb_chunk_content_version_truncate ON kb_chunk;
DROP FUNCTION IF EXISTS kb_all_content_changed();
DROP TRIGGER IF EXISTS kb_chunk_content_version ON kb_chunk;
DROP FUNCTION IF EXISTS kb_chunk_content_changed();
DROP FUNCTION IF EXISTS kb_content_bump(uuid);
DROP TRIGGER IF EXISTS kb_content_mark_apply ON kb_content_mark;
DROP FUNCTION IF EXISTS kb_content_mark_apply();
DROP TABLE IF EXISTS kb_content_mark;
DROP FUNCTION IF EXISTS kb_content_version_raise(uuid);
DROP TABLE IF EXISTS kb_content_version;
DROP FUNCTION IF EXISTS kb_content_version_next(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [("kb", "0010_chunk_context")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
