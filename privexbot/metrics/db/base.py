from django_prometheus.db.backends.postgresql.base import DatabaseWrapper as _PrometheusWrapper

from privexbot.dbbackend.base import DatabaseWrapper as _EmbeddedWrapper


class DatabaseWrapper(_EmbeddedWrapper, _PrometheusWrapper):
    """MRO: the embedded server's host first, then django-prometheus' counting cursor factory and connection
    counter, then Django's psycopg backend. Cursors stay psycopg's (pgvector registers on the connection)."""
