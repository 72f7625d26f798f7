"""Dotted, colon- and slash-joined names are indexed by their parts: kb_keyword_text(text) puts a space after each
. : / between two word characters before PostgreSQL's parser sees the text, and kb_search_vector(language,
context, content) is the one definition of a chunk's tsvector (the context line at weight B, the content at D)
that the write path (kb.pipeline.store.replace_chunks), this migration and the tests use. The query side
(kb.search.keyword, kb.search.bm25) passes every query through kb_keyword_text too.

Why: PostgreSQL's default parser reads "sphinx.builders.dirhtml.DirectoryHTMLBuilder", "env.docname" or
"Sphinx.add_js_file" as one host or file token, so a search for DirectoryHTMLBuilder, docname or add_js_file
never matched the chunks that name them in a dotted path (92 of the 497 sphinx_terms tuning terms ranked far
below bm25s, whose tokenizer splits on dots; tests/bench/bench_retrieval.py). A dotted query ("sphinx.ext.autodoc",
"conf.py") is split the same way and its parts score as a phrase (kb.search.bm25). Underscores and hyphens were
already split by the parser (hyphenated words keep their whole form too).

Existing rows are rewritten (one UPDATE; the content-version triggers mark every KB changed, so cached results
are dropped: their ranking changed). The text itself (content, context) is untouched: the preview still shows
exactly what is indexed; only the tokenisation of it changes.
"""

from django.db import migrations

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION kb_keyword_text(body text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS
$$ SELECT regexp_replace(body, '(\w)[.:/]+(?=\w)', '\1 ', 'g') $$;

CREATE OR REPLACE FUNCTION kb_search_vector(language regconfig, context text, content text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT setweight(to_tsvector(language, kb_keyword_text(coalesce(context, ''))), 'B')
          || to_tsvector(language, kb_keyword_text(coalesce(content, ''))) $$;
"""

REWRITE = """
UPDATE kb_chunk c SET search_vector = kb_search_vector(k.language::regconfig, c.context, c.content)
FROM kb_knowledgebase k WHERE k.id = c.kb_id
"""

REWRITE_BACK = """
UPDATE kb_chunk c SET search_vector = setweight(to_tsvector(k.language::regconfig, c.context), 'B')
    || to_tsvector(k.language::regconfig, c.content)
FROM kb_knowledgebase k WHERE k.id = c.kb_id
"""

DROP = "DROP FUNCTION IF EXISTS kb_search_vector(regconfig, text, text); DROP FUNCTION IF EXISTS kb_keyword_text(text);"


class Migration(migrations.Migration):
    dependencies = [("kb", "0011_kb_content_version")]

    operations = [migrations.RunSQL(FUNCTIONS, DROP), migrations.RunSQL(REWRITE, REWRITE_BACK)]
