import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from kb.models import KnowledgeBase, default_chunking_config, default_embedding_config, default_vector_store_config
from tenants.models import Workspace


def default_expiry():
    return timezone.now() + timedelta(days=settings.DRAFT_TTL_DAYS)


class DraftPurpose(models.TextChoices):
    CREATE = "create", "Create a knowledge base"
    ADD_SOURCES = "add_sources", "Add sources to a knowledge base"
    SETTINGS = "settings", "Change a knowledge base's settings"
    SYNC_REVIEW = "sync_review", "Review a website re-sync"


class KBDraft(models.Model):
    """A knowledge base being put together: nothing is embedded until it is finalized."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="kb_drafts")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    target_kb = models.ForeignKey(
        KnowledgeBase, null=True, blank=True, on_delete=models.CASCADE, related_name="drafts",
        help_text="set when the draft adds sources to an existing knowledge base",
    )  # fmt: skip
    # What finalize does: create a KB; add sources to target_kb; rebuild target_kb with this draft's settings
    # (kb.rebuild); or apply the changes a website re-sync found (drafts.sync, with sync_run).
    purpose = models.CharField(max_length=12, choices=DraftPurpose.choices, default=DraftPurpose.CREATE)
    sync_run = models.ForeignKey("kb.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="drafts")
    name = models.CharField(max_length=255)
    description = models.TextField(max_length=1000, blank=True)
    chunking_config = models.JSONField(default=default_chunking_config)
    embedding_config = models.JSONField(default=default_embedding_config)
    vector_store_config = models.JSONField(default=default_vector_store_config)
    context_settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(default=default_expiry)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self):
        return self.name


class SourceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    ERROR = "error", "Error"


class DraftSource(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    draft = models.ForeignKey(KBDraft, on_delete=models.CASCADE, related_name="sources")
    type = models.CharField(max_length=20, choices=[
        ("file_upload", "File upload"), ("website_crawl", "Website"), ("text_input", "Text"),
    ])  # fmt: skip
    name = models.CharField(max_length=500)
    status = models.CharField(max_length=12, choices=SourceStatus.choices, default=SourceStatus.PENDING)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    # Parse or crawl runs started (counted when a worker claims the source) and the running worker's
    # last sign of life: the sweeper retries a silent source, and gives up after DOCUMENT_MAX_ATTEMPTS.
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    content_preview = models.TextField(blank=True)
    # file / text
    file_type = models.CharField(max_length=10, blank=True)
    stored_file = models.CharField(max_length=300, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True)
    # parsed content (encrypted, gzip JSON): elements, or for a website [{url, title, content_hash, elements}]
    elements_file = models.CharField(max_length=300, blank=True)
    # website
    url = models.URLField(max_length=2000, blank=True)
    crawl_config = models.JSONField(default=dict, blank=True)
    crawl_report = models.JSONField(default=list, blank=True, help_text="one entry per URL: status, error, reason")
    pages_found = models.PositiveIntegerField(default=0)
    pages_processed = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self):
        return self.name

    @property
    def is_unfinished(self) -> bool:
        return self.status in (SourceStatus.PENDING, SourceStatus.PROCESSING)


class PreviewChunks(models.Model):
    """The chunk preview of one source under one chunking config and model (config_hash, which includes
    CHUNKER_VERSION), kept so that a preview page costs a slice (drafts.preview_cache). The chunks are document
    text: they live in `blob`, a file of the encrypted storage like the parsed elements; this row holds only
    counts. `complete` is false while the whole chunking is still being computed (only then is `blob` empty);
    a row made from other parsed elements than the source's current ones is stale and never read."""

    id = models.BigAutoField(primary_key=True)
    source = models.ForeignKey(DraftSource, on_delete=models.CASCADE, related_name="preview_chunks")
    config_hash = models.CharField(max_length=64)
    chunking_config = models.JSONField(default=dict, help_text="the normalised config, for the worker that fills it")
    model = models.CharField(max_length=200)
    elements_file = models.CharField(max_length=300, help_text="the parsed elements the chunks were made from")
    blob = models.CharField(max_length=300, blank=True)
    complete = models.BooleanField(default=False)
    chunk_count = models.PositiveIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    total_chars = models.BigIntegerField(default=0)
    embedded_chars = models.BigIntegerField(default=0)
    truncated_chunks = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="when a worker was last asked to fill it")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "config_hash"], name="preview_chunks_unique")]
        indexes = [models.Index(fields=["used_at"])]

    def __str__(self):
        return f"{self.source_id} {self.config_hash[:12]}"
