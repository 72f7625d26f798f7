from django.apps import AppConfig


class DraftsConfig(AppConfig):
    name = "drafts"

    def ready(self):
        # A KB's secure deletion takes the drafts that add sources to it, and their files (kb cannot import drafts).
        from drafts.deletion import on_kb_deleting
        from kb.deletion import kb_deleting

        kb_deleting.connect(on_kb_deleting, dispatch_uid="drafts.deletion.on_kb_deleting")
