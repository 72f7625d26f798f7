"""Files derived from a model (counting tokenizer, ONNX export) under the cache directory.

Several worker processes may start at once on a fresh cache: writes go to a unique temp file
renamed into place, and exports run under an exclusive lock that readers share.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .spec import ModelSpec


def model_cache_dir(spec: ModelSpec, cache_dir: str) -> Path:
    path = Path(cache_dir) / spec.safe_name
    path.mkdir(parents=True, exist_ok=True)
    return path


def temp_path(target: Path) -> Path:
    """A unique sibling of `target` (same filesystem, so os.replace is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(name, 0o644)  # mkstemp makes 0600; workers running as another user must read the cache
    return Path(name)


def atomic_write_text(target: Path, text: str) -> None:
    tmp = temp_path(target)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(directory: Path, *, exclusive: bool) -> Iterator[None]:
    # flock is released by the kernel if the holder dies, so a crashed export never wedges the cache.
    with open(directory / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _special_token(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def pad_token_id(spec: ModelSpec, tokenizer) -> int:
    root = Path(spec.path)
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        try:
            data = json.loads((root / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        token = _special_token(data.get("pad_token"))
        if token is not None and tokenizer.token_to_id(token) is not None:
            return tokenizer.token_to_id(token)
    return 0


def prepare_tokenizer(spec: ModelSpec, cache_dir: str) -> Path:
    """Write the model's tokenizer.json with truncation and padding switched off.

    Models often ship a tokenizer.json with fixed truncation/padding baked in (all-MiniLM-L6-v2:
    both at 128), which would make token counts wrong for anyone loading it as is. Lower-casing
    requested by sentence_bert_config.json is folded into the normaliser so counts match too.
    """
    from tokenizers import Tokenizer, normalizers

    source = Path(spec.path) / "tokenizer.json"
    if source.is_file():
        tokenizer = Tokenizer.from_file(str(source))
    else:
        # Older models ship only vocab files: let transformers build the fast tokenizer once.
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(spec.path, local_files_only=True).backend_tokenizer
    tokenizer.no_truncation()
    tokenizer.no_padding()
    if spec.do_lower_case:
        current = tokenizer.normalizer
        parts = [normalizers.Lowercase()] + ([current] if current is not None else [])
        tokenizer.normalizer = normalizers.Sequence(parts)

    target = model_cache_dir(spec, cache_dir) / "tokenizer.json"
    text = tokenizer.to_str()
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        atomic_write_text(target, text)
    return target
