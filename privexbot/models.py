from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One security-relevant event. Ids are copied, not foreign keys, so the trail outlives what it describes.

    Append-only and hash-chained (privexbot.audit.chain; the trigger of migration 0003_audit_integrity refuses
    UPDATE/DELETE/TRUNCATE outside the retention purge). `user` keeps the user's pk after the account is deleted:
    no database constraint and DO_NOTHING, so the row still names one (pseudonymous) person and its hash holds."""

    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    event_type = models.CharField(max_length=64, db_index=True)
    action = models.CharField(max_length=32)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False
    )
    username = models.CharField(max_length=150, blank=True)
    organization_id = models.UUIDField(null=True, blank=True)
    workspace_id = models.UUIDField(null=True, blank=True)
    resource_type = models.CharField(max_length=64, blank=True)
    resource_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    success = models.BooleanField(default=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False, default="")
    row_hash = models.CharField(max_length=64, editable=False, default="")

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["organization_id", "timestamp"]),
            models.Index(fields=["workspace_id", "timestamp"]),
            models.Index(fields=["resource_id"]),
        ]

    def __str__(self):
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.event_type}/{self.action} {self.username or '-'}"


class StoredBlob(models.Model):
    """One stored file when STORAGE_BACKEND=database (privexbot/storage/database.py): always ciphertext when
    ENCRYPT_FILES_AT_REST is on — the sealing happens before the bytes reach the database."""

    name = models.CharField(max_length=255, unique=True)
    size = models.BigIntegerField(default=0)
    parts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class StoredBlobPart(models.Model):
    blob = models.ForeignKey(StoredBlob, on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["blob", "index"], name="storedblobpart_unique_index")]

    def __str__(self):
        return f"{self.blob_id}#{self.index}"


class DeletionReceipt(models.Model):
    """Proof of one deletion (kb.deletion): ids, counts per store and sha256 hashes of what went — never content
    or names. `body` is exactly what `signature` (privexbot.receipts) covers; the columns beside it are copies for
    listing and scoping. Ids are copied, not foreign keys: what a receipt describes no longer exists."""

    id = models.UUIDField(primary_key=True)
    created_at = models.DateTimeField(db_index=True)
    organization_id = models.UUIDField(null=True, blank=True)
    workspace_id = models.UUIDField(null=True, blank=True, db_index=True)
    scope = models.CharField(max_length=16)  # "knowledge_base" | "documents"
    reason = models.CharField(max_length=32)
    body = models.JSONField()
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.scope} ({self.reason})"
