"""The root URLconf. It lives in the top layer because it names every app's views.

The "kb" namespace is kb's own routes plus the pages that combine kb with drafts (the full KB page, adding
sources through a draft), so their paths and names stay /kb/<id>/... and kb:...
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from drafts.views import add_sources
from kb.urls import urlpatterns as kb_urlpatterns
from pages import views
from privexbot.health import health
from privexbot.metrics.views import metrics

kb_pages = [
    path("<uuid:kb_id>/", views.kb_detail, name="detail"),
    path("<uuid:kb_id>/sources/", add_sources, name="add_sources"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("health", health, name="health"),
    path("metrics", metrics, name="metrics"),  # Prometheus; token/allowlist only (privexbot/metrics/access.py)
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("pages.api_urls")),
    path("drafts/", include("drafts.urls")),
    path("kb/", include((kb_pages + kb_urlpatterns, "kb"))),
]
