"""A cited PDF page as an image, with the cited words highlighted on it.

PDFium (pypdfium2) renders the page and gives each character's box. The citation's quote
comes from pypdf's text of the same page, whose spacing and line breaks may differ from
PDFium's, so the quote is found in PDFium's text by its words: each word of the quote, in
order, within a short gap of the previous one. The boxes of the characters matched are
painted over in translucent yellow. A quote that cannot be found gives the page without a
highlight (and says so), rather than a wrong one.
"""

from __future__ import annotations

import base64
import functools
import io
import re
from dataclasses import dataclass
from pathlib import Path

SCALE = 1.4  # 100 dpi: legible words, about 100-200 KB a page as JPEG
MAX_PIXELS = 2000  # the longest side of the image, however large the page
MAX_GAP = 3  # characters of PDFium text allowed between two matched words (spaces, hyphens)
HIGHLIGHT = (255, 214, 0, 110)


@dataclass(frozen=True)
class PageImage:
    """A rendered page: JPEG bytes, and whether the quote was found and highlighted."""

    jpeg: bytes
    highlighted: bool

    def data_uri(self) -> str:
        """The image as a data: URI for an <img> tag."""
        return "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode("ascii")


def quote_span(page_text: str, quote: str) -> tuple[int, int] | None:
    """(start, end) of quote in page_text, matched word by word across any spacing."""
    quote_words = re.findall(r"\w+", quote)
    if not quote_words:
        return None
    pattern = r"\b" + rf"[\W_]{{0,{MAX_GAP}}}".join(re.escape(w) for w in quote_words) + r"\b"
    found = re.search(pattern, page_text, re.IGNORECASE)
    return (found.start(), found.end()) if found else None


def cited_page_uri(path: Path, page: int, quotes: list[str]) -> tuple[str, bool]:
    """render_cited_page as (data URI, whether highlighted), remembered for the file as it is
    on disk now (its size and mtime): a reopened thread, or a page cited again, is not drawn
    again. OSError when the file is gone."""
    stat = Path(path).stat()
    return _page_uri(str(path), stat.st_size, stat.st_mtime_ns, page, tuple(quotes))


@functools.lru_cache(maxsize=64)  # ~200 KB each
def _page_uri(path: str, size: int, mtime_ns: int, page: int, quotes: tuple[str, ...]) -> tuple[str, bool]:
    shown = render_cited_page(Path(path), page, list(quotes))
    return shown.data_uri(), shown.highlighted


def render_cited_page(path: Path, page: int, quotes: list[str]) -> PageImage:
    """Page `page` (1 = first) of the PDF at path, with the quotes highlighted. OSError or
    ValueError when the file cannot be rendered (gone, changed, not a PDF)."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise ValueError(f"{path} cannot be rendered ({exc})") from exc
    try:
        if not 1 <= page <= len(pdf):
            raise ValueError(f"{path} has no page {page}")
        pdf_page = pdf[page - 1]
        scale = min(SCALE, MAX_PIXELS / max(pdf_page.get_width(), pdf_page.get_height(), 1))
        bitmap = pdf_page.render(scale=scale)
        to_image = bitmap.get_posconv(pdf_page)  # page points -> pixels, crop box and rotation included
        image = bitmap.to_pil().convert("RGBA")
        text_page = pdf_page.get_textpage()
        text = text_page.get_text_range()
        spans = [span for quote in quotes if (span := quote_span(text, quote)) is not None]
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        for start, end in spans:
            for i in range(text_page.count_rects(start, end - start)):
                left, bottom, right, top = text_page.get_rect(i)
                (x1, y1), (x2, y2) = to_image.to_bitmap(left, bottom), to_image.to_bitmap(right, top)
                draw.rectangle([min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)], fill=HIGHLIGHT)
        out = io.BytesIO()
        Image.alpha_composite(image, overlay).convert("RGB").save(out, format="JPEG", quality=80)
        return PageImage(out.getvalue(), bool(spans))
    finally:
        pdf.close()
