"""group_by=document (issue 17): top_k distinct documents, each as its best chunk, on real embeddings of real text."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from kb.models import KnowledgeBase
from kb.search import SearchError, chunk_search
from kb.search.grouping import by_document
from tests.kb.test_search import REAL, add_chunks, analyze, paragraphs, vectors


@pytest.fixture
def no_query_cache(settings):
    settings.EMBEDDING_CACHE_TTL = 0


def test_by_document_keeps_each_documents_best_chunk_in_place():
    ranked = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6), (5, 0.5), (6, 0.4)]
    docs = {1: "a", 2: "a", 3: "b", 4: "a", 5: "c", 6: "b"}
    assert by_document(ranked, docs, top_k=10) == [(1, 0.9, []), (3, 0.7, []), (5, 0.5, [])]
    assert by_document(ranked, docs, top_k=2, chunks_per_document=3) == [
        (1, 0.9, [(2, 0.8), (4, 0.6)]),
        (3, 0.7, [(6, 0.4)]),  # a document past top_k (c) takes no place, a kept one still collects its chunks
    ]
    assert by_document(ranked, {1: "a"}, top_k=5) == [(1, 0.9, [])]  # unknown document (deleted): skipped


@pytest.fixture
def many_docs_kb(make_kb):
    """Six documents of 50 real paragraphs each: any query matches chunks of several documents."""
    kb = make_kb(name="many")
    texts, vecs = paragraphs(REAL), vectors()
    docs = [
        add_chunks(kb, texts[i : i + 50], vecs[i : i + 50], name=f"doc{i // 50}", url=f"https://example.com/{i // 50}")
        for i in range(0, 300, 50)
    ]
    analyze()
    return kb, docs


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_grouped_results_are_distinct_documents_each_at_its_best_chunk(many_docs_kb, mode, no_query_cache):
    kb, docs = many_docs_kb
    query = "promise callback error"
    # the same candidate pool both ways (grouping asks each leg for at least SEARCH_CANDIDATES rows)
    chunks = chunk_search(kb=kb, query=query, mode=mode, top_k=100, candidates=100)
    assert len({r.document_id for r in chunks[:10]}) < 10  # ungrouped, the top 10 repeat documents
    best_of = {}
    for r in chunks:
        best_of.setdefault(r.document_id, r)
    assert len(best_of) >= 3
    grouped = chunk_search(
        kb=kb, query=query, mode=mode, top_k=4, group_by="document", chunks_per_document=3, candidates=100
    )
    ids = [r.document_id for r in grouped]
    assert len(set(ids)) == len(ids) == min(4, len(best_of))  # never two results of one document
    assert ids == list(best_of)[:4]  # documents in the order of their best chunk
    for r in grouped:
        assert r.chunk_id == best_of[r.document_id].chunk_id
        assert r.score == pytest.approx(best_of[r.document_id].score)
        assert 1 <= len(r.document_chunks) <= 2
        assert {c.document_id for c in r.document_chunks} == {r.document_id}
        scores = [r.score] + [c.score for c in r.document_chunks]
        assert scores == sorted(scores, reverse=True)
        assert r.chunk_id not in {c.chunk_id for c in r.document_chunks}
    assert [r.rank for r in grouped] == list(range(1, len(ids) + 1))
    # without chunks_per_document, only the best chunk of each
    assert all(not r.document_chunks for r in chunk_search(kb=kb, query=query, mode=mode, group_by="document"))
    assert json.dumps([r.to_dict() for r in grouped])


def test_grouping_returns_all_documents_when_fewer_than_top_k(many_docs_kb, no_query_cache):
    kb, docs = many_docs_kb
    grouped = chunk_search(kb=kb, query=paragraphs(REAL)[9], mode="hybrid", top_k=20, group_by="document")
    assert len(grouped) == len({r.document_id for r in grouped}) <= len(docs)
    assert grouped[0].content == paragraphs(REAL)[9]


def test_grouping_stays_inside_the_kb(many_docs_kb, no_query_cache):
    kb, docs = many_docs_kb
    from tenants.models import Organization, Workspace

    other = Workspace.objects.create(organization=Organization.objects.create(name="Initech"), name="w")
    foreign = KnowledgeBase.objects.create(workspace=other, name="x")
    add_chunks(foreign, paragraphs(REAL), vectors(), name="foreign")  # the very same texts and vectors
    analyze()
    own = {str(d.pk) for d in docs}
    for mode in ("vector", "keyword", "hybrid"):
        grouped = chunk_search(kb=kb, query="promise callback", mode=mode, top_k=10, group_by="document",
                               chunks_per_document=5)  # fmt: skip
        assert grouped and {r.document_id for r in grouped} <= own
        assert {c.document_id for r in grouped for c in r.document_chunks} <= own


def test_bad_grouping_options_are_search_errors(many_docs_kb):
    kb, _ = many_docs_kb
    with pytest.raises(SearchError):
        chunk_search(kb=kb, query="x", mode="keyword", group_by="page")
    with pytest.raises(SearchError):
        chunk_search(kb=kb, query="x", mode="keyword", group_by="document", chunks_per_document=0)


def test_commands_group_by_document(many_docs_kb, owner, tmp_path, capsys, no_query_cache):
    kb, docs = many_docs_kb
    call_command("search", "--user", owner.username, "--kb", kb.name, "promise callback", "--mode", "keyword",
                 "--group-by", "document", "--top-k", "3", "--json")  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and len({r["document_id"] for r in rows}) == 3
    call_command("search", "--user", owner.username, "--kb", kb.name, "promise callback", "--mode", "keyword",
                 "--group-by", "document", "--top-k", "3", "--chunks-per-document", "2")  # fmt: skip
    out = capsys.readouterr().out
    assert "3 documents from many (keyword)" in out and "+ " in out
    # a judged query whose two relevant pages each hold many matching chunks: grouped, both fit in the top 2
    judgments = tmp_path / "q.jsonl"
    top = chunk_search(kb=kb, query="promise callback", mode="keyword", top_k=2, group_by="document")
    relevant = [r.document_url for r in top]
    judgments.write_text(json.dumps({"query": "promise callback", "relevant": relevant}))
    call_command("evaluate_search", "--user", owner.username, "--kb", kb.name, str(judgments), "--modes", "keyword",
                 "--k", "2", "--group-by", "document", "--json")  # fmt: skip
    grouped = json.loads(capsys.readouterr().out)[0]
    assert grouped["recall@2"] == 1.0
