from django.apps import AppConfig


class PrivexbotConfig(AppConfig):
    name = "privexbot"
    verbose_name = "PrivexBot platform"

    def ready(self):
        from privexbot import signals  # noqa: F401  (login/logout audit receivers)
