"""The root URLconf. It lives in the top layer because it names every app's views.

The "kb" namespace is kb's own routes plus the pages that combine kb with drafts (the full KB page, adding
sources through a draft), so their paths and names stay /kb/<id>/... and kb:...
"""

from allauth.account import views as account_views
from django.contrib import admin
from django.urls import include, path

from drafts.views import add_sources, change_settings
from kb.urls import urlpatterns as kb_urlpatterns
from pages import views
from pages.user_export_views import profile_export
from privexbot.api.routes import path as api_path  # the trailing slash is optional on every API route
from privexbot.health import health
from privexbot.metrics.views import metrics
from tenants import audit_views

kb_pages = [
    path("<uuid:kb_id>/", views.kb_detail, name="detail"),
    path("<uuid:kb_id>/sources/", add_sources, name="add_sources"),
    path("<uuid:kb_id>/change-settings/", change_settings, name="change_settings"),  # a settings draft
]

urlpatterns = [
    path("", views.home, name="home"),
    path("health", health, name="health"),
    path("metrics", metrics, name="metrics"),  # Prometheus; token/allowlist only (privexbot/metrics/access.py)
    # allauth's login and logout (POST) under the names and paths the app always had; the rest of allauth
    # (password reset and change, MFA, re-authentication) under /accounts/. tenants/identity/ explains.
    path("login/", account_views.login, name="login"),
    path("logout/", account_views.logout, name="logout"),
    path("accounts/", include("allauth.urls")),
    path("profile/api-keys/", include("tenants.urls_tokens")),  # before profile/: its own page (api_keys:list)
    path("profile/export/", profile_export, name="profile-export"),  # pages/user_export.py: spans the apps
    path("profile/", include("tenants.identity.urls")),
    path("admin/", admin.site.urls),
    api_path("api/v1/audit/", audit_views.AuditExportView.as_view(), name="api-audit"),  # tenants/audit_views.py
    path("api/v1/", include("pages.api_urls")),
    path("drafts/", include("drafts.urls")),
    path("kb/", include((kb_pages + kb_urlpatterns, "kb"))),
    path("workspaces/<uuid:workspace_id>/audit/", audit_views.workspace_audit, name="workspace_audit"),
    path("", include("tenants.urls_members")),  # /workspaces/..., /invitations/<token>/
]
