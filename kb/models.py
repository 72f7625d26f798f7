import uuid

from django.conf import settings
from django.db import models

from tenants.models import Workspace


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
