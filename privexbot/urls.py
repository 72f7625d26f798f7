from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from privexbot.health import health
from tenants import views as tenant_views

urlpatterns = [
    path("", tenant_views.home, name="home"),
    path("health", health, name="health"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("privexbot.api_urls")),
    path("drafts/", include("drafts.urls")),
    path("kb/", include("kb.urls")),
]
