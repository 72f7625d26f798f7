"""Token counting with the embedding model's own tokenizer (the Rust `tokenizers` library, no torch)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache


def make_token_counter(
    tokenizer_json_path: str, *, add_special_tokens: bool = True
) -> Callable[[list[str]], list[int]]:
    """A batch counter for a tokenizer.json. With add_special_tokens (the default) the counts include
    [CLS]/[SEP], i.e. they are what the model sees and truncates at max_seq_length.

    The tokenizer is loaded once per path and process; its own truncation and padding settings are turned
    off (all-MiniLM-L6-v2's tokenizer.json truncates AND pads to 128, which would make every count 128).
    """
    tokenizer = _load(str(tokenizer_json_path))

    def count_tokens(texts: list[str]) -> list[int]:
        if not texts:
            return []
        encodings = tokenizer.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        return [len(encoding.ids) for encoding in encodings]

    return count_tokens


@lru_cache(maxsize=4)
def _load(path: str):
    from tokenizers import Tokenizer  # only where counting happens; keeps importing the chunker cheap

    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
