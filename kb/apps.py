from django.apps import AppConfig


class KbConfig(AppConfig):
    name = "kb"
    verbose_name = "Knowledge bases"

    def ready(self):
        # A member removed from a workspace loses their grants on its KBs (tenants cannot import kb: a signal).
        from kb.sharing import on_member_removed
        from tenants.signals import member_removed

        member_removed.connect(on_member_removed, dispatch_uid="kb.sharing.on_member_removed")
        # API keys limited to some KBs are checked against the KBs their user may read (tenants.tokens).
        from kb.selectors import kb_choices_for_user
        from tenants.tokens import register_kb_reader

        register_kb_reader(kb_choices_for_user)
        # A workspace's deletion and a user's erasure delete KBs through kb.deletion (tenants cannot import kb).
        from kb.tenant_deletion import on_user_erasing, on_workspace_deleting
        from tenants.signals import user_erasing, workspace_deleting

        workspace_deleting.connect(on_workspace_deleting, dispatch_uid="kb.tenant_deletion.on_workspace_deleting")
        user_erasing.connect(on_user_erasing, dispatch_uid="kb.tenant_deletion.on_user_erasing")
