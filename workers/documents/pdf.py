"""A small PDF writer for text documents (pure: lines in, PDF bytes out).

Superbills and patient statements are text on US-letter pages: headings, label and
value pairs, and tables.  This writes exactly that with the standard Helvetica
fonts (not embedded: every PDF reader has them), ``WinAnsiEncoding`` for the
Latin-1 characters, and one content stream per page -- a valid PDF 1.4 file with
a cross-reference table, deterministic for the same input (no timestamps unless
given).

A :class:`Page` is a list of :class:`Text` items placed in points from the
top-left corner (72 points to the inch); :func:`render` lays out the pages.
Characters outside Latin-1 become ``?``; text never breaks the PDF syntax
(backslashes and parentheses are escaped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

WIDTH: Final = 612  # US letter, points
HEIGHT: Final = 792
FONTS: Final = {"regular": "F1", "bold": "F2"}


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # from the top of the page
    text: str
    size: float = 10
    weight: Literal["regular", "bold"] = "regular"


@dataclass
class Page:
    items: list[Text] = field(default_factory=list)
    rules: list[tuple[float, float, float]] = field(default_factory=list)  # y, x0, x1

    def text(self, x: float, y: float, text: str, size: float = 10, bold: bool = False) -> None:
        self.items.append(Text(x, y, text, size, "bold" if bold else "regular"))

    def rule(self, y: float, x0: float = 54, x1: float = WIDTH - 54) -> None:
        self.rules.append((y, x0, x1))


def _escape(text: str) -> bytes:
    data = text.encode("cp1252", errors="replace")
    return data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _content(page: Page) -> bytes:
    out = [b"0.6 w"]
    for y, x0, x1 in page.rules:
        top = HEIGHT - y
        out.append(f"{x0:.2f} {top:.2f} m {x1:.2f} {top:.2f} l S".encode())
    for item in page.items:
        font = FONTS[item.weight]
        baseline = HEIGHT - item.y
        out.append(
            b"BT /"
            + font.encode()
            + f" {item.size:.2f} Tf {item.x:.2f} {baseline:.2f} Td (".encode()
            + _escape(item.text)
            + b") Tj ET"
        )
    return b"\n".join(out) + b"\n"


def render(pages: Sequence[Page], title: str = "") -> bytes:
    """The PDF file of ``pages`` (at least one)."""
    if not pages:
        raise ValueError("a PDF needs at least one page")
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    pages_obj = add(b"")
    regular = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    bold = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
    )
    info = add(b"<< /Title (" + _escape(title) + b") /Producer (claims-engine) >>")
    kids = []
    for page in pages:
        stream = _content(page)
        content = add(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"endstream")
        kids.append(
            add(
                f"<< /Type /Page /Parent {pages_obj} 0 R /MediaBox [0 0 {WIDTH} {HEIGHT}] "
                f"/Resources << /Font << /F1 {regular} 0 R /F2 {bold} 0 R >> >> "
                f"/Contents {content} 0 R >>".encode()
            )
        )
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {pages_obj} 0 R >>".encode()
    refs = " ".join(f"{k} 0 R" for k in kids)
    objects[pages_obj - 1] = f"<< /Type /Pages /Kids [{refs}] /Count {len(kids)} >>".encode()
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R /Info {info} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)
