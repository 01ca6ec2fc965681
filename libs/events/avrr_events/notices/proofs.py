"""A rendered notice checked as a reader sees it: PDF -> text and PNG (poppler-utils).

Tests call ``proof``: the PDF's text (``pdftotext``) must hold what the
notice says, no two words may be printed over each other (a wrapped label
running into the next row: ``pdftotext -bbox``), and each page's picture
(``pdftoppm``) must have ink, none of it within ``EDGE_MM`` of an edge (text
run off the page, a line not wrapped). The PNGs are
kept in ``out_dir`` for a person to look at. Needs the Debian package
poppler-utils (.ci/run installs it) and Pillow (a dependency of fpdf2).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops

from avrr_events.notices.document import Notice, to_pdf

DPI = 72
# The footer (page number) sits in the bottom margin; nothing may come nearer
# an edge than this, where printers cut and scanners crop.
EDGE_MM = 10.0
# Two words whose boxes share more than this part of the smaller one are printed over
# each other; neighbours on a line or on consecutive lines only touch.
OVERLAP = 0.2
_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PageProof:
    """One page's picture and where its ink is, in pixels (left, top, right, bottom)."""

    png: Path
    size: tuple[int, int]
    ink: tuple[int, int, int, int] | None


@dataclass(frozen=True)
class Proof:
    """What a reader of the PDF sees: its text and its pages."""

    pdf: Path
    text: str
    pages: tuple[PageProof, ...]
    words: tuple[tuple[tuple[Box, str], ...], ...] = ()

    def problems(self, notice: Notice) -> list[str]:
        """What is wrong with the rendering: missing text, a blank page, ink beyond the margins."""
        found: list[str] = []
        # The running footer (and page number) interrupts a paragraph that crosses a page.
        lines = [
            line
            for line in self.text.replace("\f", "\n").splitlines()
            if not line.strip().isdigit()
            and not (notice.footer and line.strip().startswith(notice.footer))
        ]
        flat = " ".join(" ".join(lines).split())
        # Rows are two columns, which text extraction interleaves: the rest must read in order.
        paragraphs = [p for section in notice.sections for p in section.paragraphs]
        for expected in [notice.title, *(s.heading for s in notice.sections), *paragraphs]:
            if " ".join(expected.split()) not in flat:
                found.append(f"text missing from the PDF: {expected!r}")
        for number, words in enumerate(self.words, start=1):
            found.extend(f"page {number}: {clash}" for clash in _overprinted(words))
        for page in self.pages:
            if page.ink is None:
                found.append(f"{page.png.name}: blank page")
                continue
            width, height = page.size
            slack = EDGE_MM / 25.4 * DPI
            left, top, right, bottom = page.ink
            if left < slack or top < slack or right > width - slack or bottom > height - slack:
                found.append(f"{page.png.name}: ink {page.ink} beyond the margins of {page.size}")
        return found


def _overprinted(words: tuple[tuple[Box, str], ...]) -> list[str]:
    clashes = []
    for i, (a, a_text) in enumerate(words):
        for b, b_text in words[i + 1 :]:
            width = min(a[2], b[2]) - max(a[0], b[0])
            height = min(a[3], b[3]) - max(a[1], b[1])
            if width <= 0 or height <= 0:
                continue
            smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
            if smaller > 0 and width * height > OVERLAP * smaller:
                clashes.append(f"{a_text!r} printed over {b_text!r}")
    return clashes


def _words(pdf: Path) -> tuple[tuple[tuple[Box, str], ...], ...]:
    """Each page's words with their boxes, as ``pdftotext -bbox`` places them."""
    html = subprocess.run(
        ["pdftotext", "-bbox", "-enc", "UTF-8", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return tuple(
        tuple(
            ((float(m[1]), float(m[2]), float(m[3]), float(m[4])), m[5])
            for m in _WORD.finditer(page)
        )
        for page in html.split("<page ")[1:]
    )


def _ink(png: Path) -> tuple[tuple[int, int], tuple[int, int, int, int] | None]:
    with Image.open(png) as image:
        grey = image.convert("L")
        white = Image.new("L", grey.size, 255)
        box = ImageChops.difference(grey, white).point(lambda v: 255 if v > 40 else 0).getbbox()
        return grey.size, box


def proof(notice: Notice, out_dir: Path | None = None, *, name: str = "notice") -> Proof:
    """Render the notice to PDF, then to text and PNGs (kept in ``out_dir``, else a temp dir)."""
    for tool in ("pdftotext", "pdftoppm"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: install the Debian package poppler-utils")
    folder = out_dir or Path(tempfile.mkdtemp(prefix="notice-proof-"))
    folder.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"{re.escape(name)}-\d+\.png")
    for stale in folder.iterdir():  # pages of an earlier, longer rendering of this name
        if pattern.fullmatch(stale.name):
            stale.unlink()
    pdf = folder / f"{name}.pdf"
    pdf.write_bytes(to_pdf(notice))
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    prefix = folder / name
    subprocess.run(["pdftoppm", "-png", "-r", str(DPI), str(pdf), str(prefix)], check=True)
    pages = []
    for png in sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name)):
        size, ink = _ink(png)
        pages.append(PageProof(png, size, ink))
    return Proof(pdf, text, tuple(pages), _words(pdf))
