"""The KB archive in the browser: the streamed download, and the page that imports one into a workspace."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from kb.portability import ArchiveError, archive_filename, kb_export_stream, kb_import_archive, uploaded_archive
from kb.views.common import get_kb
from privexbot.forms import Form
from privexbot.ratelimit import html_limits
from tenants.models import Perm
from tenants.selectors import workspace_get_for_user, workspaces_for_user

FORM_SLACK = 1024 * 1024  # the other fields and the multipart boundaries around the file


@login_required
@require_GET
def kb_export(request, kb_id):
    """The KB as one archive (manifest, documents, files, elements, chunks, embeddings), streamed as a download.
    `?files=0` leaves the original files out."""
    kb, _ = get_kb(request, kb_id)
    include_files = request.GET.get("files", "1") not in ("0", "false", "no")
    stream = kb_export_stream(kb=kb, user=request.user, include_files=include_files, door="web", request=request)
    response = StreamingHttpResponse(stream, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{archive_filename(kb)}"'
    response["Cache-Control"] = "no-store"  # the user's own data: never kept by a proxy or the browser cache
    return response


class ImportForm(Form):
    workspace = forms.ChoiceField(label="Into workspace")
    archive = forms.FileField(label="Archive (.zip exported from PrivexBot KB)")

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].choices = [(str(w.pk), f"{w.organization.name} / {w.name}") for w in workspaces]
        self.fields["archive"].widget.attrs["accept"] = ".zip,application/zip"


@html_limits("import", max_body=None)  # the throttle; the size is checked below, with the form
@csrf_exempt  # checked below, once the size is known to be acceptable: the check reads (and spools) the body
@login_required
@require_http_methods(["GET", "POST"])
def kb_import(request):
    length = request.META.get("CONTENT_LENGTH") or ""
    if request.method == "POST" and length.isdigit() and int(length) > settings.KB_ARCHIVE_MAX_SIZE + FORM_SLACK:
        return _page(request, error=f"The archive is larger than the {settings.KB_ARCHIVE_MAX_SIZE // 2**20} MB limit.",
                     status=413)  # fmt: skip
    return _kb_import(request)


def _workspaces(request):
    return list(workspaces_for_user(user=request.user, perm=Perm.KB_CREATE).order_by("organization__name", "name"))


def _page(request, *, form=None, error: str | None = None, status: int = 200):
    workspaces = _workspaces(request)
    if form is None:
        form = ImportForm(workspaces=workspaces, initial={"workspace": request.GET.get("workspace")})
    context = {"form": form, "error": error, "workspaces": workspaces, "max_mb": settings.KB_ARCHIVE_MAX_SIZE // 2**20}
    return render(request, "kb/import.html", context, status=status)


@csrf_protect
def _kb_import(request):
    if request.method == "GET":
        return _page(request)
    form = ImportForm(request.POST, request.FILES, workspaces=_workspaces(request))
    if not form.is_valid():
        return _page(request, form=form, status=400)
    workspace = workspace_get_for_user(
        user=request.user, workspace_id=form.cleaned_data["workspace"], perm=Perm.KB_CREATE
    )
    try:
        with uploaded_archive(form.cleaned_data["archive"]) as path:
            kb = kb_import_archive(
                workspace=workspace, user=request.user, archive_path=path, door="web", request=request
            )
    except ArchiveError as exc:
        return _page(request, form=form, error=exc.message, status=exc.http_status)
    count = kb.documents.count()
    messages.success(request, f"“{kb.name}” was imported with {count} document{'s' if count != 1 else ''}.")
    return redirect("kb:detail", kb_id=kb.pk)
