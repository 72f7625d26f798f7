"""Embedding step internals; the public entry point is `kb.pipeline.embed`.

spec.py         model folder lookup and its sentence-transformers config
cache.py        derived files under the cache dir (counting tokenizer, locks, atomic writes)
backends.py     Embedder with its onnxruntime and torch implementations
onnx_export.py  one-time ONNX export, verified against the torch reference
"""
