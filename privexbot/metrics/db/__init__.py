"""The embedded-PostgreSQL backend (privexbot.dbbackend) with django-prometheus' query and connection metrics.

ENGINE "privexbot.metrics.db" when DATABASE_URL is unset; with DATABASE_URL settings.py uses
django-prometheus' own "django_prometheus.db.backends.postgresql".
"""
