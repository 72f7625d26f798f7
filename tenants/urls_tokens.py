"""The API key page, under /profile/api-keys/ (pages/urls.py): list, create, revoke, rotate."""

from django.urls import path

from tenants import views_tokens

app_name = "api_keys"
urlpatterns = [
    path("", views_tokens.api_keys, name="list"),
    path("<uuid:token_id>/revoke", views_tokens.api_key_revoke, name="revoke"),
    path("<uuid:token_id>/rotate", views_tokens.api_key_rotate, name="rotate"),
]
