"""kb.pipeline.embed: offline model lookup, ONNX export + backends against the torch reference (no Django)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

# Before anything can import huggingface_hub: any attempt to reach the hub must fail, not download.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import pytest

from kb.pipeline import embed
from kb.pipeline.embedding import onnx_export
from kb.pipeline.embedding.backends import PADDING_TOLERANCE, OnnxEmbedder, TorchEmbedder, length_batches
from kb.pipeline.embedding.spec import load_spec
from kb.pipeline.types import PipelineError

MODEL = "all-MiniLM-L6-v2"
REPO_ROOT = Path(__file__).resolve().parents[2]
# CI lays shared/ beside the clone; developers have it at /work/shared.
CORPUS = next(
    (p for p in (REPO_ROOT.parent / "shared" / "corpus", Path("/work/shared/corpus")) if p.is_dir()),
    REPO_ROOT.parent / "shared" / "corpus",
)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


@pytest.fixture(scope="session")
def paragraphs() -> list[str]:
    """~50 real paragraphs of varied length from the shared corpus (prose, code, licences, changelogs)."""
    found: list[str] = []
    files = sorted((CORPUS / "md").glob("*.md")) + sorted((CORPUS / "txt").glob("*.txt"))
    assert files, f"corpus not found at {CORPUS}"
    for path in files:
        blocks = [b.strip() for b in path.read_text(encoding="utf-8", errors="replace").split("\n\n")]
        found += [b for b in blocks if len(b) >= 80][:2]
        # One long block per file so truncation at max_seq_length is exercised too.
        found += sorted((b for b in blocks if len(b) >= 80), key=len)[-1:]
    return found[:54]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("embed-cache"))


@pytest.fixture(scope="session")
def onnx_embedder(cache_dir):
    return embed.get_embedder(MODEL, models_path=None, cache_dir=cache_dir, backend="onnx")


@pytest.fixture(scope="session")
def torch_embedder(cache_dir):
    return embed.get_embedder(MODEL, models_path=None, cache_dir=cache_dir, backend="torch")


@pytest.fixture(scope="session")
def reference(paragraphs):
    """Vectors from sentence-transformers itself, computed independently of the code under test."""
    from sentence_transformers import SentenceTransformer

    path = embed.resolve_model_path(MODEL, models_path=None)
    model = SentenceTransformer(path, device="cpu")
    return model.encode(paragraphs, batch_size=32, normalize_embeddings=True)


def test_default_model_resolves_offline_from_the_package():
    path = embed.resolve_model_path(MODEL, models_path=None)
    assert (Path(path) / "model.safetensors").is_file()
    assert embed.resolve_model_path(f"sentence-transformers/{MODEL}", models_path="/nonexistent") == path


def test_other_models_resolve_under_models_path(tmp_path):
    default = embed.resolve_model_path(MODEL, models_path=None)
    (tmp_path / "all-mpnet-base-v2").symlink_to(default)
    found = embed.resolve_model_path("all-mpnet-base-v2", models_path=str(tmp_path))
    assert found == str(tmp_path / "all-mpnet-base-v2")
    # "org/name" is found both as the full path and as the name after the slash.
    found = embed.resolve_model_path("sentence-transformers/all-mpnet-base-v2", models_path=str(tmp_path))
    assert found == str(tmp_path / "all-mpnet-base-v2")


DOT_MODEL = "multi-qa-mpnet-base-dot-v1"


@pytest.mark.parametrize("name", [DOT_MODEL, f"sentence-transformers/{DOT_MODEL}"])
def test_missing_model_says_where_to_put_the_weights(tmp_path, name):
    (tmp_path / "multi-qa-mpnet-base-dot-v1").mkdir()  # a folder without weights does not count
    with pytest.raises(PipelineError) as caught:
        embed.get_embedder(name, models_path=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    err = caught.value
    assert err.code == "model_missing"
    assert err.permanent is False  # installing the weights and retrying fixes it
    assert str(tmp_path / "multi-qa-mpnet-base-dot-v1") in err.message
    assert "model.safetensors" in err.message and "never downloaded" in err.message


def test_missing_model_without_models_path():
    with pytest.raises(PipelineError, match="models path") as caught:
        embed.resolve_model_path("all-mpnet-base-v2", models_path=None)
    assert caught.value.code == "model_missing"


def test_model_facts(onnx_embedder, torch_embedder):
    for embedder in (onnx_embedder, torch_embedder):
        assert (embedder.name, embedder.dimensions, embedder.max_seq_length) == (MODEL, 384, 256)
        assert embedder.normalized is True
    assert (onnx_embedder.backend, torch_embedder.backend) == ("onnx", "torch")


def test_auto_picks_the_verified_onnx_backend_and_is_cached(cache_dir, onnx_embedder):
    auto = embed.get_embedder(MODEL, models_path=None, cache_dir=cache_dir)
    assert auto.backend == "onnx"
    assert embed.get_embedder(f"sentence-transformers/{MODEL}", models_path=None, cache_dir=cache_dir) is auto


def test_onnx_backend_never_imports_torch_once_exported(cache_dir, onnx_embedder):
    # A web process embedding a query must not pay torch's 7-12 s import (nor its memory).
    code = (
        "import sys; from kb.pipeline import embed; "
        f"e = embed.get_embedder({MODEL!r}, models_path=None, cache_dir={cache_dir!r}); e.encode(['hi']); "
        "print(e.backend, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    argv = [sys.executable, "-c", code]
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["onnx", "False", "False"]


def test_export_is_verified_reused_and_leaves_no_temp_files(cache_dir, onnx_embedder):
    report = embed.export_onnx(MODEL, models_path=None, cache_dir=cache_dir)
    assert report.verified and report.min_cosine >= embed.MIN_COSINE
    mtime = os.stat(report.model_file).st_mtime_ns
    again = embed.export_onnx(MODEL, models_path=None, cache_dir=cache_dir)
    assert again == report and os.stat(report.model_file).st_mtime_ns == mtime
    leftovers = [p.name for p in Path(report.model_file).parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert json.loads((Path(report.model_file).parent / "meta.json").read_text())["verified"] is True


def test_vectors_are_float32_and_unit_length(onnx_embedder, torch_embedder, paragraphs):
    for embedder in (onnx_embedder, torch_embedder):
        vectors = embedder.encode(paragraphs[:10])
        assert vectors.dtype == np.float32 and vectors.shape == (10, 384)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_onnx_matches_the_torch_reference(onnx_embedder, torch_embedder, paragraphs, reference):
    tokens = onnx_embedder.count_tokens(paragraphs)
    assert len(paragraphs) >= 50 and max(tokens) > 256 and min(tokens) < 64  # truncation and padding both hit
    assert cosines(onnx_embedder.encode(paragraphs), reference).min() >= 0.999
    assert cosines(torch_embedder.encode(paragraphs[:16]), reference[:16]).min() >= 0.9999
    assert embed.verify_embedder(onnx_embedder, paragraphs[:8]) >= 0.999


def test_order_is_preserved_after_length_sorting(onnx_embedder, paragraphs):
    texts = paragraphs[:16]
    batched = onnx_embedder.encode(texts, batch_size=5)  # several batches, each sorted by length
    one_by_one = np.vstack([onnx_embedder.encode([t]) for t in texts])
    assert cosines(batched, one_by_one).min() >= 0.9999
    shuffled = list(range(len(texts)))
    random.Random(7).shuffle(shuffled)
    permuted = onnx_embedder.encode([texts[i] for i in shuffled], batch_size=5)
    assert cosines(permuted, batched[shuffled]).min() >= 0.9999


def test_batches_hold_texts_of_one_padded_width():
    lengths = np.array([250, 40, 245, 120, 240, 238, 118, 30, 200, 251])
    batches = length_batches(lengths, batch_size=4)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # every row once
    for batch in batches:
        assert 1 <= len(batch) <= 4
        assert lengths[batch].min() >= lengths[batch[0]] * (1 - PADDING_TOLERANCE)  # never padded past the share
    assert [list(lengths[b]) for b in batches] == [[251, 250, 245, 240], [238], [200], [120, 118], [40], [30]]
    # texts of one length fill whole batches
    assert [len(b) for b in length_batches(np.full(10, 128), batch_size=4)] == [4, 4, 2]


def test_count_tokens_matches_the_model_tokenizer(onnx_embedder, torch_embedder, paragraphs):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(onnx_embedder.model_path, local_files_only=True)
    texts = [*paragraphs, "", "word " * 600]
    expected = [len(ids) for ids in hf(texts, truncation=False)["input_ids"]]
    assert max(expected) > 600  # well past both 256 and the 128 baked into the shipped tokenizer.json
    assert onnx_embedder.count_tokens(texts) == expected
    assert torch_embedder.count_tokens(texts) == expected
    # tokenizer_path is usable as is: no truncation or padding left in it.
    counter = Tokenizer.from_file(onnx_embedder.tokenizer_path)
    assert [len(e.ids) for e in counter.encode_batch(texts)] == expected


def test_empty_input(onnx_embedder, torch_embedder):
    for embedder in (onnx_embedder, torch_embedder):
        assert embedder.encode([]).shape == (0, 384)
        assert embedder.count_tokens([]) == []


@pytest.fixture
def unnormalised_model(tmp_path) -> Path:
    """The default model's files with the Normalize module removed: stands in for dot-product models."""
    source = Path(embed.resolve_model_path(MODEL, models_path=None))
    target = tmp_path / "models" / "minilm-dot"
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.name != "modules.json":
            (target / item.name).symlink_to(item)
    modules = json.loads((source / "modules.json").read_text())
    kept = [m for m in modules if not m["type"].endswith("Normalize")]
    (target / "modules.json").write_text(json.dumps(kept))
    return target


def test_models_without_normalize_keep_raw_vectors(unnormalised_model, onnx_embedder, paragraphs, cache_dir):
    spec = load_spec("minilm-dot", str(unnormalised_model))
    assert spec.normalize is False and spec.pooling == ("mean",)
    # Same transformer, so the verified graph can be reused to check the numpy pooling path alone.
    onnx = OnnxEmbedder(spec, Path(onnx_embedder.tokenizer_path), onnx_embedder.model_file)
    reference = TorchEmbedder(spec, Path(onnx_embedder.tokenizer_path))
    got, want = onnx.encode(paragraphs[:12]), reference.encode(paragraphs[:12])
    assert not np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), np.linalg.norm(want, axis=1), rtol=1e-3)
    assert cosines(got, want).min() >= 0.999


def test_failed_export_falls_back_to_torch(unnormalised_model, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("tracing not supported")

    monkeypatch.setattr(onnx_export, "_export", broken)
    models, cache = str(unnormalised_model.parent), str(tmp_path / "cache")
    assert embed.get_embedder("minilm-dot", models_path=models, cache_dir=cache).backend == "torch"
    with pytest.raises(PipelineError) as caught:
        embed.get_embedder("minilm-dot", models_path=models, cache_dir=cache, backend="onnx")
    assert caught.value.code == "backend_unavailable" and "tracing not supported" in caught.value.message
    # The failure is recorded, so other processes don't retry the export at every start.
    assert json.loads((Path(cache) / "minilm-dot" / "meta.json").read_text())["verified"] is False
