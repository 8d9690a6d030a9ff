"""Parsed blocks to token-bounded chunks that keep the document's structure.

Rules, in order of precedence:

- a chunk never has more than ``max_tokens`` tokens by the given counter (heading prefix
  included), unless a single character alone is longer;
- a heading starts a new chunk, and every chunk begins with its heading path
  (``"Introduction > Setup\\n"``) so it carries its context; the path is cut from the top
  (then shortened word by word) to stay within half of ``max_tokens``; a heading whose
  section turns out empty becomes a chunk of its own, so no text is lost;
- whole blocks are packed while they fit; a block that fits ``max_tokens`` is never split
  (a table row included): if the heading path leaves too little room, that chunk gets a
  shorter path instead;
- a longer block is split at sentence boundaries (code: at lines), a longer sentence at
  word boundaries, a longer word between characters;
- when a section continues into the next chunk, that chunk begins with up to
  ``overlap_tokens`` of the previous one's trailing blocks or sentences (or words, never
  parts of one); no overlap crosses a heading;
- a chunk's ``location`` is its first block's; when the chunk runs over several pages,
  slides or line ranges it is the range: ``"pages 3-4"``, ``"slides 2-3"``, ``"lines 1-40"``.

Each piece of text is counted once when it is cut (and, with a counter other than
``WordPieceCounter``, each chunk once more when it is done), so the work is linear in the
document. A word longer than a whole chunk is cut with spaces between its parts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from tokenizers import Tokenizer

from workhorse.errors import InvalidRequest
from workhorse.knowledge.blocks import Block, squash

# The "auto" strategy: all-MiniLM-L6-v2, the bundled embedding model, reads at most 256
# word pieces (its max_seq_length) and ignores the rest, so a chunk must fit in 256.
AUTO_MAX_TOKENS = 256
AUTO_OVERLAP_TOKENS = 64
MAX_TITLE_CHARS = 200
"""Characters of a heading repeated in the prefix of the chunks under it."""

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[\u3002\uff01\uff1f])\s*|\s*\n\s*")
_SPANS = {"page": "pages", "slide": "slides"}
_NUMBERED = re.compile(r"(page|slide) (\d+)")
_LINES = re.compile(r"lines? (\d+)(?:-(\d+))?")


class TokenCounter(Protocol):
    """Counts the tokens a text costs the model the chunks are for."""

    def count(self, text: str) -> int:
        """Tokens in ``text``, without special tokens."""
        ...


class WordPieceCounter:
    """The embedding model's own WordPiece tokenizer, from its ``tokenizer.json``."""

    def __init__(self, tokenizer_json: Path) -> None:
        tokenizer = Tokenizer.from_file(str(tokenizer_json))
        # The file ships with truncation at 128 and padding: a count must see every token.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer

    def count(self, text: str) -> int:
        """Word pieces in ``text`` ([CLS] and [SEP] not counted)."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document to embed: its text (heading path first) and token count."""

    index: int
    text: str
    location: str | None
    tokens: int


def chunk(
    blocks: list[Block], counter: TokenCounter, *, max_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    """Cut ``blocks`` into chunks of at most ``max_tokens`` (see the module docstring)."""
    if max_tokens < 1:
        raise InvalidRequest(f"max_tokens must be at least 1, not {max_tokens}")
    if overlap_tokens < 0 or overlap_tokens > max_tokens // 2:
        raise InvalidRequest(
            f"overlap_tokens must be between 0 and half of max_tokens ({max_tokens // 2}),"
            f" not {overlap_tokens}"
        )
    return _Chunker(counter, max_tokens, overlap_tokens).run(blocks)


@dataclass(frozen=True)
class _Piece:
    text: str
    tokens: int
    location: str | None
    joiner: str
    """What separates it from the piece before: "\\n" between blocks, " " or "\\n"
    between the sentences of one block."""


@dataclass(frozen=True)
class _Heading:
    level: int
    title: str
    location: str | None


class _Chunker:
    def __init__(self, counter: TokenCounter, max_tokens: int, overlap_tokens: int) -> None:
        self.counter = counter
        # Word piece counts add up across whitespace (BERT pre-tokenizes there, and pieces
        # are only ever joined there), so a finished chunk's count is the sum of its
        # pieces'; any other counter's chunks are counted again.
        self.additive = isinstance(counter, WordPieceCounter)
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.chunks: list[Chunk] = []
        self.headings: list[_Heading] = []
        self.heading_pending = False  # the last heading has no text under it yet
        self.prefix = ""
        self.prefix_tokens = 0
        self.pieces: list[_Piece] = []
        self.used = 0
        self.carried = 0  # how many of self.pieces are overlap from the previous chunk

    @property
    def budget(self) -> int:
        return self.max_tokens - self.prefix_tokens

    def run(self, blocks: list[Block]) -> list[Chunk]:
        for block in blocks:
            text = block.text.strip()
            if not text:
                continue
            if block.kind == "heading":
                title = squash(text)
                short = title[:MAX_TITLE_CHARS]
                self.heading(_Heading(max(block.level, 1), short, block.location))
                if short != title:
                    # Every chunk of the section repeats its title: a long one (a hostile
                    # document's 300 KB "heading" is one token to WordPiece) is cut there
                    # and kept whole once, as text.
                    self.body(title, False, block.location)
            else:
                self.body(text, block.kind == "code", block.location)
        self.flush(overlap=False)
        if self.heading_pending:
            self.heading_only_chunk()
        return self.chunks

    # Structure

    def heading(self, heading: _Heading) -> None:
        self.flush(overlap=False)
        if self.heading_pending and heading.level <= self.headings[-1].level:
            self.heading_only_chunk()
        while self.headings and self.headings[-1].level >= heading.level:
            self.headings.pop()
        self.headings.append(heading)
        self.heading_pending = True
        self.prefix, self.prefix_tokens = self.fit_prefix(self.max_tokens // 2)

    def heading_only_chunk(self) -> None:
        """A heading with nothing under it still deserves to be found."""
        path = " > ".join(heading.title for heading in self.headings)
        saved = self.prefix, self.prefix_tokens
        self.prefix, self.prefix_tokens = "", 0
        self.body(path, False, self.headings[-1].location)
        self.flush(overlap=False)
        self.prefix, self.prefix_tokens = saved

    def fit_prefix(self, limit: int) -> tuple[str, int]:
        """The heading path as a chunk prefix of at most ``limit`` tokens: top headings
        dropped first, then the last one cut to its first words."""
        titles = [heading.title for heading in self.headings]
        while titles:
            text = " > ".join(titles)
            tokens = self.counter.count(text)
            if tokens <= limit:
                return text + "\n", tokens
            if len(titles) == 1:
                words = text.split()[:limit]
                while words:
                    tokens = self.counter.count(" ".join(words))
                    if tokens <= limit:
                        return " ".join(words) + "\n", tokens
                    words = words[: max(0, min(len(words) - 1, len(words) * limit // tokens))]
            titles = titles[1:]
        return "", 0

    def body(self, text: str, code: bool, location: str | None) -> None:
        self.heading_pending = False
        tokens = self.counter.count(text)
        if tokens <= self.budget:
            self.add(_Piece(text, tokens, location, "\n"))
        elif tokens <= self.max_tokens:
            self.solo(_Piece(text, tokens, location, "\n"))
        else:
            for piece in self.split(text, tokens, code, location):
                self.add(piece)

    def solo(self, piece: _Piece) -> None:
        """A block that fits a chunk only with a shorter heading path: a chunk of its own."""
        self.flush(overlap=True)
        self.pieces, self.used, self.carried = [], 0, 0
        saved = self.prefix, self.prefix_tokens
        self.prefix, self.prefix_tokens = self.fit_prefix(self.max_tokens - piece.tokens)
        self.add(piece)
        self.flush(overlap=True)
        self.prefix, self.prefix_tokens = saved
        self.drop_overlap_to_fit(0)

    # Packing

    def add(self, piece: _Piece) -> None:
        if self.used + piece.tokens > self.budget and len(self.pieces) > self.carried:
            self.flush(overlap=True)
        self.drop_overlap_to_fit(piece.tokens)
        self.pieces.append(piece)
        self.used += piece.tokens

    def drop_overlap_to_fit(self, tokens: int) -> None:
        while self.carried and self.used + tokens > self.budget:
            self.used -= self.pieces.pop(0).tokens
            self.carried -= 1

    def flush(self, *, overlap: bool) -> None:
        """Close the current chunk; with ``overlap``, the next one starts with its tail."""
        pieces = self.pieces
        if len(pieces) == self.carried:  # nothing new since the last chunk
            self.pieces, self.used, self.carried = [], 0, 0
            return
        text = self.prefix + pieces[0].text + "".join(p.joiner + p.text for p in pieces[1:])
        tokens = self.prefix_tokens + self.used
        if not self.additive:
            tokens = self.counter.count(text)
        if tokens > self.max_tokens and len(pieces) - self.carried > 1:
            # A counter whose counts do not add up across whitespace: give back the last
            # piece and try again.
            self.pieces, leftover = pieces[:-1], pieces[-1:]
            self.used -= leftover[0].tokens
            self.flush(overlap=overlap)
            for piece in leftover:
                self.add(piece)
            return
        location = _span(pieces[0].location, pieces[-1].location)
        self.chunks.append(Chunk(len(self.chunks), text, location, tokens))
        tail = self.tail(pieces) if overlap and self.overlap_tokens else []
        self.pieces, self.used, self.carried = tail, sum(p.tokens for p in tail), len(tail)

    def tail(self, pieces: list[_Piece]) -> list[_Piece]:
        """Up to ``overlap_tokens`` from the end of ``pieces``: whole pieces, then
        trailing sentences of the piece that does not fit whole (or, when not even one
        of its sentences fits, its last words)."""
        room = self.overlap_tokens
        tail: list[_Piece] = []
        for piece in reversed(pieces):
            if piece.tokens <= room:
                tail.append(piece)
                room -= piece.tokens
                continue
            part = self.last_sentences(piece, room)
            if part is None and not tail:
                part = self.last_words(piece, room)
            if part is not None:
                tail.append(part)
            break
        tail.reverse()
        return tail

    def last_sentences(self, piece: _Piece, room: int) -> _Piece | None:
        """As many trailing sentences of ``piece`` as fit ``room``, counted together: the
        piece's tokens per character say how many to try, fewer while they do not fit."""
        sentences = list(_sentences(piece.text, code=False))
        per_char = piece.tokens / max(len(piece.text), 1)
        estimate = 0.0
        take = 0
        for sentence, _ in reversed(sentences):
            estimate += len(sentence) * per_char
            if estimate > room:
                break
            take += 1
        for n in range(min(max(take, 1), len(sentences) - 1), 0, -1):
            chosen = sentences[-n:]
            text = chosen[0][0] + "".join(joiner + sentence for sentence, joiner in chosen[1:])
            tokens = self.counter.count(text)
            if tokens <= room:
                return _Piece(text, tokens, piece.location, chosen[0][1])
        return None

    def last_words(self, piece: _Piece, room: int) -> _Piece | None:
        words = piece.text.split()
        taken: list[str] = []
        used = 0
        for word in reversed(words):
            tokens = self.counter.count(word)
            if used + tokens > room:
                break
            taken.append(word)
            used += tokens
        if not taken:
            return None
        return _Piece(" ".join(reversed(taken)), used, piece.location, " ")

    # Splitting

    def split(self, text: str, tokens: int, code: bool, location: str | None) -> Iterator[_Piece]:
        """An over-long block as pieces that each fit the budget (the first one starts
        the block, the others continue it)."""
        first = True
        for sentence, joiner in _sentences(text, code=code):
            count = self.counter.count(sentence)
            if count <= self.budget:
                parts = [_Piece(sentence, count, location, joiner)]
            else:
                parts = list(self.split_words(sentence, count, location, joiner))
            for part in parts:
                yield replace(part, joiner="\n") if first else part
                first = False

    def split_words(
        self, sentence: str, tokens: int, location: str | None, joiner: str
    ) -> Iterator[_Piece]:
        words = sentence.split()
        per_word = max(tokens / len(words), 1e-6)
        start = 0
        while start < len(words):
            # Guess how many words fit from the sentence's average, shrink until they do.
            n = max(1, min(len(words) - start, int(self.budget / per_word)))
            while True:
                text = " ".join(words[start : start + n])
                count = self.counter.count(text)
                if count <= self.budget or n == 1:
                    break
                n = max(1, min(n - 1, n * self.budget // count))
            if count <= self.budget:
                yield _Piece(text, count, location, joiner)
            else:
                yield from self.split_characters(text, count, location, joiner)
            joiner = " "
            start += n

    def split_characters(
        self, word: str, tokens: int, location: str | None, joiner: str
    ) -> Iterator[_Piece]:
        start = 0
        while start < len(word):
            n = max(1, min(len(word) - start, len(word) * self.budget // max(tokens, 1)))
            while True:
                text = word[start : start + n]
                count = self.counter.count(text)
                if count <= self.budget or n == 1:
                    break
                n = max(1, min(n - 1, n * self.budget // count))
            yield _Piece(text, count, location, joiner)
            # A space, not "": the parts of a word would otherwise re-merge into other
            # word pieces than were counted.
            joiner = " "
            start += n


def _sentences(text: str, *, code: bool) -> Iterator[tuple[str, str]]:
    """``(sentence, joiner)`` pairs: the joiner is what separated it from the one before
    (code is cut at lines)."""
    if code:
        for line in text.split("\n"):
            if line.strip():
                yield line, "\n"
        return
    joiner = "\n"
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.start() > start:
            yield text[start : match.start()], joiner
            joiner = "\n" if "\n" in match.group() else " "
        start = match.end()
    if start < len(text):
        yield text[start:], joiner


def _span(first: str | None, last: str | None) -> str | None:
    """``first``, or the range from ``first`` to ``last`` for pages, slides and lines."""
    if first is None or last is None or first == last:
        return first
    a, b = _NUMBERED.fullmatch(first), _NUMBERED.fullmatch(last)
    if a and b and a.group(1) == b.group(1):
        return f"{_SPANS[a.group(1)]} {a.group(2)}-{b.group(2)}"
    c, d = _LINES.fullmatch(first), _LINES.fullmatch(last)
    if c and d:
        return f"lines {c.group(1)}-{d.group(2) or d.group(1)}"
    return first
