import dramatiq

from privexbot.redis import get_client


@dramatiq.actor(queue_name="default", max_retries=0)
def ping(token: str) -> None:
    """Proves a worker executes jobs end to end (used by `manage.py services ping` and the tests)."""
    get_client().set(f"pxb:ping:{token}", "pong", ex=300)
