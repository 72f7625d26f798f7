"""Base classes of every API view.

DRF checks permissions before throttles, so an unauthenticated flood (or a token-guessing run) would never
reach the per-address limit. Here throttles run first: before the permission check, and also when the
credentials are rejected.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.generics import ListAPIView
from rest_framework.views import APIView

from privexbot.api.throttling import throttle_waits


class ThrottleFirst:
    _throttles_checked = False

    def perform_authentication(self, request):
        try:
            super().perform_authentication(request)
        except exceptions.AuthenticationFailed:
            self.check_throttles(request)  # the user is anonymous now: counted against the address
            raise

    def check_permissions(self, request):
        self.check_throttles(request)
        self._throttles_checked = True
        super().check_permissions(request)

    def check_throttles(self, request):
        """DRF's check (the longest wait of the refusing throttles), with one Redis round trip for all of them."""
        if self._throttles_checked:
            return
        if waits := throttle_waits(self.get_throttles(), request, self):
            self.throttled(request, max((w for w in waits if w is not None), default=None))


class ApiView(ThrottleFirst, APIView):
    pass


class ApiListView(ThrottleFirst, ListAPIView):
    pass
