import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, VectorField

from tenants.models import RetentionBasis, Workspace


def default_chunking_config() -> dict:
    return {
        "strategy": "recursive", "chunk_size": 1000, "chunk_overlap": 200, "separators": ["\n\n", "\n", ". ", " "],
        "size_unit": "characters",
    }  # fmt: skip


def default_embedding_config() -> dict:
    return {"provider": "sentence_transformers", "model": "all-MiniLM-L6-v2", "dimensions": 384, "batch_size": 32}


def default_vector_store_config() -> dict:
    return {"provider": "pgvector", "distance_metric": "cosine", "enable_hybrid_search": True}


class DuplicatePolicy(models.TextChoices):
    """What adding a file named like one the KB already holds does (kb.versions)."""

    VERSION = "version", "Skip if identical, else replace with a new version"
    SKIP = "skip", "Skip it (keep the existing file)"
    KEEP_BOTH = "keep_both", "Keep both"


class KnowledgeBase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="knowledge_bases")
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, max_length=1000)
    chunking_config = models.JSONField(default=default_chunking_config)
    embedding_config = models.JSONField(default=default_embedding_config)
    vector_store_config = models.JSONField(default=default_vector_store_config)
    context_settings = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=32, default="english", help_text="PostgreSQL text-search configuration")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Retention (kb.retention): with `retention_inherit` the workspace's policy applies; otherwise this KB's own,
    # where retention_days None keeps documents forever whatever the workspace says.
    retention_inherit = models.BooleanField(default=True)
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    retention_basis = models.CharField(max_length=8, choices=RetentionBasis.choices, default=RetentionBasis.UPLOADED)
    # A legal hold (kb.legal_hold) suspends every deletion in the KB, retention's and people's, until lifted.
    legal_hold = models.BooleanField(default=False)
    legal_hold_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    legal_hold_at = models.DateTimeField(null=True, blank=True)
    legal_hold_reason = models.CharField(max_length=500, blank=True)
    # Living KBs (issue 16). `generation` is the index generation search serves (Chunk.generation); a rebuild
    # (KBRebuild) writes the next one beside it and switches this number at one moment.
    duplicate_policy = models.CharField(max_length=10, choices=DuplicatePolicy.choices, default=DuplicatePolicy.VERSION)
    generation = models.PositiveIntegerField(default=1)
    # What search serves, as a number (kb.search.cache keys results by it), is not a field: it lives in the table
    # kb_content_version, raised by database triggers (migration 0011) and read by kb.search.snapshot.
    review_sync_changes = models.BooleanField(
        default=False, help_text="a website re-sync becomes a draft of the KB showing the changes before they apply"
    )

    class Meta:
        ordering = ["-created_at"]
        # Object-level grants (django-guardian) for sharing one KB beyond the workspace role.
        permissions = [
            ("kb_read", "Can read this knowledge base"),
            ("kb_update", "Can update this knowledge base"),
            ("kb_delete", "Can delete this knowledge base"),
        ]

    def __str__(self):
        return self.name


NIL_ORGANIZATION = uuid.UUID(int=0)


class SourceType(models.TextChoices):
    FILE_UPLOAD = "file_upload", "File upload"
    WEBSITE_CRAWL = "website_crawl", "Website page"
    TEXT_INPUT = "text_input", "Pasted text"


class DocumentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PARSING = "parsing", "Parsing"
    CHUNKING = "chunking", "Chunking"
    EMBEDDING = "embedding", "Embedding"
    INDEXING = "indexing", "Indexing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    QUARANTINED = "quarantined", "Quarantined"


IN_PROGRESS = (DocumentStatus.PARSING, DocumentStatus.CHUNKING, DocumentStatus.EMBEDDING, DocumentStatus.INDEXING)
UNFINISHED = (DocumentStatus.QUEUED, *IN_PROGRESS)
FINISHED = (DocumentStatus.READY, DocumentStatus.FAILED, DocumentStatus.QUARANTINED)
# What a user may retry (the Retry button, document_retry); the state machine itself is kb/states.py.
RETRYABLE = (DocumentStatus.FAILED, DocumentStatus.QUARANTINED)


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kb = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="documents")
    source_type = models.CharField(max_length=20, choices=SourceType.choices)
    name = models.CharField(max_length=500)
    url = models.URLField(max_length=2000, blank=True)
    file_type = models.CharField(max_length=10, blank=True, help_text="pdf, docx, txt, md, csv, xlsx, html")
    metadata = models.JSONField(default=dict, blank=True)
    stored_file = models.CharField(max_length=300, blank=True, help_text="encrypted original, relative path")
    elements_file = models.CharField(max_length=300, blank=True, help_text="encrypted parsed elements (JSON)")
    size_bytes = models.BigIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True, help_text="sha256 of the original bytes")

    status = models.CharField(max_length=12, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    stage_times = models.JSONField(default=dict, blank=True, help_text="stage -> ISO time it started")
    stats = models.JSONField(default=dict, blank=True, help_text="timings, cache hits, counts of the last run")

    # Disabled: kept with its chunks, left out of search until enabled again.
    enabled = models.BooleanField(default=True)
    # Versions (kb.versions): a file added again under its name with other bytes is a new Document with the next
    # file_version that `replaces` the old one; the old one is deleted once the new one is ready.
    file_version = models.PositiveIntegerField(default=1)
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by")
    # A page of a website source (re-synced by drafts.sync); its ETag / Last-Modified are in `metadata`.
    website_source = models.ForeignKey(
        "WebsiteSource", null=True, blank=True, on_delete=models.SET_NULL, related_name="documents"
    )

    config_hash = models.CharField(max_length=64, blank=True, help_text="hash of the config that made the chunks")
    version = models.PositiveIntegerField(default=0, help_text="increments each time the chunks are replaced")
    chunk_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "name"]
        indexes = [
            models.Index(fields=["kb", "status"]),
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(fields=["content_hash"]),
            models.Index(fields=["kb", "name"]),
            # Every search reads its KB's disabled documents (kb.search.filters.serving): without this the read
            # walks all of the KB's documents, ~10 ms of each search for a KB of a million pages.
            models.Index(fields=["kb"], condition=models.Q(enabled=False), name="document_disabled_by_kb"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_unfinished(self) -> bool:
        return self.status in UNFINISHED

    @property
    def can_retry(self) -> bool:
        return self.status in RETRYABLE


class Chunk(models.Model):
    """One indexed piece of a document. `embedding` holds 384-d vectors (the default model);
    768-d models use `embedding_768`. The tsvector is written with the KB's text-search language: the heading
    path at weight B, then the content (weight D)."""

    id = models.BigAutoField(primary_key=True)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    kb = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="chunks")
    version = models.PositiveIntegerField()
    # The index generation (KnowledgeBase.generation): search reads only the KB's current one.
    generation = models.PositiveIntegerField(default=1, db_default=1)
    index = models.PositiveIntegerField()
    content = models.TextField()
    # The chunk's context line (document title > heading path), embedded and keyword-indexed together with the
    # content so that a chunk saying "it" still carries what "it" is (issue 17); "" for chunks made without one.
    context = models.TextField(default="", db_default="", blank=True)
    content_hash = models.CharField(max_length=64)
    token_count = models.PositiveIntegerField()
    word_count = models.PositiveIntegerField()
    char_count = models.PositiveIntegerField()
    truncated = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict)
    embedding = VectorField(dimensions=384, null=True)
    embedding_768 = VectorField(dimensions=768, null=True)
    search_vector = SearchVectorField(null=True)
    # Copied from kb.vector_store_config["distance_metric"] by database triggers (migration 0003) whatever writes
    # the row, so each vector sits in one per-metric partial HNSW index instead of three full ones.
    distance_metric = models.CharField(max_length=10, db_default="cosine", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "generation", "version", "index"], name="uniq_chunk_doc_generation_version_index"
            )
        ]
        indexes = [
            models.Index(fields=["kb", "document"]),
            GinIndex(fields=["search_vector"], name="chunk_search_gin"),
            # One HNSW index per (column, metric); kb.search filters on distance_metric to pick it.
            # ef_construction 128 (pgvector's default is 64): on the 1M-row benchmark table recall@10 at
            # ef_search 400 rose 0.80 -> 0.85 and at 1000 0.86 -> 0.94, for 1.5x the build time.
            *(
                HnswIndex(
                    fields=[column],
                    name=f"chunk_hnsw_{metric}_{dims}",
                    opclasses=[opclass],
                    condition=models.Q(distance_metric=metric),
                    m=16,
                    ef_construction=128,
                )
                for column, dims in (("embedding", 384), ("embedding_768", 768))
                for metric, opclass in (
                    ("cosine", "vector_cosine_ops"),
                    ("euclidean", "vector_l2_ops"),
                    ("dot", "vector_ip_ops"),
                )
            ),
        ]

    def __str__(self):
        return f"{self.document_id}#{self.index}"


class EmbeddingCache(models.Model):
    """(organization, model, sha256 of text) -> vector: identical text within one organization is embedded once.

    Scoped per organization, never installation-wide: a hit in a shared cache (the `embedding_cache_hits` a
    document reports, or a fast first embedding) would tell one tenant that another indexed the same text. The
    id is copied, not a foreign key, like the audit log's: kb.deletion removes the entries no remaining chunk of
    the organization uses. NIL_ORGANIZATION holds what tools outside any organization embed (benchmarks)."""

    id = models.BigAutoField(primary_key=True)
    organization_id = models.UUIDField()
    model = models.CharField(max_length=200)
    text_hash = models.CharField(max_length=64)
    embedding = VectorField()  # any dimension: one cache for every model
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization_id", "model", "text_hash"], name="uniq_embedding_cache")
        ]

    def __str__(self):
        return f"{self.model}:{self.text_hash[:12]}"


class SyncSchedule(models.TextChoices):
    OFF = "off", "Only on demand"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class RemovedPagePolicy(models.TextChoices):
    DELETE = "delete", "Delete the document"
    KEEP = "keep", "Keep the document"


class WebsiteSource(models.Model):
    """A crawled website of a KB, kept so that it can be crawled again (drafts.sync): its pages are the
    documents that point here."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kb = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="website_sources")
    url = models.URLField(max_length=2000)
    crawl_config = models.JSONField(default=dict, blank=True)
    schedule = models.CharField(max_length=8, choices=SyncSchedule.choices, default=SyncSchedule.OFF)
    removed_pages = models.CharField(max_length=8, choices=RemovedPagePolicy.choices, default=RemovedPagePolicy.DELETE)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["schedule", "next_sync_at"])]

    def __str__(self):
        return self.url


class SyncStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    REVIEW = "review", "Waiting for review"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class SyncRun(models.Model):
    """One re-sync of a website source and its report: counts (added, changed, removed, unchanged, failed) and
    one entry per URL with what happened and why."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    website_source = models.ForeignKey(WebsiteSource, on_delete=models.CASCADE, related_name="runs")
    kb = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="sync_runs")
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.QUEUED)
    trigger = models.CharField(max_length=10, default="manual", help_text="manual, api, command, schedule")
    counts = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self):
        return f"sync {self.website_source_id} {self.status}"


class RebuildStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Building"
    COMPLETED = "completed", "Switched"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class KBRebuild(models.Model):
    """A new index generation of a KB built with new chunking / embedding / distance settings while search keeps
    serving the current one (kb.rebuild); the KB switches to it when every document is done."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kb = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="rebuilds")
    generation = models.PositiveIntegerField()
    chunking_config = models.JSONField()
    embedding_config = models.JSONField()
    vector_store_config = models.JSONField()
    status = models.CharField(max_length=10, choices=RebuildStatus.choices, default=RebuildStatus.QUEUED)
    documents_total = models.PositiveIntegerField(default=0)
    documents_done = models.PositiveIntegerField(default=0)
    documents_failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    stats = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["kb", "generation"], name="uniq_rebuild_kb_generation")]

    def __str__(self):
        return f"rebuild {self.kb_id} gen {self.generation} {self.status}"
