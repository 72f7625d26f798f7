"""CombinedEncoder (kb.pipeline.embedding.combine): the document encodes of a worker process's threads, combined."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kb.pipeline.embedding.combine import CombinedEncoder


def vector_of(text: str) -> np.ndarray:
    """A vector that identifies its text (so a row handed to the wrong request shows)."""
    return np.array([len(text), sum(map(ord, text)), hash(text) % 1000], dtype=np.float32)


class GatedEncode:
    """An encode whose first call waits until `expected` threads have submitted, so the rest queue up behind it."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.fail_on = ""

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(10)
        if self.fail_on and any(self.fail_on in t for t in texts):
            raise ValueError(f"cannot encode {self.fail_on}")
        return np.stack([vector_of(t) for t in texts])


def run_threads(encoder, requests: dict[str, list[str]], gate: GatedEncode, first: str):
    """`first` submits and blocks inside the encode; then the others submit; then the encode is released."""
    results: dict[str, object] = {}

    def call(name):
        try:
            results[name] = encoder(requests[name])
        except Exception as exc:
            results[name] = exc

    threads = {name: threading.Thread(target=call, args=(name,)) for name in requests}
    threads[first].start()
    assert gate.entered.wait(10)
    for name, thread in threads.items():
        if name != first:
            thread.start()
    deadline = threading.Event()
    while len(encoder._pending) < len(requests) - 1 and not deadline.wait(0.01):
        pass  # every other thread has queued its texts behind the running call
    gate.release.set()
    for thread in threads.values():
        thread.join(10)
        assert not thread.is_alive()
    return results


def test_waiting_requests_are_encoded_in_one_call_and_each_gets_its_own_rows():
    gate = GatedEncode()
    encoder = CombinedEncoder(gate)
    requests = {"a": ["alpha one"], "b": ["beta one", "beta two"], "c": ["gamma"], "d": ["delta 1", "delta 2", "d3"]}

    results = run_threads(encoder, requests, gate, first="a")

    for name, texts in requests.items():
        np.testing.assert_array_equal(results[name], np.stack([vector_of(t) for t in texts]))
    # The first call held "a" alone; the three that queued behind it were encoded together in the second.
    assert len(gate.calls) == 2
    assert sorted(gate.calls[1]) == sorted(requests["b"] + requests["c"] + requests["d"])


def test_a_text_that_fails_fails_only_its_own_request():
    gate = GatedEncode()
    gate.fail_on = "broken"
    encoder = CombinedEncoder(gate)
    requests = {"a": ["first"], "good": ["fine text"], "bad": ["a broken text"], "also": ["more fine text"]}

    results = run_threads(encoder, requests, gate, first="a")

    assert isinstance(results["bad"], ValueError)
    for name in ("a", "good", "also"):
        np.testing.assert_array_equal(results[name], np.stack([vector_of(t) for t in requests[name]]))


def test_max_texts_bounds_a_combined_call():
    gate = GatedEncode()
    encoder = CombinedEncoder(gate, max_texts=3)
    requests = {"a": ["x"], "b": ["b1", "b2"], "c": ["c1", "c2"], "d": ["d1"]}

    results = run_threads(encoder, requests, gate, first="a")

    assert all(len(call) <= 3 for call in gate.calls)
    assert sum(len(call) for call in gate.calls) == 6
    for name, texts in requests.items():
        np.testing.assert_array_equal(results[name], np.stack([vector_of(t) for t in texts]))


class Interrupt(BaseException):
    """Like dramatiq's time limit: raised in the leader's thread, not an Exception."""


def test_a_leader_interrupted_mid_call_hands_the_other_threads_texts_back():
    calls: list[list[str]] = []
    leaders: list[str] = []
    entered, release = threading.Event(), threading.Event()

    def encode(texts):
        calls.append(list(texts))
        leaders.append(threading.current_thread().name)
        if len(calls) == 1:
            entered.set()
            assert release.wait(10)
            return np.stack([vector_of(t) for t in texts])
        if len(calls) == 2:  # the combined call of b's and c's texts, by whichever of them leads: interrupted
            raise Interrupt
        return np.stack([vector_of(t) for t in texts])

    encoder = CombinedEncoder(encode)
    results: dict[str, object] = {}

    def call(name, texts):
        try:
            results[name] = encoder(texts)
        except BaseException as exc:
            results[name] = exc

    texts = {"a": ["a text"], "b": ["b text"], "c": ["c text one", "c text two"]}
    a, b, c = (threading.Thread(target=call, args=(name, texts[name]), name=name) for name in "abc")
    a.start()
    assert entered.wait(10)
    b.start()
    while len(encoder._pending) < 1:
        pass
    c.start()
    while len(encoder._pending) < 2:
        pass
    release.set()
    for thread in (a, b, c):
        thread.join(10)
        assert not thread.is_alive()

    interrupted = leaders[1]
    other = "c" if interrupted == "b" else "b"
    assert sorted(calls[1]) == sorted(texts["b"] + texts["c"])
    assert isinstance(results[interrupted], Interrupt)  # the interrupted thread's own request ends with it
    np.testing.assert_array_equal(results[other], np.stack([vector_of(t) for t in texts[other]]))
    assert calls[2] == texts[other] and leaders[2] == other  # handed back: the other thread led its own texts
    assert encoder._pending == []


def test_a_lone_call_is_encoded_directly():
    calls = []

    def encode(texts):
        calls.append(texts)
        return np.stack([vector_of(t) for t in texts])

    encoder = CombinedEncoder(encode)
    np.testing.assert_array_equal(encoder(["one", "two"]), np.stack([vector_of("one"), vector_of("two")]))
    assert calls == [["one", "two"]]
    with pytest.raises(ValueError):
        CombinedEncoder(lambda texts: (_ for _ in ()).throw(ValueError("no")))(["x"])
