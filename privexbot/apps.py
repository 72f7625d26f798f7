from django.apps import AppConfig


class PrivexbotConfig(AppConfig):
    name = "privexbot"
    verbose_name = "PrivexBot platform"

    def ready(self):
        from privexbot import sandbox, signals  # noqa: F401  (signals: login/logout audit receivers)

        # Every process start (web, each worker process, commands): remove the private directories of processes
        # that were killed, with the plaintext they held; a live sibling's are left alone (privexbot.sandbox).
        sandbox.sweep()
