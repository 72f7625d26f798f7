import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.text import slugify


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


class Perm:
    KB_CREATE = "kb:create"
    KB_READ = "kb:read"
    KB_UPDATE = "kb:update"
    KB_DELETE = "kb:delete"
    WORKSPACE_MANAGE = "workspace:manage"


ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset({Perm.KB_CREATE, Perm.KB_READ, Perm.KB_UPDATE, Perm.KB_DELETE, Perm.WORKSPACE_MANAGE}),
    Role.ADMIN: frozenset({Perm.KB_CREATE, Perm.KB_READ, Perm.KB_UPDATE, Perm.KB_DELETE, Perm.WORKSPACE_MANAGE}),
    Role.EDITOR: frozenset({Perm.KB_CREATE, Perm.KB_READ, Perm.KB_UPDATE}),
    Role.VIEWER: frozenset({Perm.KB_READ}),
}


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Every member of the organization must have a second factor before reaching the app or the admin.
    mfa_required = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.slug = self.slug or slugify(self.name)[:80]
        super().save(*args, **kwargs)


class RetentionBasis(models.TextChoices):
    """What a retention period counts from (kb.retention)."""

    UPLOADED = "uploaded", "Upload"
    UPDATED = "updated", "Last update"


# Bounds of a retention period in days (a day at least; a century at most, beyond which "forever" is meant).
RETENTION_DAYS_MIN, RETENTION_DAYS_MAX = 1, 36500


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="workspaces")
    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)
    # The retention policy of the workspace's KBs that have none of their own (kb.retention): documents are
    # deleted this many days after `retention_basis`; None keeps them forever.
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    retention_basis = models.CharField(max_length=8, choices=RetentionBasis.choices, default=RetentionBasis.UPLOADED)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "slug"], name="uniq_workspace_slug")]

    def __str__(self):
        return f"{self.organization} / {self.name}"

    def save(self, *args, **kwargs):
        self.slug = self.slug or slugify(self.name)[:80]
        super().save(*args, **kwargs)


class Membership(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "workspace"], name="uniq_membership")]

    def __str__(self):
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def permissions(self) -> frozenset[str]:
        return ROLE_PERMISSIONS[self.role]


class Scope(models.TextChoices):
    """What an API token may do, on top of what its user's roles allow (a token never exceeds its user).
    Each scope includes the ones before it: search < read < write < admin."""

    SEARCH = "search", "Search only"
    READ = "read", "Read"
    WRITE = "write", "Read and write"
    ADMIN = "admin", "Everything, members and workspaces included"


SCOPE_ORDER = [Scope.SEARCH, Scope.READ, Scope.WRITE, Scope.ADMIN]


def _default_scopes() -> list[str]:
    return [Scope.READ]


class ApiToken(models.Model):
    """A bearer token for the API. Only a SHA-256 hash is stored; the token is shown once at creation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, help_text="first characters, to recognise a token in lists")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    scopes = ArrayField(models.CharField(max_length=16, choices=Scope.choices), default=_default_scopes)
    # Empty: every KB the user may reach. Otherwise only these (ids, not foreign keys: tenants sits below kb).
    kb_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    # The token that created this one through the API (None: made in the browser, the admin or a command).
    created_by_token = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.user})"


class Invitation(models.Model):
    """An invitation to join a workspace with a role: a single-use link (only its hash is stored) that expires."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.email} → {self.workspace} ({self.role})"


class UserSecurity(models.Model):
    """Per-user security state that Django's User does not hold. `sessions_valid_after`: sessions that began
    before it are ended ("sign out everywhere", a password change, an owner's MFA reset)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="security")
    sessions_valid_after = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"security of {self.user}"
