"""Token counting with the embedding model's own tokenizer (the Rust `tokenizers` library, no torch)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

# Texts per encode_batch call. The tokenizer keeps every text's whole encoding (ids, tokens, offsets, masks: ~100
# bytes a token) until the call returns, so counting a large document's chunks in one call held about 1.6 GB for
# 60,000 chunks (issue 18's 131 MiB PDF); batches bound that and give the same counts. Large enough that the
# library still spreads each call over every core.
COUNT_BATCH = 1024


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
        texts = list(texts)
        counts: list[int] = []
        for start in range(0, len(texts), COUNT_BATCH):
            encodings = tokenizer.encode_batch(
                texts[start : start + COUNT_BATCH], add_special_tokens=add_special_tokens
            )
            counts += [len(encoding.ids) for encoding in encodings]
        return counts

    return count_tokens


@lru_cache(maxsize=4)
def _load(path: str):
    from tokenizers import Tokenizer  # only where counting happens; keeps importing the chunker cheap

    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
