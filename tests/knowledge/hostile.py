"""Hostile documents, made on demand, for the tests of the document-parsing sandbox.

Each generator writes one file that is valid enough for the real parser to start on it
(python-docx, python-pptx, openpyxl and pypdf open the small ones), and hostile in one way:
a ZIP member or a PDF stream that inflates to far more than the file's size, an entity
expansion, a page tree that loops, nesting a million deep, a 500 MB line. Every function
writes to ``path`` and returns it. They stream: memory stays at a few MiB whatever the
size asked for, and the biggest cases take seconds. They use only the standard library,
so that they do not depend on the parsers they attack.
"""

from __future__ import annotations

import itertools
import random
import string
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

_PIECE = 8 << 20  # bytes written at a time
_OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument."
_OOXML = "http://schemas.openxmlformats.org/"
_W = f'xmlns:w="{_OOXML}wordprocessingml/2006/main"'
_A = f'xmlns:a="{_OOXML}drawingml/2006/main"'
_P = f'{_A} xmlns:r="{_OFFICE}" xmlns:p="{_OOXML}presentationml/2006/main"'
_S = f'xmlns="{_OOXML}spreadsheetml/2006/main" xmlns:r="{_OFFICE}"'
# "lol " repeats at distance 4, which deflate codes with no extra bits: about 800:1.
_LOL = b"lol " * 2048


def _xml(text: str) -> bytes:
    """``text`` as an XML part: the declaration, then UTF-8."""
    return b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + text.encode()


def _content_types(overrides: dict[str, str]) -> bytes:
    """``[Content_Types].xml``: the defaults for .rels and .xml, one override per part."""
    parts = "".join(
        f'<Override PartName="/{name}" ContentType="{_CT}{kind}+xml"/>'
        for name, kind in overrides.items()
    )
    return _xml(
        f'<Types xmlns="{_OOXML}package/2006/content-types"><Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>{parts}</Types>'
    )


def _rels(*relationships: tuple[str, str]) -> bytes:
    """A ``.rels`` part: ``(type, target)`` pairs become rId1, rId2, ..."""
    body = "".join(
        f'<Relationship Id="rId{number}" Type="{_OFFICE}/{kind}" Target="{target}"/>'
        for number, (kind, target) in enumerate(relationships, start=1)
    )
    return _xml(f'<Relationships xmlns="{_OOXML}package/2006/relationships">{body}</Relationships>')


def _package(path: Path, parts: dict[str, bytes], big: str, pieces: Iterable[bytes]) -> Path:
    """A ZIP_DEFLATED package: the small ``parts``, then member ``big`` streamed in pieces."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in parts.items():
            package.writestr(name, data)
        with package.open(big, "w", force_zip64=True) as member:
            for piece in pieces:
                member.write(piece)
    return path


def _exactly(head: bytes, unit: bytes, tail: bytes, size: int, end: bytes) -> Iterator[bytes]:
    """``head``, ``unit`` repeated, ``tail``: ``size`` bytes in all.

    What whole units leave over is filled with the front of ``unit`` cut after its last
    ``end`` (a closing tag, so the document stays well-formed), then spaces.
    """
    room = size - len(head) - len(tail)
    if room < 0:
        raise ValueError(f"{size} bytes cannot hold even the {len(head) + len(tail)}-byte frame")
    yield head
    count, rest = divmod(room, len(unit))
    per_piece = max(1, _PIECE // len(unit))
    piece = unit * per_piece
    for _ in range(count // per_piece):
        yield piece
    yield unit * (count % per_piece)
    found = unit.rfind(end, 0, rest)
    cut = found + len(end) if found >= 0 else 0
    yield unit[:cut] + b" " * (rest - cut) + tail


def _varied_paragraphs(size: int = 1 << 20, seed: int = 1729) -> bytes:
    """About ``size`` bytes of ``<w:p>`` paragraphs that deflate only about 36:1.

    Each paragraph is one of 16 sentences of 30 words plus one word, all drawn from 1,000
    made-up words (fixed seed). The block is made once and repeated: it is longer than
    deflate's 32 KiB window, so each repetition compresses like the first.
    """
    rng = random.Random(seed)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(1000)]
    sentences = [" ".join(rng.choices(words, k=30)) for _ in range(16)]
    paragraphs: list[str] = []
    length = 0
    while length < size:
        text = f"{rng.choice(sentences)} {rng.choice(words)}"
        paragraphs.append(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>")
        length += len(paragraphs[-1])
    return "".join(paragraphs).encode()


def _docx(path: Path, document: Iterable[bytes]) -> Path:
    """A DOCX of the four parts python-docx reads, ``word/document.xml`` from pieces."""
    parts = {
        "[Content_Types].xml": _content_types(
            {"word/document.xml": "wordprocessingml.document.main"}
        ),
        "_rels/.rels": _rels(("officeDocument", "word/document.xml")),
        "word/_rels/document.xml.rels": _rels(),
    }
    return _package(path, parts, "word/document.xml", document)


def docx_bomb(path: Path, inflated_bytes: int, *, ratio_friendly: bool = False) -> Path:
    """A valid DOCX whose ``word/document.xml`` inflates to exactly ``inflated_bytes``.

    Hostile as a ZIP bomb: paragraphs of "lol lol ..." deflate about 800:1, so 900 MiB of
    XML is about 1.2 MB on disk. With ``ratio_friendly`` the paragraphs vary and deflate
    only about 36:1 (900 MiB in 26 MB), under a compression-ratio alarm set at 100:1, say:
    only a limit on the inflated size (or on time, or memory) stops it.
    """
    head = _xml(f"<w:document {_W}><w:body>")
    unit = _varied_paragraphs() if ratio_friendly else b"<w:p><w:r><w:t>%s</w:t></w:r></w:p>" % _LOL
    tail = b"</w:body></w:document>"
    return _docx(path, _exactly(head, unit, tail, inflated_bytes, b"</w:p>"))


def docx_billion_laughs(path: Path) -> Path:
    """A valid DOCX whose ``word/document.xml`` declares the billion laughs and uses them.

    Hostile as entity expansion: ``&lol9;`` is 10**9 "lol"s, 3 GB of text from a 1 KB
    part, for any XML parser that expands internal entities.
    """
    names = ["lol", *(f"lol{n}" for n in range(1, 10))]
    entities = "".join(
        f'<!ENTITY {name} "{f"&{below};" * 10}">\n' for below, name in itertools.pairwise(names)
    )
    document = (
        f'<!DOCTYPE w:document [\n<!ENTITY lol "lol">\n{entities}]>\n<w:document {_W}><w:body>'
        "<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
    )
    return _docx(path, [_xml(document)])


_TREE = (  # opens a shape tree with its group properties; "</p:spTree></p:cSld>" closes it
    '<p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/>'
    "</p:nvGrpSpPr><p:grpSpPr/>"
)
_COLOURS = ("dk1", "lt1", "dk2", "lt2", *(f"accent{n}" for n in range(1, 7)), "hlink", "folHlink")
_FILL = '<a:solidFill><a:schemeClr val="phClr"/></a:solidFill>'
_FONT = '<a:latin typeface="Arial"/><a:ea typeface=""/><a:cs typeface=""/>'
_MAP = " ".join(f'{c}="{c}"' for c in _COLOURS[4:])
# The parts beside the slide: python-pptx reads only the presentation; PowerPoint wants
# the master, its layout and the theme too.
_PPTX = {
    "ppt/presentation.xml": (
        "presentationml.presentation.main",
        f'<p:presentation {_P}><p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/>'
        '</p:sldMasterIdLst><p:sldIdLst><p:sldId id="256" r:id="rId2"/></p:sldIdLst>'
        '<p:sldSz cx="9144000" cy="6858000"/><p:notesSz cx="6858000" cy="9144000"/>'
        "</p:presentation>",
    ),
    "ppt/slideMasters/slideMaster1.xml": (
        "presentationml.slideMaster",
        f'<p:sldMaster {_P}>{_TREE}</p:spTree></p:cSld><p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" '
        f'tx2="dk2" {_MAP}/><p:sldLayoutIdLst><p:sldLayoutId id="2147483649" r:id="rId1"/>'
        "</p:sldLayoutIdLst></p:sldMaster>",
    ),
    "ppt/slideLayouts/slideLayout1.xml": (
        "presentationml.slideLayout",
        f"<p:sldLayout {_P}>{_TREE}</p:spTree></p:cSld></p:sldLayout>",
    ),
    "ppt/theme/theme1.xml": (
        "theme",
        f'<a:theme {_A} name="Hostile"><a:themeElements>'
        '<a:clrScheme name="Hostile">'
        + "".join(f'<a:{c}><a:srgbClr val="000000"/></a:{c}>' for c in _COLOURS)
        + f'</a:clrScheme><a:fontScheme name="Hostile"><a:majorFont>{_FONT}</a:majorFont>'
        f'<a:minorFont>{_FONT}</a:minorFont></a:fontScheme><a:fmtScheme name="Hostile">'
        f"<a:fillStyleLst>{_FILL * 3}</a:fillStyleLst>"
        f"<a:lnStyleLst>{f'<a:ln>{_FILL}</a:ln>' * 3}</a:lnStyleLst><a:effectStyleLst>"
        f"{'<a:effectStyle><a:effectLst/></a:effectStyle>' * 3}</a:effectStyleLst>"
        f"<a:bgFillStyleLst>{_FILL * 3}</a:bgFillStyleLst></a:fmtScheme></a:themeElements>"
        "</a:theme>",
    ),
}


def pptx_bomb(path: Path, inflated_bytes: int) -> Path:
    """A valid PPTX whose ``ppt/slides/slide1.xml`` inflates to exactly ``inflated_bytes``.

    Hostile as a ZIP bomb: one text box of paragraphs of "lol lol ...", about 800:1. The
    package has what PowerPoint expects (master, layout, theme), not only what python-pptx
    reads (the presentation and the slide).
    """
    slide = "ppt/slides/slide1.xml"
    kinds = {name: kind for name, (kind, _) in _PPTX.items()}
    parts = {
        "[Content_Types].xml": _content_types({**kinds, slide: "presentationml.slide"}),
        "_rels/.rels": _rels(("officeDocument", "ppt/presentation.xml")),
        "ppt/_rels/presentation.xml.rels": _rels(
            ("slideMaster", "slideMasters/slideMaster1.xml"),
            ("slide", "slides/slide1.xml"),
            ("theme", "theme/theme1.xml"),
        ),
        "ppt/slideMasters/_rels/slideMaster1.xml.rels": _rels(
            ("slideLayout", "../slideLayouts/slideLayout1.xml"), ("theme", "../theme/theme1.xml")
        ),
        "ppt/slideLayouts/_rels/slideLayout1.xml.rels": _rels(
            ("slideMaster", "../slideMasters/slideMaster1.xml")
        ),
        "ppt/slides/_rels/slide1.xml.rels": _rels(
            ("slideLayout", "../slideLayouts/slideLayout1.xml")
        ),
        **{name: _xml(xml) for name, (_, xml) in _PPTX.items()},
    }
    head = _xml(
        f'<p:sld {_P}>{_TREE}<p:sp><p:nvSpPr><p:cNvPr id="2" name="Text 1"/>'
        '<p:cNvSpPr txBox="1"/><p:nvPr/></p:nvSpPr><p:spPr/><p:txBody><a:bodyPr/><a:lstStyle/>'
    )
    unit = b"<a:p><a:r><a:t>%s</a:t></a:r></a:p>" % _LOL
    tail = b"</p:txBody></p:sp></p:spTree></p:cSld></p:sld>"
    return _package(path, parts, slide, _exactly(head, unit, tail, inflated_bytes, b"</a:p>"))


def _xlsx(path: Path, sheet: Iterable[bytes]) -> Path:
    """An XLSX of the five parts openpyxl reads, ``xl/worksheets/sheet1.xml`` from pieces."""
    parts = {
        "[Content_Types].xml": _content_types(
            {
                "xl/workbook.xml": "spreadsheetml.sheet.main",
                "xl/worksheets/sheet1.xml": "spreadsheetml.worksheet",
            }
        ),
        "_rels/.rels": _rels(("officeDocument", "xl/workbook.xml")),
        "xl/workbook.xml": _xml(
            f'<workbook {_S}><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
            "</workbook>"
        ),
        "xl/_rels/workbook.xml.rels": _rels(("worksheet", "worksheets/sheet1.xml")),
    }
    return _package(path, parts, "xl/worksheets/sheet1.xml", sheet)


def xlsx_bomb(path: Path, inflated_bytes: int) -> Path:
    """A valid XLSX whose ``xl/worksheets/sheet1.xml`` inflates to exactly ``inflated_bytes``.

    Hostile as a ZIP bomb: rows of one 8 KiB inline string ("lol lol ..."), about 800:1;
    the rows carry no ``r`` numbers, which the format allows, so every row is the same.
    """
    head = _xml(f"<worksheet {_S}><sheetData>")
    unit = b'<row><c t="inlineStr"><is><t>%s</t></is></c></row>' % _LOL
    tail = b"</sheetData></worksheet>"
    return _xlsx(path, _exactly(head, unit, tail, inflated_bytes, b"</row>"))


def xlsx_rows(path: Path, rows: int) -> Path:
    """A valid XLSX with one sheet of ``rows`` rows of a number, a string and a number.

    Hostile by count, not by ratio: the rows differ, so the sheet deflates only about 8:1
    (a million rows: 158 MB of XML in a 20 MB file), and a million rows is a million
    blocks for whoever turns rows into blocks.
    """
    row = (
        '<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d" t="inlineStr"><is><t>item %d of the'
        ' ledger</t></is></c><c r="C%d"><v>%d</v></c></row>'
    )

    def sheet() -> Iterator[bytes]:
        yield _xml(f'<worksheet {_S}><dimension ref="A1:C{rows}"/><sheetData>')
        for start in range(1, rows + 1, 20_000):
            numbers = range(start, min(start + 20_000, rows + 1))
            yield "".join(row % (n, n, n, n, n, n, n * 7919 % 100_003) for n in numbers).encode()
        yield b"</sheetData></worksheet>"

    return _xlsx(path, sheet())


def _pdf(path: Path, objects: list[bytes | Iterable[bytes]]) -> Path:
    """A PDF of ``objects`` (numbered from 1, the catalog first), its xref table true."""
    offsets: list[int] = []
    with path.open("wb") as out:
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        for number, body in enumerate(objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number)
            out.writelines([body] if isinstance(body, bytes) else body)
            out.write(b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
        out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return path


_FONT_OBJECT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
_PAGE += b" /Resources << /Font << /F1 5 0 R >> >> >>"


def pdf_flate_bomb(path: Path, inflated_bytes: int) -> Path:
    """A valid one-page PDF whose content stream inflates to exactly ``inflated_bytes``.

    Hostile as a stream bomb: ``/FlateDecode`` of "(lol lol ...) Tj" lines, about 800:1,
    so 1 GiB of text operators is about 1.3 MB on disk. The stream is compressed piece by
    piece, and its ``/Length`` is the indirect object 6, written after it.
    """
    length = [0]

    def stream() -> Iterator[bytes]:
        yield b"<< /Length 6 0 R /Filter /FlateDecode >>\nstream\n"
        deflate = zlib.compressobj(6)
        head = b"BT /F1 12 Tf 14 TL 72 720 Td\n"
        unit = b"(" + _LOL + b") Tj T*\n"
        for piece in _exactly(head, unit, b"\nET\n", inflated_bytes, b"\n"):
            data = deflate.compress(piece)
            length[0] += len(data)
            yield data
        data = deflate.flush()
        length[0] += len(data)
        yield data + b"\nendstream"

    def stream_length() -> Iterator[bytes]:
        yield b"%d" % length[0]

    page_tree = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    return _pdf(path, [_CATALOG, page_tree, _PAGE, stream(), _FONT_OBJECT, stream_length()])


def pdf_page_tree_loop(path: Path) -> Path:
    """A PDF whose page tree loops: the root's second kid is a node whose kid is the root.

    Hostile to a naive page walker, which recurses (or loops) for ever; everything else is
    sound, xref offsets included, and the root's first kid is a real page with text.
    """
    content = b"BT /F1 12 Tf 72 720 Td (page tree loop) Tj ET"
    return _pdf(
        path,
        [
            _CATALOG,
            b"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>",
            _PAGE,
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
            _FONT_OBJECT,
            b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>",
        ],
    )


def _repeat(out: BinaryIO, unit: bytes, count: int) -> None:
    """Write ``unit`` ``count`` times, in pieces of about ``_PIECE`` bytes."""
    per_piece = max(1, _PIECE // len(unit))
    piece = unit * per_piece
    for _ in range(count // per_piece):
        out.write(piece)
    out.write(unit * (count % per_piece))


def html_nested(path: Path, depth: int) -> Path:
    """An HTML page with ``depth`` nested ``<div>``s around one sentence.

    Hostile to recursive tree builders and walkers (recursion limits, stack overflow), and
    to whatever keeps the open-element stack: a million deep is only 11 MB.
    """
    with path.open("wb") as out:
        out.write(b"<!DOCTYPE html><html><body>")
        _repeat(out, b"<div>", depth)
        out.write(b"Deep down.")
        _repeat(out, b"</div>", depth)
        out.write(b"</body></html>\n")
    return path


def csv_single_line(path: Path, size_bytes: int) -> Path:
    """A CSV of exactly ``size_bytes`` that is one line of three-letter fields, no newline.

    Hostile to line-based readers: the first "line" is the whole file (500 MB, say).
    """
    count, rest = divmod(size_bytes, 4)
    with path.open("wb") as out:
        _repeat(out, b"lol,", count)
        out.write(b"lol,"[:rest])
    return path


def json_deep(path: Path, depth: int, *, objects: bool = False) -> Path:
    """A JSON document nested ``depth`` deep: ``[[[...]]]``, or ``{"a":{"a":...0}}``.

    Hostile to recursive parsers (Python's json raises RecursionError near 1,000 deep)
    and to recursive walkers of what they return.
    """
    opener, middle, closer = (b'{"a":', b"0", b"}") if objects else (b"[", b"", b"]")
    with path.open("wb") as out:
        _repeat(out, opener, depth)
        out.write(middle)
        _repeat(out, closer, depth)
    return path
