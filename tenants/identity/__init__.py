"""Identity: login (django-allauth), MFA (allauth.mfa), lockout (django-axes), password policy, sessions.

allauth and axes do the work; this package holds what they leave to the project: the adapter and login form
(no open sign-up, login by username), the lockout page, the session and MFA-required middleware, the profile
page and the services an owner's pages call (the organization's MFA requirement, an MFA reset).
"""
