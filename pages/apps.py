from django.apps import AppConfig


class PagesConfig(AppConfig):
    """The top layer: pages that combine apps (nothing imports it but the URLconf setting)."""

    name = "pages"
