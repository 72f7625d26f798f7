from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self):
        from allauth.account.decorators import secure_admin_login
        from django.contrib import admin

        from tenants.identity import lockout, signals  # noqa: F401  (connect the receivers)

        # The admin has no login of its own: it sends to the app's login (allauth, with its MFA step, axes'
        # lockout and the per-IP throttle), and refuses a logged-in user who is not staff.
        admin.site.login = secure_admin_login(admin.site.login)
