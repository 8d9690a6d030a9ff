"""The cheap checks before parsing and the caps per format, each at its edge: a document
just within a limit parses, one just past it fails naming the limit and its setting."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest

from tests.knowledge.hostile import docx_billion_laughs, docx_bomb, xlsx_rows
from tests.knowledge.test_parse import make_pdf
from workhorse.errors import CorruptDocument, DocumentLimitExceeded
from workhorse.knowledge.chunk import WordPieceCounter, chunk
from workhorse.knowledge.guards import check_lines, html_depth
from workhorse.knowledge.limits import DocumentLimits
from workhorse.knowledge.parse import parse
from workhorse.providers.registry import bundled_embedding_model_path

MiB = 1024 * 1024
TOKENIZER = bundled_embedding_model_path() / "tokenizer.json"


def refused(path: Path, filename: str, **limits: float) -> str:
    with pytest.raises(DocumentLimitExceeded) as caught:
        parse(path, filename, limits=DocumentLimits(**limits))  # type: ignore[arg-type]
    assert caught.value.code == "document_limit_exceeded"
    return caught.value.message


def test_a_part_past_the_member_cap_is_refused_and_one_within_it_parses(tmp_path: Path) -> None:
    bomb = docx_bomb(tmp_path / "b.docx", 3 * MiB, ratio_friendly=True)
    assert parse(bomb, "b.docx", limits=DocumentLimits(max_member_bytes=3 * MiB))
    assert refused(bomb, "b.docx", max_member_bytes=3 * MiB - 1) == (
        "b.docx: its part word/document.xml inflates to 3 MiB, over the limit of 3.0 MiB"
        " (WORKHORSE_PARSE_MAX_MEMBER_BYTES)"
    )
    assert "(WORKHORSE_PARSE_MAX_UNZIPPED_BYTES)" in refused(
        bomb, "b.docx", max_unzipped_bytes=3 * MiB
    )


def test_the_compression_ratio_counts_only_for_parts_over_1_mib(tmp_path: Path) -> None:
    small = docx_bomb(tmp_path / "small.docx", MiB // 2)  # ~800:1, but small
    assert parse(small, "small.docx")
    big = docx_bomb(tmp_path / "big.docx", 2 * MiB)
    message = refused(big, "big.docx")
    assert message.startswith("big.docx: its part word/document.xml inflates ")
    assert message.endswith(
        "over the limit of 100 (WORKHORSE_PARSE_MAX_COMPRESSION_RATIO): a zip bomb"
    )
    assert parse(big, "big.docx", limits=DocumentLimits(max_compression_ratio=1000))


def test_a_dtd_in_any_office_xml_part_is_refused_unread(tmp_path: Path) -> None:
    assert refused(docx_billion_laughs(tmp_path / "l.docx"), "l.docx") == (
        "l.docx: its part word/document.xml declares a DOCTYPE or entities, which Office"
        " documents never do (refused unread: entity expansion)"
    )
    # The same in a part no reader would look at first, behind a comment, in UTF-16.
    buffer = io.BytesIO()
    docx.Document().save(buffer)
    path = tmp_path / "hidden.docx"
    with (
        zipfile.ZipFile(buffer) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info, source.read(info))
        prolog = '<?xml version="1.0"?><!-- a -->' + '<!DOCTYPE x [<!ENTITY e SYSTEM "/etc/x">]>'
        target.writestr("customXml/item99.xml", (prolog + "<x>&e;</x>").encode("utf-16"))
    assert "its part customXml/item99.xml declares a DOCTYPE" in refused(path, "hidden.docx")


def test_pages_rows_and_slides_are_counted_against_their_caps(tmp_path: Path) -> None:
    pdf = tmp_path / "r.pdf"
    make_pdf(pdf, [["one"], ["two"], ["three"]])
    assert len(parse(pdf, "r.pdf", limits=DocumentLimits(max_pages=3))) == 3
    assert refused(pdf, "r.pdf", max_pages=2) == (
        "r.pdf has more than 2 pages (limit: WORKHORSE_PARSE_MAX_PAGES)"
    )

    deck = pptx.Presentation()
    for title in ("A", "B", "C"):
        deck.slides.add_slide(deck.slide_layouts[0]).shapes.title.text = title
    deck.save(str(tmp_path / "d.pptx"))
    assert refused(tmp_path / "d.pptx", "d.pptx", max_slides=2) == (
        "d.pptx has more than 2 slides (limit: WORKHORSE_PARSE_MAX_SLIDES)"
    )

    book = xlsx_rows(tmp_path / "t.xlsx", 100)
    assert parse(book, "t.xlsx", limits=DocumentLimits(max_rows=100))
    assert refused(book, "t.xlsx", max_rows=99) == (
        "t.xlsx has more than 99 rows (limit: WORKHORSE_PARSE_MAX_ROWS)"
    )
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for number in range(5):
        sheet.append([f"row {number}", number])
    workbook.save(tmp_path / "five.xlsx")
    assert "more than 4 rows" in refused(tmp_path / "five.xlsx", "five.xlsx", max_rows=4)

    csv = tmp_path / "t.csv"
    csv.write_text("".join(f"{n},value {n}\n" for n in range(10)))
    assert "t.csv has more than 9 rows" in refused(csv, "t.csv", max_rows=9)


def test_characters_are_counted_against_their_cap(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("a" * 600 + "\n\n" + "b" * 400)
    assert parse(path, "t.txt", limits=DocumentLimits(max_chars=1000))
    assert refused(path, "t.txt", max_chars=999) == (
        "t.txt has more than 999 characters of text (limit: WORKHORSE_PARSE_MAX_CHARS)"
    )


def test_line_length_is_checked_across_read_blocks(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    # The long line starts just before a 1 MiB read boundary and ends after it.
    path.write_bytes(b"short\n" * 3 + b"x" * (MiB - 18 - 1) + b"y" * 3000 + b"\nend\n")
    check_lines(path, "t.txt", MiB + 3000)
    with pytest.raises(DocumentLimitExceeded) as caught:
        check_lines(path, "t.txt", MiB)
    assert caught.value.message == (
        "t.txt: line 4 is longer than 1 MiB (limit: WORKHORSE_PARSE_MAX_LINE_BYTES)"
    )
    # JSON and HTML are often one line: they are not held to it.
    one_line = tmp_path / "d.json"
    one_line.write_text(json.dumps({"items": [f"value {n}" for n in range(200_000)]}))
    assert parse(one_line, "d.json", limits=DocumentLimits(max_line_bytes=1024))


def test_html_depth_ignores_elements_html_lets_authors_leave_open() -> None:
    page = "<html><body>" + "<p>text <li>item <br><img src=x>" * 1000 + "</body></html>"
    assert html_depth(page, 256) == 0
    nested = "<div>" * 10 + "<span>" * 5 + "x" + "</span>" * 5 + "</div>" * 10
    assert html_depth(nested, 256) == 15
    scripted = "<script>" + "<div>" * 1000 + "</script><div>x</div>"
    assert html_depth(scripted, 256) == 1


def test_deep_html_and_json_are_refused_and_entities_in_html_too(tmp_path: Path) -> None:
    html = tmp_path / "p.html"
    html.write_text("<html><body>" + "<div>" * 257 + "x" + "</div>" * 257 + "</body></html>")
    assert refused(html, "p.html") == (
        "p.html nests elements more than 256 deep (limit: WORKHORSE_PARSE_MAX_DEPTH)"
    )
    html.write_text("<html><body>" + "<div>" * 256 + "x" + "</div>" * 256 + "</body></html>")
    assert parse(html, "p.html")
    html.write_text('<!DOCTYPE html [<!ENTITY a "aaaa">]><html><body><p>&a;</p></body></html>')
    assert refused(html, "p.html") == (
        "p.html declares entities (<!ENTITY>), which HTML pages never need"
    )

    data = tmp_path / "d.json"
    data.write_text("[" * 257 + "1" + "]" * 257)
    assert refused(data, "d.json") == (
        "d.json: JSON nested more than 256 levels deep (limit: WORKHORSE_PARSE_MAX_DEPTH)"
    )
    data.write_text("[" * 256 + "1" + "]" * 256)
    assert parse(data, "d.json")
    lines = tmp_path / "d.jsonl"
    lines.write_text('{"a": 1}\n' + "[" * 300 + "]" * 300 + "\n")
    assert refused(lines, "d.jsonl").startswith("d.jsonl: line 2: JSON nested more than 256")


def test_the_xml_prolog_check_sees_through_encodings_padding_and_instructions(
    tmp_path: Path,
) -> None:
    doctype = '<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>'
    variants = {
        "utf16": doctype.encode("utf-16-le"),  # no BOM
        "utf32": doctype.encode("utf-32-be"),
        "padded": b" " * 40 + doctype.encode(),
        "instruction": b"<?x <!-- ?>" + doctype.encode(),
        "named": doctype.encode(),  # in a part whose name does not say XML
    }
    for name, part in variants.items():
        buffer = io.BytesIO()
        docx.Document().save(buffer)
        path = tmp_path / f"{name}.docx"
        with (
            zipfile.ZipFile(buffer) as source,
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
        ):
            for info in source.infolist():
                target.writestr(info, source.read(info))
            target.writestr(f"customXml/extra-{name}.bin", part)
        assert "declares a DOCTYPE or entities" in refused(path, f"{name}.docx"), name
    hidden = b"<?pi <a ?>" + b" " * (70 * 1024) + doctype.encode()
    buffer = io.BytesIO()
    docx.Document().save(buffer)
    path = tmp_path / "far.docx"
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("customXml/far.xml", hidden)
    assert "has no root element in its first 64 KiB" in refused(path, "far.docx")


def test_hostile_markup_costs_linear_time() -> None:
    # Quadratic scans would take hours on these; each is a few hundredths of a second.
    for text in ("<a" + " " * 2_000_000, "<!--" + "x" * 2_000_000, "<script></x>" * 200_000):
        assert html_depth(text, 256) <= 1


def test_markdown_may_mention_markup(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(
        "# Generics\n\n" + "A List<String> holds strings. " * 300 + "\n\n"
        "```xml\n<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>\n```\n"
    )
    assert parse(path, "notes.md")


def test_a_lone_surrogate_becomes_a_replacement_character(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('{"a": "smile \\ud83d", "b": "ok"}')
    texts = [block.text for block in parse(path, "d.json")]
    assert "smile \ufffd" in texts[0]


def test_a_zip_directory_pointing_before_the_file_is_corrupt(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    docx.Document().save(buffer)
    data = bytearray(buffer.getvalue())
    end = data.rfind(b"PK\x05\x06")
    offset = int.from_bytes(data[end + 16 : end + 20], "little")
    data[end + 16 : end + 20] = (offset + 100).to_bytes(4, "little")
    path = tmp_path / "shifted.docx"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDocument):
        parse(path, "shifted.docx")


def test_a_huge_heading_is_repeated_short_and_kept_whole_once(tmp_path: Path) -> None:
    path = tmp_path / "h.md"
    title = "A" * 300_000
    path.write_text(f"# {title}\n\n" + "\n\n".join(f"Paragraph {i}." for i in range(500)))
    blocks = parse(path, "h.md")
    assert all(len(block.location or "") < 300 for block in blocks)
    chunks = chunk(blocks, WordPieceCounter(TOKENIZER), max_tokens=256, overlap_tokens=64)
    assert sum(len(c.text) for c in chunks) < 2 * sum(len(b.text) for b in blocks)
    assert sum(title in c.text for c in chunks) == 1
