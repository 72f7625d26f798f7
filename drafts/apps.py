from django.apps import AppConfig


class DraftsConfig(AppConfig):
    name = "drafts"

    def ready(self):
        # A KB's secure deletion takes the drafts that add sources to it, and their files (kb cannot import drafts).
        from drafts.deletion import on_kb_deleting
        from kb.deletion import kb_deleting

        kb_deleting.connect(on_kb_deleting, dispatch_uid="drafts.deletion.on_kb_deleting")
        # A workspace's deletion and a user's erasure delete drafts through draft_delete (tenants cannot import drafts).
        from drafts import tenant_deletion
        from tenants.signals import user_erasing, workspace_deleting

        workspace_deleting.connect(
            tenant_deletion.on_workspace_deleting, dispatch_uid="drafts.tenant_deletion.on_workspace_deleting"
        )
        user_erasing.connect(tenant_deletion.on_user_erasing, dispatch_uid="drafts.tenant_deletion.on_user_erasing")
