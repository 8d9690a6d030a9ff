"""chunk(): sizes by the real WordPiece counter, structure, overlap, scale, determinism."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from workhorse.errors import InvalidRequest
from workhorse.knowledge.chunk import (
    AUTO_MAX_TOKENS,
    AUTO_OVERLAP_TOKENS,
    Chunk,
    WordPieceCounter,
    chunk,
)
from workhorse.knowledge.parse import Block, parse
from workhorse.providers.registry import bundled_embedding_model_path


@pytest.fixture(scope="module")
def counter() -> WordPieceCounter:
    return WordPieceCounter(bundled_embedding_model_path() / "tokenizer.json")


def sentences(count: int, topic: str = "alpha") -> str:
    return " ".join(
        f"Sentence {i} is about the {topic} subsystem and its limits." for i in range(count)
    )


def test_counter_counts_every_token_without_specials(counter: WordPieceCounter) -> None:
    assert counter.count("hello world") == 2
    # tokenizer.json truncates at 128; a count must not.
    assert counter.count("word " * 1000) == 1000


def test_chunks_never_exceed_max_tokens(counter: WordPieceCounter) -> None:
    blocks = [Block(sentences(40), "paragraph", f"page {n}") for n in range(1, 6)]
    blocks.append(Block("x" * 3000, "text", "page 6"))  # one enormous "word"
    chunks = chunk(blocks, counter, max_tokens=64, overlap_tokens=16)
    assert len(chunks) > 20
    for c in chunks:
        assert c.tokens == counter.count(c.text)
        assert c.tokens <= 64
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_small_blocks_are_packed_whole(counter: WordPieceCounter) -> None:
    blocks = [Block(f"Fact number {i}.", "paragraph", "page 1") for i in range(6)]
    chunks = chunk(blocks, counter, max_tokens=AUTO_MAX_TOKENS, overlap_tokens=0)
    assert chunks == [
        Chunk(
            0,
            "\n".join(b.text for b in blocks),
            "page 1",
            counter.count(" ".join(b.text for b in blocks)),
        )
    ]


def test_overlap_carries_the_previous_tail(counter: WordPieceCounter) -> None:
    blocks = [Block(sentences(60), "paragraph", "page 1")]
    chunks = chunk(blocks, counter, max_tokens=80, overlap_tokens=20)
    assert len(chunks) > 3
    for previous, current in itertools.pairwise(chunks):
        # The next chunk starts with whole trailing sentences of the previous one.
        first_sentence = current.text.split(". ")[0]
        assert first_sentence in previous.text
        assert first_sentence.startswith("Sentence ")
    without = chunk(blocks, counter, max_tokens=80, overlap_tokens=0)
    assert len(without) < len(chunks)
    assert not any(c.text.split(". ")[0] in p.text for p, c in itertools.pairwise(without))


def test_headings_start_chunks_and_prefix_them(counter: WordPieceCounter) -> None:
    blocks = [
        Block("Introduction", "heading", None, 1),
        Block("Workhorse answers questions.", "paragraph", "section Introduction"),
        Block("Setup", "heading", None, 2),
        Block(sentences(30, "setup"), "paragraph", "section Introduction > Setup"),
        Block("Usage", "heading", None, 1),
        Block("Send a request.", "paragraph", "section Usage"),
        Block("Appendix", "heading", None, 1),
    ]
    chunks = chunk(blocks, counter, max_tokens=64, overlap_tokens=16)
    assert chunks[0].text == "Introduction\nWorkhorse answers questions."
    setup = [c for c in chunks if "setup subsystem" in c.text]
    assert len(setup) > 2
    assert all(c.text.startswith("Introduction > Setup\nSentence ") for c in setup)
    assert chunks[-2].text == "Usage\nSend a request."  # no overlap across a heading
    assert chunks[-1].text == "Appendix"  # an empty section is not lost
    assert all(c.tokens <= 64 for c in chunks)


def test_table_rows_are_never_split(counter: WordPieceCounter) -> None:
    rows = [
        Block(
            f"Region: North {i} | Quarter: Q{i % 4 + 1} | Revenue: {1000 + i}",
            "table_row",
            f"sheet S, row {i}",
        )
        for i in range(2, 60)
    ]
    chunks = chunk(
        [Block("Sales", "heading", "sheet S", 1), *rows], counter, max_tokens=48, overlap_tokens=0
    )
    body = [line for c in chunks for line in c.text.split("\n")[1:]]
    assert body == [row.text for row in rows]
    assert all(c.text.startswith("Sales\n") for c in chunks)
    # A row longer than the room the heading path leaves still stays whole.
    wide = Block(" | ".join(f"Column {i}: value {i}" for i in range(6)), "table_row", "row 1")
    assert 30 < counter.count(wide.text) <= 48
    long_path = [
        Block(f"Heading level {n} with several words", "heading", None, n) for n in (1, 2, 3)
    ]
    result = chunk([*long_path, wide], counter, max_tokens=48, overlap_tokens=0)
    assert len(result) == 1
    assert result[0].text.endswith(wide.text)
    assert result[0].tokens <= 48


def test_locations_span_pages(counter: WordPieceCounter) -> None:
    blocks = [Block(f"Page {n} says something short.", "text", f"page {n}") for n in (3, 4)]
    assert chunk(blocks, counter, max_tokens=256, overlap_tokens=0)[0].location == "pages 3-4"


def test_arguments_are_validated(counter: WordPieceCounter) -> None:
    blocks = [Block("text", "paragraph", None)]
    with pytest.raises(InvalidRequest, match="max_tokens must be at least 1"):
        chunk(blocks, counter, max_tokens=0, overlap_tokens=0)
    with pytest.raises(InvalidRequest, match="overlap_tokens must be between 0 and half"):
        chunk(blocks, counter, max_tokens=100, overlap_tokens=51)
    assert chunk(blocks, counter, max_tokens=100, overlap_tokens=50)


def test_auto_strategy_fits_the_embedding_model() -> None:
    assert (AUTO_MAX_TOKENS, AUTO_OVERLAP_TOKENS) == (256, 64)


def test_a_5_mb_text_file_chunks_deterministically(
    tmp_path: Path, counter: WordPieceCounter
) -> None:
    paragraph = sentences(8, "storage") + "\n\n"
    path = tmp_path / "big.txt"
    path.write_text(paragraph * (5_000_000 // len(paragraph)))
    blocks = parse(path, "big.txt")
    whole = chunk(blocks, counter, max_tokens=AUTO_MAX_TOKENS, overlap_tokens=AUTO_OVERLAP_TOKENS)
    assert len(whole) > 5000
    assert max(c.tokens for c in whole) <= AUTO_MAX_TOKENS
    assert whole[0].location == "lines 1-3"
    # Same input, same chunks; and the chunker streams: a prefix of the blocks gives a
    # prefix of the chunks (but for the last one, cut short).
    start = chunk(
        blocks[:500], counter, max_tokens=AUTO_MAX_TOKENS, overlap_tokens=AUTO_OVERLAP_TOKENS
    )
    assert start == chunk(
        blocks[:500], counter, max_tokens=AUTO_MAX_TOKENS, overlap_tokens=AUTO_OVERLAP_TOKENS
    )
    assert start[:-1] == whole[: len(start) - 1]
