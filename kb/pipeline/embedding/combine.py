"""One encoder stream per worker process: the document encodes of its threads, combined into one call.

A small document's chunks make one short, ragged batch: padded to its longest text, each batch of a 7-chunk page
computes ~1.1-1.3x the tokens it needs, and the ONNX call's fixed cost is paid per document (issue 18: the worker
reached 0.6-0.7x the bare encoder on 1,000 small pages). When several threads of a process have texts waiting, one
of them (the leader) encodes all of them at once — sorted together by length, so batches pad as little as the bare
encoder's — and hands each thread its own rows back.

Flat combining, no extra thread: a thread that finds no leader becomes it, encodes everything that is pending, and
hands the lead on once its own texts are done, so no document waits behind another's for longer than one combined
call. The model's rows never mix (attention is masked per row), so texts of different documents (and tenants) in
one batch give exactly the vectors they give alone. A combined call that fails is retried per request, so a bad
text fails only its own document.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Encode = Callable[[list[str]], np.ndarray]


@dataclass(eq=False)
class _Request:
    texts: list[str]
    vectors: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False


class CombinedEncoder:
    """encode(texts) for many threads: concurrent calls are served by one call of `encode` over all their texts.
    max_texts: at most this many texts in one combined call (the call holds the machine's encode turn throughout,
    kb.pipeline.embed.encode_in_turn: a few seconds at most)."""

    def __init__(self, encode: Encode, *, max_texts: int = 128):
        self._encode = encode
        self._max_texts = max_texts
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._leading = False

    def __call__(self, texts: list[str]) -> np.ndarray:
        request = _Request(list(texts))
        with self._cond:
            self._pending.append(request)
            while not request.done:
                if not self._leading:
                    self._leading = True
                    break
                self._cond.wait()
        if not request.done:
            self._lead(request)
        if request.error is not None:
            raise request.error
        assert request.vectors is not None
        return request.vectors

    def _lead(self, own: _Request) -> None:
        """Encode what is pending until `own` is done, then pass the lead to a waiting thread."""
        group: list[_Request] = []
        try:
            while not own.done:
                with self._cond:
                    group = self._take()
                self._run(group)
                group = []
                with self._cond:
                    self._cond.notify_all()
        finally:
            with self._cond:
                # Interrupted in this thread (dramatiq's time limit, shutdown): the other threads' texts it held
                # go back to the front of the queue for the next leader.
                self._pending[:0] = [r for r in group if not r.done and r is not own]
                self._leading = False
                self._cond.notify_all()  # a waiting thread with texts still pending becomes the next leader

    def _take(self) -> list[_Request]:
        """The oldest pending requests, up to max_texts texts (always at least one request)."""
        group, size = [], 0
        while self._pending and (not group or size + len(self._pending[0].texts) <= self._max_texts):
            request = self._pending.pop(0)
            group.append(request)
            size += len(request.texts)
        return group

    def _run(self, group: list[_Request]) -> None:
        if len(group) == 1:
            self._finish(group[0])
            return
        try:
            vectors = np.asarray(self._encode([t for r in group for t in r.texts]), dtype=np.float32)
        except Exception:
            for request in group:  # only the request whose texts fail should fail
                self._finish(request)
            return
        start = 0
        for request in group:
            request.vectors = vectors[start : start + len(request.texts)]
            request.done = True
            start += len(request.texts)

    def _finish(self, request: _Request) -> None:
        """Encode one request alone."""
        try:
            request.vectors = np.asarray(self._encode(request.texts), dtype=np.float32)
        except Exception as exc:  # handed to the request's own thread, which raises it
            request.error = exc
        request.done = True
