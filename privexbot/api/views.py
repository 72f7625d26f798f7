"""Base classes of every API view.

DRF checks permissions before throttles, so an unauthenticated flood (or a token-guessing run) would never
reach the per-address limit. Here throttles run first: before the permission check, and also when the
credentials are rejected.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.generics import ListAPIView
from rest_framework.views import APIView


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
        if not self._throttles_checked:
            super().check_throttles(request)


class ApiView(ThrottleFirst, APIView):
    pass


class ApiListView(ThrottleFirst, ListAPIView):
    pass
