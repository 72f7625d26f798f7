"""Encode turns (kb.pipeline.embedding.turns, issue 18): worker encodes running at once never ask for more threads
than there are cores, and an encoder with fewer threads gives the same vectors."""

from __future__ import annotations

import os
import threading

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import pytest

from kb.pipeline import embed
from kb.pipeline.embedding.backends import cpu_count
from kb.pipeline.embedding.turns import encode_turn, slots_for

MODEL = "all-MiniLM-L6-v2"
TEXTS = [
    "Parcel lockers keep parcels for three days before they go back to the depot.",
    "The knowledge base splits each document into chunks and embeds every chunk once. " * 6,
    "SELECT id FROM documents WHERE status = 'ready';",
]


def _in_thread(body) -> tuple[threading.Thread, threading.Event, list]:
    done, out = threading.Event(), []

    def run():
        out.append(body())
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done, out


def test_a_turn_excludes_another_until_it_is_released(tmp_path):
    with encode_turn(1, directory=tmp_path):
        thread, done, _ = _in_thread(lambda: encode_turn(1, directory=tmp_path).__enter__())
        assert not done.wait(0.5), "a second encode started while the only turn was held"
    assert done.wait(10), "the turn was not handed on once released"
    thread.join()


def test_as_many_encodes_at_once_as_there_are_slots(tmp_path):
    with encode_turn(2, directory=tmp_path), encode_turn(2, directory=tmp_path):
        _, third, _ = _in_thread(lambda: encode_turn(2, directory=tmp_path).__enter__())
        assert not third.wait(0.5), "a third encode started with two slots taken"
    assert third.wait(10)


def test_slots_follow_the_threads_of_one_encode():
    assert slots_for(0) == cpu_count()  # 0 is treated as one thread here; the backends turn it into every core
    assert slots_for(cpu_count()) == 1
    assert slots_for(10 * cpu_count()) == 1
    assert slots_for(1) == cpu_count()


@pytest.fixture(scope="module")
def cache_dir() -> str:
    from kb.pipeline import runtime

    return runtime.models_cache_dir()  # the pipeline tests' export: made once, not again for this module


def test_one_thread_encoder_gives_the_same_vectors(cache_dir):
    default = embed.get_embedder(MODEL, models_path=None, cache_dir=cache_dir, backend="onnx")
    single = embed.get_embedder(MODEL, models_path=None, cache_dir=cache_dir, backend="onnx", threads=1)
    assert single is not default and default.threads == cpu_count() and single.threads == 1
    assert single._session.get_session_options().intra_op_num_threads == 1
    cos = (default.encode(TEXTS) * single.encode(TEXTS)).sum(axis=1)  # unit vectors
    assert cos.min() >= 0.99999
    with pytest.raises(ValueError):
        embed.get_embedder(MODEL, models_path=None, cache_dir=cache_dir, threads=-1)


def test_the_workers_encode_waits_for_its_turn(cache_dir):
    embedder = embed.get_embedder(MODEL, models_path=None, cache_dir=cache_dir, backend="onnx")
    expected = embedder.encode(TEXTS)
    scope = f"test-{os.getpid()}"
    with encode_turn(slots_for(embedder.threads), scope=scope):  # real turns: another encode holds all of them
        _, done, out = _in_thread(lambda: embed.encode_in_turn(embedder, TEXTS, batch_size=32, scope=scope))
        assert not done.wait(0.5), "the document encode did not wait for its turn"
    assert done.wait(120)
    np.testing.assert_allclose(out[0], expected, atol=1e-6)
