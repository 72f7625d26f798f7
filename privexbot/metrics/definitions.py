"""Every application metric in one place (README.md "Metrics" documents each: name, type, labels, meaning).

Observing is cheap on purpose: an increment or an observe writes a float into this process's mmaped file in
settings.METRICS_DIR, nothing more (no query, no network). Label values come from small fixed sets, never from
user input, so the number of series stays bounded.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# A document stage takes from milliseconds (a cached parse) to an hour (a 1000-page PDF on CPU).
_STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# One embedding batch (EMBEDDING_BATCH_SIZE * 8 texts) on CPU: tens of milliseconds to a few minutes.
_EMBED_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# A search answers in milliseconds; a cold query-embedding model load can take seconds.
_SEARCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10)

# ---------------------------------------------------------------- performance
DOCUMENT_STAGE_SECONDS = Histogram(
    "privexbot_document_stage_seconds",
    "Time one pipeline stage took for one document (parse, chunk, embed, store).",
    ["stage"],
    buckets=_STAGE_BUCKETS,
)
EMBEDDING_SECONDS = Histogram(
    "privexbot_embedding_seconds",
    "Time to compute the embeddings of one batch of document chunks (cache misses only).",
    buckets=_EMBED_BUCKETS,
)
EMBEDDINGS = Counter(
    "privexbot_embeddings",
    "Distinct chunk texts embedded for documents, by where the vector came from (computed or the cache).",
    ["source"],
)
SEARCH_SECONDS = Histogram(
    "privexbot_search_seconds",
    "Latency of one chunk_search call (every door: API, retrieval panel, manage.py search), by mode.",
    ["mode"],
    buckets=_SEARCH_BUCKETS,
)
SEARCH_STEP_SECONDS = Histogram(
    "privexbot_search_step_seconds",
    "Time of one step inside a search: embed (query vector), vector, keyword (the legs), hydrate.",
    ["step"],
    buckets=_SEARCH_BUCKETS,
)

# ---------------------------------------------------------------- business
DOCUMENTS_PROCESSED = Counter(
    "privexbot_documents_processed",
    "Documents whose processing run ended, by outcome: ready, failed, quarantined, or retried (queued again).",
    ["outcome"],
)
KNOWLEDGE_BASES_CREATED = Counter("privexbot_knowledge_bases_created", "Knowledge bases created (committed).")
DOCUMENT_VERSIONS = Counter(
    "privexbot_document_versions",
    "Documents added to a KB under its duplicate policy (kb.versions), by outcome: added, replaced, skipped.",
    ["outcome"],
)
SEARCHES = Counter("privexbot_searches", "Search queries answered, by mode.", ["mode"])
PREVIEW_CACHE_LOOKUPS = Counter(
    "privexbot_preview_cache_lookups",
    "Chunk-preview lookups of one source's chunks (drafts.preview_cache), by outcome: hit (read from the cache), "
    "miss (chunked now and stored), partial (first pages from the rows they need, a worker chunks the rest), "
    "pending (the rest is still being chunked), stale (made from older parsed elements or expired: chunked again).",
    ["outcome"],
)
SEARCH_RESULT_CACHE = Counter(
    "privexbot_search_result_cache",
    "Searches by what the result cache (kb.search.cache) did: hit (answered from it), miss (searched, stored), "
    "bypass (searched without it: disabled, Redis unavailable, inside a caller's transaction, not cacheable).",
    ["outcome"],
)

# ---------------------------------------------------------------- security
AUTH_FAILURES = Counter(
    "privexbot_auth_failures",
    "Failed authentication attempts, by channel: login (the login form and admin) or api_token (Bearer).",
    ["channel"],
)
LOCKOUTS = Counter(
    "privexbot_lockouts",
    "Logins locked or throttled, by channel: login (one account after AXES_FAILURE_LIMIT failures) or login_ip "
    "(one address over LOGIN_IP_FAILURE_LIMIT failures across accounts; counted once per window) or api_token "
    "(one address over API_TOKEN_FAILURE_LIMIT rejected bearer tokens in API_TOKEN_FAILURE_WINDOW).",
    ["channel"],
)
UNAUTHORIZED_ACCESS = Counter(
    "privexbot_unauthorized_access",
    "Refusals of the access funnel, by resource (knowledge_base, draft, workspace) and outcome: "
    "403 (visible but not allowed) or 404 (not visible: another tenant's or a guessed id).",
    ["resource", "outcome"],
)
PARSE_SLOT_WAITS = Counter(
    "privexbot_parse_slot_waits",
    "Files sent back to the queue because their workspace already had PARSE_SLOTS_PER_WORKSPACE parsing, by kind.",
    ["kind"],
)
DATA_EXPORTS = Counter("privexbot_data_exports", "Data export events (a knowledge base exported), by door.", ["door"])
KB_IMPORTS = Counter(
    "privexbot_kb_imports", "Knowledge bases imported from an archive (kb.portability), by door.", ["door"]
)
USER_DATA_EXPORTS = Counter(
    "privexbot_user_data_exports",
    "Exports of everything one user owns (pages.user_export; its KB archives also count in data_exports), by door.",
    ["door"],
)
USER_ERASURES = Counter(
    "privexbot_user_erasures",
    "Accounts erased (tenants.erasure), by door and content choice: keep, delete.",
    ["door", "content"],
)
ADMIN_ACTIONS = Counter(
    "privexbot_admin_actions",
    "Django admin actions recorded in the admin log, by action: add, change, delete.",
    ["action"],
)
RETENTION_RUNS = Counter(
    "privexbot_retention_runs", "Retention runs (kb.retention), by outcome: ok, errors.", ["outcome"]
)
RETENTION_DOCUMENTS_DELETED = Counter(
    "privexbot_retention_documents_deleted", "Documents deleted because their retention policy expired."
)
AUDIT_EVENTS_PURGED = Counter(
    "privexbot_audit_events_purged", "Audit events purged by the retention run (older than AUDIT_RETENTION_DAYS)."
)

# Documents processed by outcome, for the state-machine ends of kb.pipeline.runner.
READY, FAILED, QUARANTINED, RETRIED = "ready", "failed", "quarantined", "retried"


def observe_search(mode: str, seconds: float, steps: dict[str, float]) -> None:
    """One answered search: its latency, its count and the time of each step it ran."""
    SEARCH_SECONDS.labels(mode=mode).observe(seconds)
    SEARCHES.labels(mode=mode).inc()
    for step, took in steps.items():
        SEARCH_STEP_SECONDS.labels(step=step).observe(took)


# ---------------------------------------------------------------- website re-syncs (drafts.sync)
WEBSITE_SYNCS = Counter(
    "privexbot_website_syncs",
    "Website re-syncs ended, by outcome (completed, review, failed) and trigger (manual, api, command, schedule).",
    ["outcome", "trigger"],
)
WEBSITE_SYNC_PAGES = Counter(
    "privexbot_website_sync_pages",
    "Pages seen by website re-syncs, by outcome: added, changed, removed, kept, unchanged, failed.",
    ["outcome"],
)


# ---------------------------------------------------------------- drafts (drafts.services.draft_create)
DRAFTS_CREATED = Counter(
    "privexbot_drafts_created",
    "KB drafts created (committed), by purpose: create, add_sources (to an existing KB), settings, sync_review.",
    ["purpose"],
)


# ---------------------------------------------------------------- disabled documents, bulk actions (kb.bulk)
DOCUMENTS_ENABLED_CHANGES = Counter(
    "privexbot_documents_enabled_changes",
    "Documents disabled (left out of search, kept) or enabled again (committed), by action: disable, enable.",
    ["action"],
)
DOCUMENT_BULK_ACTIONS = Counter(
    "privexbot_document_bulk_actions",
    "Confirmed bulk actions on a KB's documents (kb.bulk), by action: retry, disable, enable, delete.",
    ["action"],
)
DOCUMENT_BULK_DOCUMENTS = Counter(
    "privexbot_document_bulk_documents",
    "Documents named by bulk actions, by action and outcome: done, unchanged, refused.",
    ["action", "outcome"],
)


# ---------------------------------------------------------------- index rebuilds (kb.rebuild)
KB_REBUILDS = Counter(
    "privexbot_kb_rebuilds",
    "KB index rebuilds (new chunking / model / metric), by outcome: started, switched, failed, cancelled.",
    ["outcome"],
)
KB_REBUILD_DOCUMENTS = Counter(
    "privexbot_kb_rebuild_documents", "Documents chunked and embedded into a rebuild's new index generation."
)
