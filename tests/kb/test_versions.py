# ruff: noqa: F811  (the `api` fixture imported from tests.api.conftest is a parameter here)
"""File versions (kb.versions): a file added again under its name follows the KB's duplicate policy — identical
bytes are skipped, changed bytes become a new version that replaces the old one in search only once it is
ready; `skip` and `keep_both` policies; through the services, a real worker, the API, the wizard and `ingest`."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command
from django.urls import reverse

from kb import versions
from kb.models import Chunk, Document, DocumentStatus, DuplicatePolicy
from kb.pipeline import runner
from kb.search import chunk_search
from kb.services import document_add_file, document_create_from_file
from privexbot.metrics.definitions import DOCUMENT_VERSIONS
from privexbot.models import AuditEvent, DeletionReceipt
from privexbot.storage import get_storage
from tests.api.conftest import api  # noqa: F401  (the bearer-token client fixture)

COMMON = "Grant of Copyright License"  # in both versions (the Apache License, section 2)
OLD_MARK, NEW_MARK = "Zanzibar", "Kilimanjaro"


@pytest.fixture
def license_text(corpus):
    return (corpus / "txt" / "Apache-2.0.txt").read_text()


def _version(text: str, mark: str) -> bytes:
    clause = f"\n\n{mark} clause. The {mark} office answers licensing questions about this {mark} edition.\n"
    return (text + clause).encode()


def _add(kb, user, data: bytes, name="LICENSE.txt", **kwargs):
    return document_add_file(kb=kb, user=user, filename=name, fileobj=io.BytesIO(data), **kwargs)


def _docs(results) -> set[str]:
    return {r.document_id for r in results}


def _stored() -> set[str]:
    return set(get_storage().stored_files())


def _metric(outcome: str) -> float:
    return DOCUMENT_VERSIONS.labels(outcome=outcome)._value.get()


# ---------------------------------------------------------------- the rule, in-process


@pytest.mark.django_db
def test_an_identical_file_is_skipped_nothing_new_is_stored(
    kb, owner, license_text, no_enqueue, django_capture_on_commit_callbacks
):
    first = _add(kb, owner, _version(license_text, OLD_MARK))
    assert (first.outcome, first.document.file_version, first.document.replaces_id) == ("added", 1, None)
    files_before, skipped_before = _stored(), _metric("skipped")

    with django_capture_on_commit_callbacks(execute=True):
        again = _add(kb, owner, _version(license_text, OLD_MARK))

    assert again.outcome == "skipped" and again.reason == versions.IDENTICAL
    assert again.document.pk == first.document.pk  # told which existing document it matches
    assert Document.objects.filter(kb=kb).count() == 1
    assert _stored() == files_before  # the bytes were not stored again
    assert no_enqueue == [str(first.document.pk)]  # nothing new for the workers
    event = AuditEvent.objects.get(action="skip_duplicate", details__kb_id=str(kb.pk))
    assert event.details["matches"] == str(first.document.pk) and event.details["reason"] == "identical"
    assert _metric("skipped") == skipped_before + 1  # counted on commit


@pytest.mark.django_db
def test_a_changed_file_becomes_version_2_and_the_old_one_serves_until_it_is_ready(
    kb, owner, license_text, no_enqueue, django_capture_on_commit_callbacks
):
    v1 = _add(kb, owner, _version(license_text, OLD_MARK)).document
    assert runner.process(v1.pk).status == "ready"
    with django_capture_on_commit_callbacks(execute=True):
        added = _add(kb, owner, _version(license_text, NEW_MARK))
    v2 = added.document
    assert added.outcome == "replaced" and added.replaces.pk == v1.pk
    assert (v2.file_version, v2.replaces_id, v2.status) == (2, v1.pk, DocumentStatus.QUEUED)
    event = AuditEvent.objects.get(action="create", resource_id=str(v2.pk))
    assert event.details["version"] == 2 and event.details["replaces"] == str(v1.pk)

    # Queued, not ready yet: search still answers from version 1, and only from it.
    assert _docs(chunk_search(kb=kb, query=COMMON, mode="keyword")) == {str(v1.pk)}
    assert _docs(chunk_search(kb=kb, query=OLD_MARK, mode="keyword")) == {str(v1.pk)}
    assert chunk_search(kb=kb, query=NEW_MARK, mode="keyword") == []

    old_files = [v1.stored_file, Document.objects.get(pk=v1.pk).elements_file]
    with django_capture_on_commit_callbacks(execute=True):
        assert runner.process(v2.pk).status == "ready"

    assert not Document.objects.filter(pk=v1.pk).exists()
    assert not Chunk.objects.filter(document_id=v1.pk).exists()
    assert not any(get_storage().exists(f) for f in old_files if f)
    receipt = DeletionReceipt.objects.get(reason="replaced", body__knowledge_base_id=str(kb.pk))
    assert receipt.body["document_ids"] == [str(v1.pk)]
    results = chunk_search(kb=kb, query=COMMON, mode="hybrid", top_k=20)
    assert _docs(results) == {str(v2.pk)}
    assert len({r.content for r in results}) == len(results)  # no duplicate results
    assert _docs(chunk_search(kb=kb, query=NEW_MARK, mode="keyword")) == {str(v2.pk)}
    assert chunk_search(kb=kb, query=OLD_MARK, mode="keyword") == []


@pytest.mark.django_db
def test_a_failed_new_version_leaves_the_old_one_serving(kb, owner, license_text, no_enqueue):
    v1 = _add(kb, owner, _version(license_text, OLD_MARK)).document
    assert runner.process(v1.pk).status == "ready"
    broken = _add(kb, owner, b" \n\t \n" * 50)  # a text file with no text: no chunks, a permanent failure
    assert broken.outcome == "replaced"
    assert runner.process(broken.document.pk).status == "failed"

    assert Document.objects.get(pk=v1.pk).status == DocumentStatus.READY
    assert _docs(chunk_search(kb=kb, query=OLD_MARK, mode="keyword")) == {str(v1.pk)}
    # A failed version is never the one compared with: the original bytes again are identical to version 1.
    again = _add(kb, owner, _version(license_text, OLD_MARK))
    assert again.outcome == "skipped" and again.document.pk == v1.pk
    # ... and version numbers are not reused: the next change is version 3, replacing version 1.
    v3 = _add(kb, owner, _version(license_text, NEW_MARK))
    assert (v3.outcome, v3.document.file_version, v3.document.replaces_id) == ("replaced", 3, v1.pk)


@pytest.mark.django_db
def test_under_legal_hold_the_new_version_serves_and_the_old_one_is_kept_superseded(
    kb, owner, license_text, no_enqueue
):
    from kb.legal_hold import kb_legal_hold_set

    v1 = _add(kb, owner, _version(license_text, OLD_MARK)).document
    assert runner.process(v1.pk).status == "ready"
    kb_legal_hold_set(kb=kb, user=owner, reason="litigation 2026-17")
    v2 = _add(kb, owner, _version(license_text, NEW_MARK)).document
    assert runner.process(v2.pk).status == "ready"

    old = Document.objects.get(pk=v1.pk)  # nothing is deleted under a hold
    assert Chunk.objects.filter(document=old).count() == old.chunk_count > 0
    assert old.enabled is False and old.metadata["superseded_by"] == str(v2.pk)
    assert not DeletionReceipt.objects.filter(reason="replaced").exists()
    assert AuditEvent.objects.filter(action="supersede", resource_id=str(v1.pk)).exists()
    assert _docs(chunk_search(kb=kb, query=COMMON, mode="hybrid", top_k=20)) == {str(v2.pk)}
    assert chunk_search(kb=kb, query=OLD_MARK, mode="keyword") == []

    # Once lifted, a later run of version 2 (a reprocess) leaves the superseded version as it is.
    from kb.legal_hold import kb_legal_hold_lift
    from kb.services import document_reprocess

    kb_legal_hold_lift(kb=kb, user=owner)
    document_reprocess(document=v2, user=owner)
    assert runner.process(v2.pk).status == "ready"
    assert Document.objects.filter(pk=v1.pk, enabled=False).exists()
    assert AuditEvent.objects.filter(action="supersede", resource_id=str(v1.pk)).count() == 1


@pytest.mark.django_db
def test_a_version_ready_before_the_one_it_replaces_takes_the_whole_chain_out(
    kb, owner, license_text, no_enqueue, django_capture_on_commit_callbacks
):
    v1 = _add(kb, owner, _version(license_text, OLD_MARK)).document
    assert runner.process(v1.pk).status == "ready"
    v2 = _add(kb, owner, _version(license_text, "Interim")).document  # still queued when v3 arrives
    v3 = _add(kb, owner, _version(license_text, NEW_MARK)).document
    assert (v3.file_version, v3.replaces_id) == (3, v2.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert runner.process(v3.pk).status == "ready"
    assert list(Document.objects.filter(kb=kb).values_list("pk", flat=True)) == [v3.pk]
    assert runner.process(v2.pk).status is None  # its message comes later: the document is gone, nothing is done
    assert _docs(chunk_search(kb=kb, query=COMMON, mode="keyword", top_k=20)) == {str(v3.pk)}


@pytest.mark.django_db
def test_skip_policy_skips_any_file_whose_name_is_there(kb, owner, license_text, no_enqueue):
    kb.duplicate_policy = DuplicatePolicy.SKIP
    kb.save(update_fields=["duplicate_policy"])
    first = _add(kb, owner, _version(license_text, OLD_MARK))
    changed = _add(kb, owner, _version(license_text, NEW_MARK))
    assert changed.outcome == "skipped" and changed.reason == versions.NAME_EXISTS
    assert changed.document.pk == first.document.pk
    assert _add(kb, owner, _version(license_text, NEW_MARK), name="OTHER.txt").outcome == "added"
    assert Document.objects.filter(kb=kb).count() == 2


@pytest.mark.django_db
def test_keep_both_policy_always_adds(kb, owner, license_text, no_enqueue):
    kb.duplicate_policy = DuplicatePolicy.KEEP_BOTH
    kb.save(update_fields=["duplicate_policy"])
    data = _version(license_text, OLD_MARK)
    documents = [document_create_from_file(kb=kb, user=owner, filename="a.txt", fileobj=io.BytesIO(data))]
    documents.append(document_create_from_file(kb=kb, user=owner, filename="a.txt", fileobj=io.BytesIO(data)))
    assert len({d.pk for d in documents}) == 2
    assert [d.file_version for d in documents] == [1, 1] and documents[1].replaces_id is None


@pytest.mark.django_db
def test_only_file_uploads_are_versioned(kb, owner, no_enqueue):
    from kb.services import document_create_from_text

    text = "The same pasted text, long enough to be a document of its own. " * 5
    a = document_create_from_text(kb=kb, user=owner, title="Notes", content=text)
    b = document_create_from_text(kb=kb, user=owner, title="Notes", content=text)
    assert a.pk != b.pk and b.file_version == 1


# ---------------------------------------------------------------- a real worker: the switch under search


@pytest.mark.slow
def test_re_uploading_a_changed_file_switches_search_at_one_moment_with_a_real_worker(
    worker_process, kb, owner, license_text
):
    worker_process()
    v1 = _add(kb, owner, _version(license_text, OLD_MARK)).document
    _wait_ready(v1.pk)
    v1 = Document.objects.get(pk=v1.pk)
    old_files = [v1.stored_file, v1.elements_file]

    v2 = _add(kb, owner, _version(license_text, NEW_MARK)).document
    seen, started = [], time.monotonic()
    # Search while the worker processes version 2: every answer comes from exactly one version, never both,
    # never neither; version 1 until the switch, version 2 from it on.
    while time.monotonic() - started < 300:
        status = Document.objects.filter(pk=v2.pk).values_list("status", flat=True).get()
        answer = _docs(chunk_search(kb=kb, query=COMMON, mode="keyword", top_k=20))
        assert answer in ({str(v1.pk)}, {str(v2.pk)}), answer
        seen.append((status, answer == {str(v2.pk)}))
        if answer == {str(v2.pk)}:
            break
        assert status != DocumentStatus.FAILED
        time.sleep(0.05)
    assert seen[-1][1], "search never switched to the new version"
    assert any(not new for _, new in seen), "the old version was never seen while the new one was processed"
    assert all(status != DocumentStatus.READY for status, new in seen if not new)  # old only before ready

    # The switch happened in the commit that made version 2 ready: version 1 is gone with its files.
    assert Document.objects.get(pk=v2.pk).status == DocumentStatus.READY
    assert not Document.objects.filter(pk=v1.pk).exists()
    assert not Chunk.objects.filter(document_id=v1.pk).exists()
    receipt = DeletionReceipt.objects.get(reason="replaced", body__knowledge_base_id=str(kb.pk))
    assert receipt.body["document_ids"] == [str(v1.pk)]
    deadline = time.monotonic() + 30  # the shredding runs after the worker's commit
    while any(get_storage().exists(f) for f in old_files if f) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(get_storage().exists(f) for f in old_files if f)
    results = chunk_search(kb=kb, query=COMMON, mode="hybrid", top_k=20)
    assert _docs(results) == {str(v2.pk)} and len({r.content for r in results}) == len(results)
    assert _docs(chunk_search(kb=kb, query=NEW_MARK, mode="keyword")) == {str(v2.pk)}
    assert chunk_search(kb=kb, query=OLD_MARK, mode="keyword") == []


def _wait_ready(document_id, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Document.objects.filter(pk=document_id).values_list("status", flat=True).get()
        if status == DocumentStatus.READY:
            return
        assert status not in (DocumentStatus.FAILED, DocumentStatus.QUARANTINED), status
        time.sleep(0.3)
    raise AssertionError(f"document {document_id} not ready after {timeout}s")


# ---------------------------------------------------------------- the doors


def _adding_draft(kb, owner, files: dict[str, bytes]):
    from drafts import processing
    from drafts.services import draft_create, draft_source_add_file

    draft = draft_create(workspace=kb.workspace, user=owner, name="More", target_kb=kb)
    for name, data in files.items():
        source = draft_source_add_file(draft=draft, user=owner, filename=name, fileobj=io.BytesIO(data))
        assert processing.parse_source(str(source.pk)) == "completed"
    return draft


@pytest.mark.django_db
def test_the_api_finalize_says_what_was_added_replaced_and_skipped(
    api, kb, owner, license_text, no_enqueue, django_capture_on_commit_callbacks
):
    same, old = _version(license_text, "Unchanged"), _version(license_text, OLD_MARK)
    kept = _add(kb, owner, same, name="KEEP.txt").document
    v1 = _add(kb, owner, old).document
    assert runner.process(v1.pk).status == "ready"
    draft = _adding_draft(
        kb, owner, {"KEEP.txt": same, "LICENSE.txt": _version(license_text, NEW_MARK), "NEW.txt": old}
    )
    draft_files = {s.stored_file for s in draft.sources.all()}

    with django_capture_on_commit_callbacks(execute=True):
        response = api(owner).post(f"/api/v1/kb-drafts/{draft.pk}/finalize")
    assert response.status_code == 200, response.content
    report = response.json()["documents"]
    assert (report["added"], report["replaced"], report["skipped"]) == (1, 1, 1)
    outcomes = {d["name"]: d for d in report["documents"]}
    assert outcomes["KEEP.txt"]["outcome"] == "skipped" and outcomes["KEEP.txt"]["reason"] == "identical"
    assert outcomes["KEEP.txt"]["existing_document_id"] == str(kept.pk)
    replaced = outcomes["LICENSE.txt"]
    assert (replaced["outcome"], replaced["file_version"], replaced["existing_document_id"]) == (
        "replaced", 2, str(v1.pk),
    )  # fmt: skip
    assert outcomes["NEW.txt"]["outcome"] == "added"
    assert Document.objects.filter(kb=kb, name="KEEP.txt").count() == 1
    new = Document.objects.get(pk=replaced["document_id"])
    assert new.replaces_id == v1.pk
    skipped_source_file = {f for f in draft_files if f} - set(Document.objects.values_list("stored_file", flat=True))
    assert len(skipped_source_file) == 1 and not any(get_storage().exists(f) for f in skipped_source_file)

    detail = api(owner).get(f"/api/v1/knowledge-bases/{kb.pk}/documents/{new.pk}").json()
    assert (detail["file_version"], detail["replaces_id"]) == (2, str(v1.pk))


@pytest.mark.django_db
def test_the_wizard_review_step_and_finalize_say_what_will_happen(client_for, kb, owner, license_text, no_enqueue):
    _add(kb, owner, _version(license_text, OLD_MARK))
    draft = _adding_draft(kb, owner, {"LICENSE.txt": _version(license_text, OLD_MARK), "B.txt": b"Other text. " * 20})
    client = client_for(owner)
    page = client.get(reverse("drafts:review", args=[draft.pk])).content.decode()
    assert "1 added, 0 replaced, 1 skipped" in page
    assert 'data-outcome="skipped"' in page and "LICENSE.txt: skipped, identical" in page

    response = client.post(reverse("drafts:finalize", args=[draft.pk]), follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert any("1 added; 1 skipped: LICENSE.txt (identical)" in m for m in messages), messages
    assert Document.objects.filter(kb=kb, name="LICENSE.txt").count() == 1


@pytest.mark.django_db
def test_ingest_reports_skipped_and_replaced_files(kb, owner, license_text, no_enqueue, tmp_path):
    path = tmp_path / "LICENSE.txt"
    path.write_bytes(_version(license_text, OLD_MARK))

    def ingest(*extra):
        out = io.StringIO()
        call_command("ingest", "--user", owner.username, "--kb", str(kb.pk), *extra, str(path), stdout=out)
        return out.getvalue()

    assert "1 queued (1 added, 0 replaced, 0 skipped)" in ingest()
    out = ingest()
    assert "skipped" in out and "identical" in out and "0 queued (0 added, 0 replaced, 1 skipped)" in out
    path.write_bytes(_version(license_text, NEW_MARK))
    out = ingest()
    assert "replaced" in out and "version 2" in out and "1 queued (0 added, 1 replaced, 0 skipped)" in out
    assert sorted(Document.objects.filter(kb=kb).values_list("file_version", flat=True)) == [1, 2]
    assert "1 queued (1 added" in ingest("--force")  # --force: keep both
    assert Document.objects.filter(kb=kb).count() == 3


@pytest.mark.django_db
def test_the_policy_is_set_through_the_api_the_settings_page_and_kb_create(api, client_for, kb, owner, workspace):
    from django.core.exceptions import ValidationError

    from kb.services import kb_create

    url = f"/api/v1/knowledge-bases/{kb.pk}/"
    assert api(owner).get(url).json()["duplicate_policy"] == "version"
    response = api(owner).patch(url, {"duplicate_policy": "skip"}, format="json")
    assert response.status_code == 200 and response.json()["duplicate_policy"] == "skip"
    assert api(owner).patch(url, {"duplicate_policy": "sometimes"}, format="json").status_code == 400
    kb.refresh_from_db()
    assert kb.duplicate_policy == "skip"
    assert AuditEvent.objects.filter(action="update", details__fields__contains=["duplicate_policy"]).exists()

    client = client_for(owner)
    settings_url = reverse("kb:settings", args=[kb.pk])
    client.post(settings_url, {"name": kb.name, "description": "", "duplicate_policy": "keep_both"})
    kb.refresh_from_db()
    assert kb.duplicate_policy == "keep_both"
    assert "same-name files: keep both" in client.get(reverse("kb:detail", args=[kb.pk])).content.decode()

    made = kb_create(workspace=workspace, user=owner, name="Strict", duplicate_policy="skip")
    assert made.duplicate_policy == "skip"
    with pytest.raises(ValidationError):
        kb_create(workspace=workspace, user=owner, name="Odd", duplicate_policy="maybe")
