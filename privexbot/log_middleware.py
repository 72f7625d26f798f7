"""Where log ids enter a process: a web request (RequestIdMiddleware) and a Dramatiq message (LogContext).

A request id is taken from an incoming X-Request-ID header when it is a sane token (privexbot.logs.sane_token)
or generated, and returned in the response's X-Request-ID. Messages enqueued while it is bound carry it (and
the user id) in their options, and the worker binds them while it processes the message: one upload can be
followed from the web process into the worker's lines. Messages from the periodic sweeper carry none.

Written here rather than taken from django-log-request-id (a thread local, and the header is used as sent,
unchecked) or django-guid (accepts only UUIDs, logs every request at INFO, keeps its own context variable
apart from the other ids): the middleware is a few lines on the ids privexbot.logs already holds.
"""

from __future__ import annotations

import uuid

import dramatiq
from django.core.signals import request_finished

from privexbot import logs

HEADER = "X-Request-ID"
# Message options that carry the ids across the broker.
MESSAGE_IDS = ("request_id", "user_id")


class RequestIdMiddleware:
    """First in MIDDLEWARE, so every line of the request, from any middleware or view, has its id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Not unbound when this returns: Django logs 4xx/5xx responses ("Not Found: …") after the middleware
        # chain. request_finished, sent once the server has closed the response, unbinds; the clear() here
        # covers a response that was never closed.
        logs.clear()
        request.request_id = logs.sane_token(request.headers.get(HEADER)) or uuid.uuid4().hex
        logs.bind(request_id=request.request_id)
        response = self.get_response(request)
        response[HEADER] = request.request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # A session user (resolved here, just before the view). API tokens are authenticated inside the view:
        # tenants.authentication binds that user.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            logs.bind(user_id=user.pk)


def _request_finished(**kwargs):
    logs.clear()


request_finished.connect(_request_finished, dispatch_uid="privexbot.log_middleware.clear")


class LogContext(dramatiq.Middleware):
    """Carries the request and user ids in each message enqueued while they are bound, and binds them in the
    worker thread for exactly that message."""

    def before_enqueue(self, broker, message, delay):
        for name, value in logs.current().items():
            # A message sent again (a retry asked for by the task body) keeps the ids of its origin.
            if name in MESSAGE_IDS and value is not None:
                message.options.setdefault(name, value)

    def before_process_message(self, broker, message):
        logs.clear()
        logs.bind(**{name: logs.sane_token(message.options.get(name)) for name in MESSAGE_IDS})

    def after_process_message(self, broker, message, *, result=None, exception=None):
        logs.clear()

    def after_skip_message(self, broker, message):
        logs.clear()
