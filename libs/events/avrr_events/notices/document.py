"""A notice as data, and its two renderings: HTML for the screen, PDF to print or hand over.

A ``Notice`` holds only text, already in its language: a title, key/value
rows (who, which case, which date) and sections of paragraphs. No markup
goes in, so nothing a person typed (a name) can become HTML or PDF syntax:
``to_html`` escapes every string, ``to_pdf`` lays it out as text.

The PDF embeds DejaVu Sans (``fonts/``, Bitstream Vera licence, shipped in
this package rather than read from the system): a slim image or a fresh
machine has no system fonts, and the PDF core fonts print only Latin-1, so
a name in Cyrillic, Greek or Vietnamese would not print. fpdf2 subsets it,
so a notice is a few tens of kilobytes.

fpdf2 is imported by the first PDF, not with this module: with fontTools and
Pillow it is ~30 MB of every service process's memory (issue 21: < 150 MB per
process), and most processes never draw a PDF. The first PDF of a process pays
the import (~1 s of CPU), in the worker thread that draws it.
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from fpdf import FPDF

FONT_FAMILY = "DejaVuSans"
MARGIN_MM = 20.0


@dataclass(frozen=True)
class Section:
    """A heading, its paragraphs, and optional key/value rows (documents to bring: a list)."""

    heading: str
    paragraphs: tuple[str, ...] = ()
    rows: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Notice:
    """What a person is told, in one language (a BCP 47 tag, e.g. "pt")."""

    language: str
    title: str
    sections: tuple[Section, ...] = ()
    rows: tuple[tuple[str, str], ...] = ()
    footer: str = ""


def _rows_html(rows: tuple[tuple[str, str], ...]) -> list[str]:
    if not rows:
        return []
    lines = ["<dl>"]
    for key, value in rows:
        lines.append(f"<dt>{html.escape(key)}</dt><dd>{html.escape(value)}</dd>")
    lines.append("</dl>")
    return lines


def to_html(notice: Notice) -> str:
    """The notice as a standalone HTML page: every string escaped, ``lang`` for screen readers."""
    esc = html.escape
    lines = [
        "<!DOCTYPE html>",
        f'<html lang="{esc(notice.language, quote=True)}">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{esc(notice.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:42em;margin:2em auto;line-height:1.5}"
        "dt{font-weight:bold}dd{margin:0 0 .5em 0}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(notice.title)}</h1>",
        *_rows_html(notice.rows),
    ]
    for section in notice.sections:
        lines.append("<section>")
        lines.append(f"<h2>{esc(section.heading)}</h2>")
        lines.extend(f"<p>{esc(paragraph)}</p>" for paragraph in section.paragraphs)
        lines.extend(_rows_html(section.rows))
        lines.append("</section>")
    if notice.footer:
        lines.append(f"<footer><p>{esc(notice.footer)}</p></footer>")
    lines += ["</body>", "</html>", ""]
    return "\n".join(lines)


def _font(name: str) -> str:
    return str(Path(str(resources.files("avrr_events.notices") / "fonts" / name)))


@functools.cache
def _notice_pdf() -> type[FPDF]:
    """The notice's page layout, an FPDF subclass, made once fpdf2 is first needed."""
    from fpdf import FPDF

    class NoticePdf(FPDF):
        """A4, 20 mm margins, page numbers in the footer."""

        def __init__(self, footer_text: str) -> None:
            super().__init__(orientation="portrait", unit="mm", format="A4")
            self._footer_text = footer_text
            self.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
            self.set_auto_page_break(auto=True, margin=MARGIN_MM)
            self.add_font(FONT_FAMILY, "", _font("DejaVuSans.ttf"))
            self.add_font(FONT_FAMILY, "B", _font("DejaVuSans-Bold.ttf"))

        def footer(self) -> None:
            self.set_y(-MARGIN_MM + 5)
            self.set_font(FONT_FAMILY, "", 8)
            page = str(self.page_no())
            text = f"{self._footer_text}  ·  {page}" if self._footer_text else page
            self.cell(0, 5, text, align="C")

    return NoticePdf


def _pdf_rows(pdf: FPDF, rows: tuple[tuple[str, str], ...]) -> None:
    from fpdf.enums import MethodReturnValue, XPos, YPos

    key_width = (pdf.w - pdf.l_margin - pdf.r_margin) * 0.35
    for key, value in rows:
        pdf.set_font(FONT_FAMILY, "B", 10)
        # A label that wraps is taller than its value: the row ends below the longer of the two
        # (new_y=TOP leaves the cursor at the row's top, so the label's height is asked first).
        height = cast(  # fpdf2 types every output= choice as one union
            float,
            pdf.multi_cell(key_width, 5.5, key, dry_run=True, output=MethodReturnValue.HEIGHT),
        )
        if pdf.will_page_break(height):
            pdf.add_page()
        key_bottom = pdf.get_y() + height
        pdf.multi_cell(key_width, 5.5, key, new_x=XPos.RIGHT, new_y=YPos.TOP, align="L")
        pdf.set_font(FONT_FAMILY, "", 10)
        pdf.multi_cell(0, 5.5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")
        pdf.set_y(max(pdf.get_y(), key_bottom))
    pdf.ln(2)


def to_pdf(notice: Notice) -> bytes:
    """The notice as a PDF (A4, text selectable, language and title in its metadata)."""
    from fpdf.enums import XPos, YPos

    pdf = _notice_pdf()(notice.footer)
    pdf.set_lang(notice.language)
    pdf.set_title(notice.title)
    pdf.set_creator("AVRR platform")
    pdf.add_page()
    pdf.set_font(FONT_FAMILY, "B", 16)
    pdf.multi_cell(0, 8, notice.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")
    pdf.ln(3)
    _pdf_rows(pdf, notice.rows)
    for section in notice.sections:
        pdf.set_font(FONT_FAMILY, "B", 12)
        pdf.multi_cell(0, 6.5, section.heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")
        pdf.ln(1)
        pdf.set_font(FONT_FAMILY, "", 10.5)
        for paragraph in section.paragraphs:
            pdf.multi_cell(0, 5.5, paragraph, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")
            pdf.ln(2)
        _pdf_rows(pdf, section.rows)
        pdf.ln(2)
    return bytes(pdf.output())
