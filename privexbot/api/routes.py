"""Usage: `from privexbot.api.routes import path` in an API urls module, then `path(...)` exactly as Django's.

API routes whose trailing slash is optional: `/x` and `/x/` reach the same view with the same arguments, for views
and `include(...)` alike (tests/api/test_trailing_slash.py walks every route under /api/v1/ and fails on one added
with Django's own path()).

Why here and not a redirect: API clients POST and DELETE, and a redirect loses the body or the method. Why not two
patterns per route: the OpenAPI schema would list each route twice. The route as written stays the canonical
form: `reverse()` and the schema give exactly it; only matching accepts the other form.
"""

from __future__ import annotations

from functools import partial

from django.urls.conf import _path
from django.urls.resolvers import RoutePattern


class SlashOptionalPattern(RoutePattern):
    """A route that also matches the request path with its trailing slash added or removed.

    The other form is tried only when the written one does not match, and only once: `/x//` is not `/x/`, and an
    empty route (an include's root) is not reached by a lone `/`. An include's prefix ("kb-drafts/") also matches
    the path without its slash, so the include's root route ("") answers `/kb-drafts` too."""

    def match(self, path):
        found = super().match(path)
        if found is not None or path.endswith("//"):
            return found
        if not path.endswith("/"):
            return super().match(path + "/")
        if self._is_endpoint and path != "/":
            return super().match(path[:-1])
        return None


path = partial(_path, Pattern=SlashOptionalPattern)
