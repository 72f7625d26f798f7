import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, VectorField

from tenants.models import RetentionBasis, Workspace


def default_chunking_config() -> dict:
    return {"strategy": "recursive", "chunk_size": 1000, "chunk_overlap": 200, "separators": ["\n\n", "\n", ". ", " "]}


def default_embedding_config() -> dict:
    return {"provider": "sentence_transformers", "model": "all-MiniLM-L6-v2", "dimensions": 384, "batch_size": 32}


def default_vector_store_config() -> dict:
    return {"provider": "pgvector", "distance_metric": "cosine", "enable_hybrid_search": True}


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
    index = models.PositiveIntegerField()
    content = models.TextField()
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
            models.UniqueConstraint(fields=["document", "version", "index"], name="uniq_chunk_doc_version_index")
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
