"""parse(): every format from a file made here with a real library, and every refusal."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest
from pptx.util import Inches
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from workhorse.errors import (
    CorruptDocument,
    DocumentError,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    UnsupportedFileType,
)
from workhorse.knowledge.limits import DocumentLimits
from workhorse.knowledge.parse import Block, parse


def by_text(blocks: list[Block], phrase: str) -> Block:
    """The one block containing ``phrase``."""
    found = [block for block in blocks if phrase in block.text]
    assert len(found) == 1, (phrase, blocks)
    return found[0]


def make_pdf(path: Path, pages: list[list[str]], *, encrypt: str | None = None) -> Path:
    pdf = canvas.Canvas(str(path), pagesize=A4, encrypt=encrypt)
    for lines in pages:
        y = 800
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 40  # far apart: pypdf reads each as its own paragraph
        pdf.showPage()
    pdf.save()
    return path


# PDF


def test_pdf_pages_are_locations(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "r.pdf",
        [["Quarterly report overview."], ["Revenue grew by twelve percent."], ["Outlook."]],
    )
    blocks = parse(path, "report.pdf")
    assert by_text(blocks, "Quarterly report overview.").location == "page 1"
    assert by_text(blocks, "Revenue grew by twelve percent.").location == "page 2"
    assert by_text(blocks, "Outlook.").location == "page 3"


def test_pdf_with_an_owner_password_only_is_read(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", [["Readable by anyone."]])
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    path = tmp_path / "restricted.pdf"
    with path.open("wb") as file:
        writer.write(file)
    assert PdfReader(path).is_encrypted
    assert by_text(parse(path, "restricted.pdf"), "Readable").location == "page 1"


@pytest.mark.parametrize("how", ["reportlab", "pypdf-aes"])
def test_encrypted_pdf(tmp_path: Path, how: str) -> None:
    path = tmp_path / "secret.pdf"
    if how == "reportlab":
        make_pdf(path, [["Top secret."]], encrypt="user-password")
    else:
        plain = make_pdf(tmp_path / "plain.pdf", [["Top secret."]])
        writer = PdfWriter(clone_from=PdfReader(plain))
        writer.encrypt(user_password="pw", owner_password="owner", algorithm="AES-128")
        with path.open("wb") as file:
            writer.write(file)
    with pytest.raises(EncryptedDocument) as caught:
        parse(path, "report.pdf")
    assert caught.value.code == "encrypted_file"
    assert caught.value.status == 422
    assert caught.value.message == "report.pdf is encrypted; upload it without a password"


def test_truncated_pdf_is_corrupt(tmp_path: Path) -> None:
    whole = make_pdf(tmp_path / "whole.pdf", [["Some text."] * 5] * 3).read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(CorruptDocument) as caught:
        parse(path, "cut.pdf")
    assert caught.value.code == "corrupt_file"
    assert caught.value.message.startswith("cut.pdf")
    assert "not a valid PDF file" in caught.value.message or "page" in caught.value.message


def test_pdf_without_a_text_layer_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.rect(100, 100, 300, 400, fill=1)
    pdf.showPage()
    pdf.save()
    with pytest.raises(EmptyDocument) as caught:
        parse(path, "scan.pdf")
    assert caught.value.code == "empty_file"
    assert caught.value.message.startswith("scan.pdf has no text layer (1 page")
    assert "OCR" in caught.value.message


# Office


def test_docx_headings_paragraphs_and_table_rows(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("Preface text before any heading.")
    document.add_heading("Introduction", level=1)
    document.add_paragraph("Workhorse answers questions.")
    document.add_heading("Setup", level=2)
    document.add_paragraph("Install it with pip.")
    table = document.add_table(rows=2, cols=3)
    for row, values in zip(
        table.rows, [("Name", "Port", "Role"), ("api", "8000", "HTTP")], strict=True
    ):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_heading("Usage", level=1)
    document.add_paragraph("Send a request.")
    path = tmp_path / "n.docx"
    document.save(str(path))

    blocks = parse(path, "notes.docx")
    assert by_text(blocks, "Preface").location is None
    heading = by_text(blocks, "Setup")
    assert (heading.kind, heading.level) == ("heading", 2)
    assert by_text(blocks, "Install it").location == "section Introduction > Setup"
    row = by_text(blocks, "api")
    assert row == Block(
        "api | 8000 | HTTP", "table_row", "section Introduction > Setup, table 1, row 2"
    )
    assert by_text(blocks, "Send a request.").location == "section Usage"


def test_docx_that_is_not_a_zip_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "n.docx"
    path.write_text("just some words, not a zip archive")
    with pytest.raises(CorruptDocument) as caught:
        parse(path, "notes.docx")
    assert caught.value.message == (
        "notes.docx is not a valid DOCX file (not a zip archive holding word/document.xml)"
    )


def test_truncated_docx_is_a_bad_zip(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("Hello.")
    buffer = io.BytesIO()
    document.save(buffer)
    path = tmp_path / "n.docx"
    path.write_bytes(buffer.getvalue()[:2000])
    with pytest.raises(CorruptDocument) as caught:
        parse(path, "notes.docx")
    assert caught.value.message == "notes.docx is not a valid DOCX file (bad zip archive)"


def test_encrypted_office_file(tmp_path: Path) -> None:
    # A password-protected DOCX is an OLE2 compound file holding an EncryptedPackage
    # stream; this is the start of one (header, then the directory entry's name).
    path = tmp_path / "locked.docx"
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    path.write_bytes(header + "EncryptedPackage".encode("utf-16-le") + bytes(100))
    with pytest.raises(EncryptedDocument) as caught:
        parse(path, "locked.docx")
    assert caught.value.message.startswith("locked.docx is encrypted")


def test_xlsx_given_a_docx_extension_is_refused(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["a", "b"])  # type: ignore[union-attr]
    path = tmp_path / "x.docx"
    workbook.save(path)
    with pytest.raises(UnsupportedFileType) as caught:
        parse(path, "notes.docx")
    assert "the content is an XLSX workbook" in caught.value.message


def test_pptx_slides_titles_text_and_tables(tmp_path: Path) -> None:
    presentation = pptx.Presentation()
    first = presentation.slides.add_slide(presentation.slide_layouts[1])
    first.shapes.title.text = "Roadmap"  # type: ignore[union-attr]
    first.placeholders[1].text_frame.text = "Ship the knowledge base."  # type: ignore[attr-defined]
    second = presentation.slides.add_slide(presentation.slide_layouts[5])
    second.shapes.title.text = "Budget"  # type: ignore[union-attr]
    shape = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1))
    for r, values in enumerate([("Item", "Cost"), ("GPUs", "40000")]):
        for c, value in enumerate(values):
            shape.table.cell(r, c).text = value
    second.notes_slide.notes_text_frame.text = "Mention the discount."  # type: ignore[union-attr]
    path = tmp_path / "d.pptx"
    presentation.save(str(path))

    blocks = parse(path, "deck.pptx")
    assert by_text(blocks, "Roadmap") == Block("Roadmap", "heading", "slide 1", 1)
    assert by_text(blocks, "Ship the").location == "slide 1"
    assert by_text(blocks, "GPUs") == Block("GPUs | 40000", "table_row", "slide 2, table row 2")
    assert by_text(blocks, "discount").location == "slide 2 notes"


def test_xlsx_rows_with_a_header(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sales = workbook.active
    assert sales is not None
    sales.title = "Sales"
    sales.append(["Region", "Quarter", "Revenue"])
    sales.append(["North", "Q1", 1200.0])
    sales.append([None, None, None])
    sales.append(["South", "Q2", 950.5])
    notes = workbook.create_sheet("Notes")
    notes.append(["Remember the audit"])
    path = tmp_path / "b.xlsx"
    workbook.save(path)

    blocks = parse(path, "book.xlsx")
    assert by_text(blocks, "North") == Block(
        "Region: North | Quarter: Q1 | Revenue: 1200", "table_row", "sheet Sales, row 2"
    )
    assert by_text(blocks, "South").location == "sheet Sales, row 4"
    assert by_text(blocks, "audit") == Block(
        "Remember the audit", "table_row", "sheet Notes, row 1"
    )
    assert Block("Sales", "heading", "sheet Sales", 1) in blocks


# Markup and text


def test_html_drops_scripts_and_navigation(tmp_path: Path) -> None:
    path = tmp_path / "p.html"
    path.write_text(
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<nav><a href='/'>Home</a> menu</nav><script>var secret = 1;</script>"
        "<h1>Guide</h1><p>Intro <b>bold</b> text.</p>"
        "<h2>Install</h2><ul><li>First step</li><li>Second step</li></ul>"
        "<pre>pip install workhorse\n</pre>"
        "<table><tr><th>Key</th><th>Value</th></tr><tr><td>port</td><td>8000</td></tr></table>"
        "</body></html>"
    )
    blocks = parse(path, "page.html")
    texts = " ".join(block.text for block in blocks)
    assert "secret" not in texts
    assert "menu" not in texts
    assert by_text(blocks, "Intro") == Block("Intro bold text.", "paragraph", "section Guide", 0)
    assert by_text(blocks, "First step").text == "- First step"
    assert by_text(blocks, "First step").location == "section Guide > Install"
    assert by_text(blocks, "pip install").kind == "code"
    assert by_text(blocks, "port") == Block("port | 8000", "table_row", "section Guide > Install")


def test_markdown_structure(tmp_path: Path) -> None:
    path = tmp_path / "r.md"
    path.write_text(
        "# Project\n\nSome *emphasis* and a [link](http://x).\n\n"
        "## Lists\n\n- apples\n- pears\n\n1. one\n2. two\n\n"
        "```python\nprint('hi')\n```\n\n"
        "| Col A | Col B |\n|---|---|\n| 1 | 2 |\n"
    )
    blocks = parse(path, "README.md")
    assert by_text(blocks, "emphasis") == Block(
        "Some emphasis and a link.", "paragraph", "section Project"
    )
    assert by_text(blocks, "pears").text == "- pears"
    assert by_text(blocks, "two").text == "2. two"
    code = by_text(blocks, "print")
    assert (code.kind, code.text, code.location) == (
        "code",
        "print('hi')",
        "section Project > Lists",
    )
    assert by_text(blocks, "1 | 2").kind == "table_row"
    assert Block("Col A | Col B", "table_row", "section Project > Lists") in blocks


def test_csv_dialect_and_header(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file, delimiter=";")
        writer.writerows([["name", "city"], ["Ada", "London; UK"], ["Grace", "Arlington"]])
    blocks = parse(path, "people.csv")
    assert blocks == [
        Block("name: Ada | city: London; UK", "table_row", "row 2"),
        Block("name: Grace | city: Arlington", "table_row", "row 3"),
    ]


def test_csv_without_a_header(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("1,2,3\n4,5,6\n")
    assert [b.text for b in parse(path, "n.csv")] == ["1 | 2 | 3", "4 | 5 | 6"]


def test_json_elements_with_paths(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    data = {"items": [{"name": "Ada", "tags": ["math"]}, {"name": "Grace", "addr": {"city": "NY"}}]}
    path.write_text(json.dumps(data))
    assert parse(path, "data.json") == [
        Block("name: Ada\ntags[0]: math", "text", "$.items[0]"),
        Block("name: Grace\naddr.city: NY", "text", "$.items[1]"),
    ]


def test_invalid_json_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('{"a": 1,\n "b" 2}')
    with pytest.raises(CorruptDocument) as caught:
        parse(path, "data.json")
    assert caught.value.message.startswith("data.json is not valid JSON (line 2, column 6:")


def test_python_source_blocks_with_line_ranges(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("import os\n\n\ndef main():\n    return os.getcwd()\n")
    assert parse(path, "main.py") == [
        Block("import os", "code", "line 1"),
        Block("def main():\n    return os.getcwd()", "code", "lines 4-5"),
    ]


def test_plain_text_paragraphs_and_encodings(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffFirst paragraph,\nstill first.\n\nSecond.\n".encode())
    assert parse(path, "t.txt") == [
        Block("First paragraph,\nstill first.", "paragraph", "lines 1-2"),
        Block("Second.", "paragraph", "line 4"),
    ]
    latin = tmp_path / "l.txt"
    latin.write_bytes("Le café est très chaud, déjà servi à la française.\n".encode("cp1252") * 5)
    assert "café" in parse(latin, "latin.txt")[0].text


def test_file_without_extension_is_read_by_content(tmp_path: Path) -> None:
    path = tmp_path / "README"
    path.write_text("Read me.\n")
    assert parse(path, "README") == [Block("Read me.", "paragraph", "line 1")]


# Refusals


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "e.txt"
    path.write_bytes(b"")
    with pytest.raises(EmptyDocument) as caught:
        parse(path, "empty.txt")
    assert caught.value.message == "empty.txt is empty (0 bytes)"
    blank = tmp_path / "b.md"
    blank.write_text("  \n\n\t\n")
    with pytest.raises(EmptyDocument, match=r"^blank\.md contains no text"):
        parse(blank, "blank.md")


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(UnsupportedFileType) as caught:
        parse(path, "a.bin")
    assert caught.value.code == "unsupported_file_type"
    assert caught.value.message.startswith("a.bin: unsupported file type .bin; supported: ")
    assert ".pdf" in caught.value.message
    assert ".py" in caught.value.message


def test_executable_named_as_text(tmp_path: Path) -> None:
    header = bytearray(512)
    header[:2] = b"MZ"
    header[0x3C:0x40] = (128).to_bytes(4, "little")
    header[128:132] = b"PE\x00\x00"
    path = tmp_path / "x.txt"
    path.write_bytes(bytes(header) + os.urandom(1024))
    with pytest.raises(UnsupportedFileType) as caught:
        parse(path, "setup.txt")
    assert "the content is a Windows executable" in caught.value.message


def test_binary_garbage_in_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_bytes(b"hello" + os.urandom(4096))
    with pytest.raises(CorruptDocument) as caught:
        parse(path, "notes.txt")
    assert caught.value.message.startswith("notes.txt is not a valid text file (")


def test_pdf_named_as_text_is_refused(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "r.pdf", [["Hello."]])
    with pytest.raises(UnsupportedFileType) as caught:
        parse(path, "notes.txt")
    assert "the content is a PDF document" in caught.value.message


def test_over_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 100)
    with pytest.raises(DocumentTooLarge) as caught:
        parse(path, "big.txt", limits=DocumentLimits(max_bytes=100))
    assert caught.value.code == "file_too_large"
    assert caught.value.message == "big.txt is 500 bytes, over the limit of 100 bytes"
    assert parse(path, "big.txt", limits=DocumentLimits(max_bytes=500))


def test_document_errors_are_one_subtree() -> None:
    codes = {
        cls.default_code
        for cls in (UnsupportedFileType, EmptyDocument, CorruptDocument, EncryptedDocument)
    }
    assert codes == {"unsupported_file_type", "empty_file", "corrupt_file", "encrypted_file"}
    assert issubclass(DocumentTooLarge, DocumentError)
    assert DocumentError.status == 422
