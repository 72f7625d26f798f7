"""Step 2: files (many at once, drag and drop), a website to crawl and pasted text. Sources being parsed or
crawled are polled until they finish."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from drafts.forms import FileSourceForm, TextSourceForm, WebsiteSourceForm
from drafts.selectors import draft_source_get
from drafts.services import (
    draft_source_add_file,
    draft_source_add_text,
    draft_source_add_website,
    draft_source_cancel,
    draft_source_remove,
)
from drafts.views.common import get_draft, wizard_render
from kb.pipeline.types import PipelineError
from privexbot.forms import attach_errors
from privexbot.ratelimit import html_limits, upload_limit

TEMPLATE = "drafts/sources.html"


def _list_context(draft) -> dict:
    sources = list(draft.sources.all())
    return {"sources": sources, "polling": any(s.is_unfinished for s in sources)}


def _page(request, draft, **forms):
    context = {
        "file_form": FileSourceForm(),
        "text_form": TextSourceForm(),
        "website_form": WebsiteSourceForm(),
        **forms,
        **_list_context(draft),
    }
    return wizard_render(request, TEMPLATE, draft, "sources", context, partial="source-list")


@login_required
@require_GET
def sources(request, draft_id):
    return _page(request, get_draft(request, draft_id))


def _respond(request, draft, partial: str, context: dict, ok_message: str | None):
    """HTMX: the form's fragment plus the source list (out of band). Without JS: back to the page."""
    if request.htmx:
        return render(
            request, f"{TEMPLATE}#{partial}", {"draft": draft, "oob": True, **context, **_list_context(draft)}
        )
    if ok_message:
        messages.success(request, ok_message)
        return redirect("drafts:sources", draft_id=draft.pk)
    return _page(request, draft, **{k: v for k, v in context.items() if k.endswith("_form")})


@html_limits("upload", max_body=upload_limit)
@login_required
@require_POST
def source_add_files(request, draft_id):
    draft = get_draft(request, draft_id)
    form = FileSourceForm(request.POST, request.FILES)
    results = []  # (filename, error or "") per file, so each upload reports on its own
    if form.is_valid():
        for upload in form.cleaned_data["files"]:
            try:
                draft_source_add_file(
                    draft=draft, user=request.user, filename=upload.name, fileobj=upload, request=request
                )
            except PipelineError as exc:
                results.append((upload.name, exc.message))
            except ValidationError as exc:
                results.append((upload.name, " ".join(exc.messages)))
            else:
                results.append((upload.name, ""))
    if not request.htmx:
        for name, error in results:
            if error:
                messages.error(request, f"{name}: {error}")
            else:
                messages.success(request, f"{name}: uploaded, now being read.")
        if results:
            return redirect("drafts:sources", draft_id=draft.pk)
    context = {"file_form": form if form.errors else FileSourceForm(), "upload_results": results}
    return _respond(request, draft, "file-form", context, None)


@html_limits("upload")
@login_required
@require_POST
def source_add_text(request, draft_id):
    draft = get_draft(request, draft_id)
    form = TextSourceForm(request.POST)
    if form.is_valid():
        try:
            source = draft_source_add_text(draft=draft, user=request.user, request=request, **form.cleaned_data)
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            context = {"text_form": TextSourceForm(), "added": source.name}
            return _respond(request, draft, "text-form", context, f"Text “{source.name}” added.")
    return _respond(request, draft, "text-form", {"text_form": form}, None)


@html_limits("upload")
@login_required
@require_POST
def source_add_website(request, draft_id):
    draft = get_draft(request, draft_id)
    form = WebsiteSourceForm(request.POST)
    if form.is_valid():
        try:
            source = draft_source_add_website(
                draft=draft,
                user=request.user,
                url=form.cleaned_data["url"],
                crawl_config=form.crawl_config(),
                request=request,
            )
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            context = {"website_form": WebsiteSourceForm(), "added": source.url}
            return _respond(request, draft, "website-form", context, f"Crawling {source.url}…")
    return _respond(request, draft, "website-form", {"website_form": form}, None)


def _after_source_change(request, draft, message: str):
    if request.htmx:
        return render(request, f"{TEMPLATE}#source-list", {"draft": draft, **_list_context(draft)})
    messages.success(request, message)
    return redirect("drafts:sources", draft_id=draft.pk)


@login_required
@require_POST
def source_remove(request, draft_id, source_id):
    draft = get_draft(request, draft_id)
    source = draft_source_get(draft=draft, source_id=source_id)
    draft_source_remove(draft=draft, source=source, user=request.user, request=request)
    return _after_source_change(request, draft, f"“{source.name}” removed.")


@login_required
@require_POST
def source_cancel(request, draft_id, source_id):
    draft = get_draft(request, draft_id)
    source = draft_source_get(draft=draft, source_id=source_id)
    draft_source_cancel(source=source, user=request.user, request=request)
    return _after_source_change(request, draft, f"Stopping the crawl of {source.url}; pages fetched are kept.")
