"""Records the authenticated user of each request for the concurrent-users gauge (metrics.active_users)."""

from __future__ import annotations

from django.utils.functional import empty

from privexbot.metrics import active_users


def _user_of(request):
    """The request's user if something already resolved it, else None: resolving it here would cost a session
    and a user query on requests that never needed them (a bearer-token API call sets request.user itself)."""
    user = request.__dict__.get("user")
    if user is None:
        return None
    if getattr(user, "_wrapped", None) is empty:  # AuthenticationMiddleware's lazy user, never evaluated
        return None
    return user


class ActiveUsersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # After the view: DRF authenticates inside it and puts its user on the Django request.
        user = _user_of(request)
        if user is not None and user.is_authenticated:
            active_users.seen(user.pk)
        return response
