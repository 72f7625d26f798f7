"""Export of everything one user owns (data portability): one zip, for `manage.py export_user`, the profile
page's "Download my data" and `GET /api/v1/me/export`.

    profile.json                        the account (fields, dates), email addresses, memberships and roles, KBs
                                        shared with them, API key metadata (never a key or its hash), the MFA
                                        types enabled (never a secret), and what the archive holds
    audit.jsonl                         the audit events they caused (the audit export's format, chain hashes
                                        included), up to this export's own event
    drafts.json                         their drafts' metadata and their sources' (names, types, sizes, states;
                                        no content)
    knowledge-bases/<id>.pxkb.zip       one portable archive per KB they created that they can still read
                                        (kb.portability, importable with `kb_import`)

It spans tenants, kb and drafts, so it lives in the top layer. The export is audited (`data_export` /
`user_export`) and counted (privexbot_user_data_exports_total); each KB archive is audited and counted again by
kb.portability, as every KB export is.
"""

from __future__ import annotations

import json
import zipfile
from typing import BinaryIO

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from drafts.models import DraftSource
from drafts.selectors import drafts_for_user
from kb.portability import kb_export_archive
from kb.selectors import kb_queryset_for_user
from privexbot.audit import audit_record
from privexbot.audit.export import audit_events, export_lines
from privexbot.metrics.definitions import USER_DATA_EXPORTS
from tenants.models import ApiToken, Membership

FORMAT = "privexbot-user-export"
VERSION = 1


def _json(data) -> bytes:
    return json.dumps(data, cls=DjangoJSONEncoder, indent=1, ensure_ascii=False).encode()


def _account(user) -> dict:
    return {
        "id": user.pk,
        "username": user.get_username(),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
    }


def _email_addresses(user) -> list[dict]:
    from allauth.account.models import EmailAddress

    rows = EmailAddress.objects.filter(user=user).order_by("email")
    return [{"email": e.email, "verified": e.verified, "primary": e.primary} for e in rows]


def _memberships(user) -> list[dict]:
    rows = Membership.objects.filter(user=user).select_related("workspace__organization").order_by("created_at")
    return [
        {
            "organization": {"id": m.workspace.organization_id, "name": m.workspace.organization.name},
            "workspace": {"id": m.workspace_id, "name": m.workspace.name},
            "role": m.role,
            "since": m.created_at,
        }
        for m in rows
    ]


def _api_keys(user) -> list[dict]:
    # Metadata only: the plaintext was never stored and the hash stays here (it would allow offline guessing).
    return [
        {
            "id": t.pk,
            "name": t.name,
            "prefix": t.prefix,
            "scopes": list(t.scopes),
            "kb_ids": [str(k) for k in t.kb_ids],
            "created_at": t.created_at,
            "expires_at": t.expires_at,
            "revoked_at": t.revoked_at,
            "last_used_at": t.last_used_at,
        }  # fmt: skip
        for t in ApiToken.objects.filter(user=user).order_by("created_at")
    ]


def _mfa(user) -> list[dict]:
    from allauth.mfa.models import Authenticator

    rows = Authenticator.objects.filter(user=user).order_by("type")
    return [{"type": a.type, "created_at": a.created_at, "last_used_at": a.last_used_at} for a in rows]


def _shared_with_them(user) -> list[dict]:
    from django.contrib.contenttypes.models import ContentType
    from guardian.models import UserObjectPermission

    from kb.models import KnowledgeBase

    grants = UserObjectPermission.objects.filter(
        user=user, content_type=ContentType.objects.get_for_model(KnowledgeBase)
    )
    by_kb: dict[str, list[str]] = {}
    for object_pk, codename in grants.values_list("object_pk", "permission__codename"):
        by_kb.setdefault(object_pk, []).append(codename)
    return [{"knowledge_base_id": pk, "permissions": sorted(c)} for pk, c in sorted(by_kb.items())]


def _drafts(user) -> list[dict]:
    drafts = drafts_for_user(user=user).filter(created_by=user).select_related("workspace").order_by("created_at")
    sources = DraftSource.objects.filter(draft__in=drafts).order_by("created_at")
    by_draft: dict = {}
    for s in sources:
        by_draft.setdefault(s.draft_id, []).append(
            {
                "id": s.pk,
                "name": s.name,
                "type": s.type,
                "status": s.status,
                "file_type": s.file_type,
                "size_bytes": s.size_bytes,
                "url": s.url,
                "pages_processed": s.pages_processed,
                "created_at": s.created_at,
            }  # fmt: skip
        )
    return [
        {
            "id": d.pk,
            "name": d.name,
            "description": d.description,
            "workspace_id": d.workspace_id,
            "target_kb_id": d.target_kb_id,
            "chunking_config": d.chunking_config,
            "embedding_config": d.embedding_config,
            "created_at": d.created_at,
            "updated_at": d.updated_at,
            "expires_at": d.expires_at,
            "sources": by_draft.get(d.pk, []),
        }  # fmt: skip
        for d in drafts
    ]


def user_export(*, user, out: BinaryIO, include_files: bool = True, door: str = "web", request=None) -> dict:
    """Write the user's export (see the module doc) into the seekable binary file `out`; returns the summary."""
    kbs = list(
        kb_queryset_for_user(user=user).filter(created_by=user).select_related("workspace").order_by("created_at")
    )
    drafts = _drafts(user)
    event = audit_record(
        event_type="data_export", action="user_export", user=user, request=request, resource=user,
        resource_type="User", details={"door": door, "knowledge_bases": len(kbs), "drafts": len(drafts),
                                        "include_files": include_files},
    )  # fmt: skip
    USER_DATA_EXPORTS.labels(door=door).inc()
    actor_events = audit_events().filter(user_id=user.pk)
    if event is not None:  # what existed when it was asked for: this export's own event closes it
        actor_events = actor_events.filter(id__lte=event.id)
    archives = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("audit.jsonl", "w", force_zip64=True) as member:
            audit_count = 0
            for line in export_lines(actor_events, "jsonl"):
                member.write(line.encode())
                audit_count += 1
        zf.writestr("drafts.json", _json(drafts))
        for kb in kbs:
            name = f"knowledge-bases/{kb.pk}.pxkb.zip"
            info = zipfile.ZipInfo(name, date_time=timezone.now().timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED  # already a deflated zip
            with zf.open(info, "w", force_zip64=True) as member:
                summary = kb_export_archive(
                    kb=kb, user=user, out=member, include_files=include_files, door=door, request=request
                )
            archives.append({"file": name, "knowledge_base_id": str(kb.pk), "name": kb.name,
                             "workspace_id": str(kb.workspace_id), "sha256": summary.get("sha256"),
                             "documents": summary.get("documents")})  # fmt: skip
        profile = {
            "format": FORMAT, "version": VERSION, "exported_at": timezone.now(),
            "account": _account(user), "email_addresses": _email_addresses(user),
            "memberships": _memberships(user), "shared_with_me": _shared_with_them(user),
            "api_keys": _api_keys(user), "mfa": _mfa(user),
            "contents": {"audit_events": audit_count, "drafts": len(drafts), "knowledge_bases": archives,
                         "include_files": include_files},
        }  # fmt: skip
        zf.writestr("profile.json", _json(profile))
    return {"knowledge_bases": len(archives), "drafts": len(drafts), "audit_events": audit_count}
