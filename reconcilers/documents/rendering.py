"""The PDFs attached to a Visma.net document (SPEC S-49), rendered by the operator itself with
reportlab from the work order's Simon data (api/simon.md 5.4).

* `render_work_order_pdf`: the werkbon. Header (number, completed/archived/planned dates,
  reference, technician), customer, work address, description, work performed, hours (S-42),
  travel time (S-43), materials (S-44), every form's answers inline and the signature(s) at
  the end.
* `render_forms_pdf`: every survey (custom form) of the work order in one PDF, a title per
  survey; None when the work order has none (S-49: no surveys, no forms PDF).
* `work_order_filename` / `forms_filename`: `werkbon-<number>.pdf`, `formulieren-<number>.pdf`.
* `merge_pdfs`: Simon's own per-survey renditions as one forms PDF (the `digitalpresentation`
  choice of S-49).

What the customer reads is Dutch; names in the code are English. Only the standard 14 fonts
are used (nothing embedded). A layout pass places text, rules and images on pages, a draw pass
writes them with the canvas API, so every footer can say "pagina k van n" without rendering
twice. Invariant mode: the same input gives the same bytes. Signature and photo answers are
data URIs (`data:image/png;base64,...`); each is decoded once and kept in a small cache that
both PDFs of a work order share; one that cannot be read becomes the text "afbeelding
onleesbaar". DESIGN.md section 6: <= 20 ms per work order (measured by bench/pdf_render.py).
"""

from __future__ import annotations

import base64
import io
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Final
from urllib.parse import unquote_to_bytes
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PIL import Image
from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from reconcilers.clients.simon.models import (
    TRAVEL,
    Customer,
    Location,
    SurveyAnswer,
    TimeSheet,
    UsedItem,
    WorkOrder,
    WorkOrderDetails,
    WorkOrderSurvey,
)
from reconcilers.text import repaired_text

__all__ = [
    "UNREADABLE_IMAGE",
    "forms_filename",
    "merge_pdfs",
    "render_forms_pdf",
    "render_work_order_pdf",
    "work_order_filename",
]

UNREADABLE_IMAGE: Final = "afbeelding onleesbaar"
"""What stands where a signature or photo answer is not a readable image."""

SIGNATURE: Final = "signature"
PHOTO: Final = "photo"
CHECKBOX: Final = "checkbox"
IMAGE_TYPES: Final = frozenset({SIGNATURE, PHOTO})

# Streams as binary rather than ASCII85 text: reportlab's pure-Python ASCII85 encoder was a
# third of the rendering time, and a PDF attachment needs no 7-bit-clean streams. This is a
# process-wide reportlab setting; every PDF reportlab writes stays valid with it.
rl_config.useA85 = 0

try:
    LOCAL_TIME: tzinfo = ZoneInfo("Europe/Amsterdam")
except ZoneInfoNotFoundError:  # no time zone database: show UTC rather than fail
    LOCAL_TIME = UTC

# --- page geometry (points) -------------------------------------------------------------------

PAGE_WIDTH, PAGE_HEIGHT = A4
LEFT: Final = 42.0
RIGHT: Final = PAGE_WIDTH - 42.0
WIDTH: Final = RIGHT - LEFT
TOP: Final = PAGE_HEIGHT - 44.0
BOTTOM: Final = 56.0
FOOTER_Y: Final = 34.0

REGULAR: Final = "Helvetica"
BOLD: Final = "Helvetica-Bold"
BODY: Final = 9.0
LEADING: Final = 11.5
SMALL: Final = 7.5
PAD_X: Final = 3.0
PAD_Y: Final = 2.5
ASCENT: Final = 0.78  # of the font size: baseline below the top of a line

BLACK: Final = 0.0
MUTED: Final = 0.4
RULE_GREY: Final = 0.8
HEADER_FILL: Final = 0.92

PHOTO_BOX: Final = (200.0, 120.0)
SIGNATURE_BOX: Final = (200.0, 70.0)
MAX_IMAGE_SIDE: Final = 1200  # pixels; larger images are scaled down before embedding
PICTURE_CACHE_BYTES: Final = 16 * 1024 * 1024
PAGE_COMPRESSION: Final = 1

ALIGN_LEFT: Final = 0
ALIGN_RIGHT: Final = 1

# --- text: cleaning, widths and wrapping ------------------------------------------------------

_CONTROL = ({c: None for c in range(32) if c not in (9, 10, 13)} | {9: " ", 13: "\n"}
            | dict.fromkeys(range(127, 160)) | {0x85: "\n", 0x2028: "\n", 0x2029: "\n"}
            | dict.fromkeys([0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def _clean(value: object) -> str:
    """Text as it can go on the page: lone surrogates as U+FFFD, no control characters
    (C0, C1, direction overrides), line ends as `\\n`, trimmed."""
    if value is None:
        return ""
    return repaired_text(str(value)).replace("\r\n", "\n").translate(_CONTROL).strip()


def _width_table(font: str) -> dict[str, float]:
    """Glyph widths (in ems) of a standard font, by character, from reportlab's metrics (the
    standard fonts are WinAnsi encoded, which is cp1252)."""
    widths = pdfmetrics.getFont(font).widths
    table: dict[str, float] = {}
    for code in range(32, 256):
        try:
            table[bytes([code]).decode("cp1252")] = widths[code] / 1000
        except UnicodeDecodeError:
            continue
    return table


_WIDTHS: Final = {REGULAR: _width_table(REGULAR), BOLD: _width_table(BOLD)}
_MISSING_GLYPH: Final = 0.75  # characters outside WinAnsi are drawn as a box


def _ems(text: str, font: str) -> float:
    """Width of `text` in ems (font size 1). Short strings (words, cells) come back often and
    are cached; long ones are measured each time, so the cache stays small."""
    if len(text) <= 48:
        return _short_ems(text, font)
    table = _WIDTHS[font]
    return sum(table.get(c, _MISSING_GLYPH) for c in text)


@lru_cache(maxsize=8192)
def _short_ems(text: str, font: str) -> float:
    table = _WIDTHS[font]
    return sum(table.get(c, _MISSING_GLYPH) for c in text)


def _text_width(text: str, font: str, size: float) -> float:
    return _ems(text, font) * size


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy line breaking at spaces; explicit line ends kept; a word wider than the line is
    broken between characters."""
    limit = width / size
    if "\n" not in text and _ems(text, font) <= limit:
        return [text]
    table = _WIDTHS[font]
    space = table[" "]
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words: list[str] = []
        used = 0.0
        for word in paragraph.split():
            w = _ems(word, font)
            if words and used + space + w <= limit:
                words.append(word)
                used += space + w
                continue
            if words:
                lines.append(" ".join(words))
            while w > limit and len(word) > 1:
                cut, part = 0, 0.0
                while cut < len(word) - 1:
                    glyph = table.get(word[cut], _MISSING_GLYPH)
                    if cut and part + glyph > limit:
                        break
                    part += glyph
                    cut += 1
                lines.append(word[:cut])
                word = word[cut:]
                w -= part
            words, used = [word], w
        lines.append(" ".join(words))
    return lines


# --- values as the customer reads them --------------------------------------------------------

_SWAP_SEPARATORS = str.maketrans({",": ".", ".": ","})


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    try:
        number = Decimal(str(value).strip().replace(",", ".")) if isinstance(value, str) \
            else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _number(value: Decimal, places: int | None = None) -> str:
    """Dutch notation: 1234.5 -> "1.234,5"; `places` fixes the decimals."""
    if places is None:
        value = value.normalize()
        if value == value.to_integral_value():
            value = value.quantize(Decimal(1))
        text = f"{value:,f}"
    else:
        text = f"{value:,.{places}f}"
    return text.translate(_SWAP_SEPARATORS)


def _money(value: Decimal) -> str:
    """A unit price: two decimals, or more when the price has more (0.125 -> "0,125")."""
    exponent = value.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) and exponent < 0 else 2
    return f"€ {_number(value, places)}"


def _hours(minutes: int) -> str:
    """Minutes as h:mm (90 -> "1:30")."""
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours}:{rest:02d}"


def _decimal_hours(minutes: int) -> str:
    """Minutes as hours with two decimals, as booked (S-42, S-43): 210 -> "3,50"."""
    return _number((Decimal(minutes) / 60).quantize(Decimal("0.01"), ROUND_HALF_UP), 2)


def _date(value: date | None) -> str:
    return value.strftime("%d-%m-%Y") if value is not None else ""


def _moment(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(LOCAL_TIME)
    return value.strftime("%d-%m-%Y %H:%M")


def _clock(value: time | None) -> str:
    return value.strftime("%H:%M") if value is not None else ""


_TRUE_WORDS = frozenset({"true", "1", "ja", "yes", "on", "waar", "x"})


def _checked(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_WORDS
    return False


def _answer_text(answer: SurveyAnswer) -> str:
    """An answer that is not an image: checkboxes as Ja/Nee, numbers and dates Dutch."""
    kind = (answer.type or "").lower()
    value = answer.answer
    if kind == CHECKBOX:
        return "Ja" if _checked(value) else "Nee"
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "Ja" if value else "Nee"
    if isinstance(value, int | float | Decimal) or kind == "number":
        number = _decimal(value)
        if number is not None:
            return _number(number)
    if kind == "date" and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return _clean(value)
        if len(value.strip()) <= 10:
            return _date(moment.date())
        return _moment(moment)
    return _clean(value)


def _address(street: str | None, house_number: str | None, address2: str | None,
             postal_code: str | None, city: str | None, country: str | None) -> list[str]:
    lines = [" ".join(p for p in (_clean(street), _clean(house_number)) if p), _clean(address2),
             "  ".join(p for p in (_clean(postal_code), _clean(city)) if p)]
    land = _clean(country)
    if land and land.upper() not in ("NL", "NLD", "NEDERLAND"):
        lines.append(land)
    return [line for line in lines if line]


def _customer_lines(customer: Customer | None) -> list[str]:
    if customer is None:
        return ["Geen klant"]
    lines = [_clean(customer.name) or "Naamloze klant"]
    if customer.number:
        lines.append(f"Klantnummer {_clean(customer.number)}")
    lines += _address(customer.street, customer.house_number, customer.address2,
                      customer.postal_code, customer.city, customer.country)
    return lines


def _location_lines(location: Location | None) -> list[str]:
    if location is None:
        return ["Geen werkadres"]
    lines = [_clean(location.name)] if location.name else []
    lines += _address(location.street, location.house_number, location.address2,
                      location.postal_code, location.city, location.country)
    return lines or ["Geen werkadres"]


def _one_line_address(location: Location | None) -> str:
    """"Name, Kerkstraat 12 A, 1011 AB  Amsterdam" for the forms PDF's header."""
    if location is None:
        return ""
    parts = [_clean(location.name), *_address(location.street, location.house_number, None,
                                                location.postal_code, location.city, None)]
    return ", ".join(dict.fromkeys(p for p in parts if p))


def _order_number(order: WorkOrder) -> str:
    if order.number:
        return _clean(order.number)
    return str(order.id) if order.id is not None else ""


# --- images from data URIs --------------------------------------------------------------------


@dataclass(frozen=True)
class _Picture:
    """A decoded image ready for reportlab (its pixel data already extracted)."""

    reader: ImageReader
    width: int
    height: int
    cost: int  # bytes it holds

    def fit(self, box: tuple[float, float]) -> tuple[float, float]:
        scale = min(box[0] / self.width, box[1] / self.height)
        return self.width * scale, self.height * scale


def _decode_picture(uri: str) -> _Picture | None:
    """A `data:image/...` URI as a picture; None when it is not one or cannot be read."""
    head, comma, payload = uri.strip().partition(",")
    if not comma or not head.lower().startswith("data:image/"):
        return None
    try:
        if head.lower().endswith(";base64"):
            raw = base64.b64decode("".join(payload.split()), validate=True)
        else:
            raw = unquote_to_bytes(payload)
        image: Image.Image = Image.open(io.BytesIO(raw))
        if image.format == "JPEG":  # decode a large photo at a fraction of its size
            image.draft("RGB" if image.mode not in ("L", "RGB") else image.mode,
                        (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
        image.load()
        if image.mode not in ("L", "RGB", "RGBA", "LA", "CMYK"):
            transparent = "transparency" in image.info or image.mode in ("PA", "La")
            image = image.convert("RGBA" if transparent else
                                  "L" if image.mode == "1" else "RGB")
        if max(image.size) > MAX_IMAGE_SIDE:
            image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
        width, height = image.size
        if not width or not height:
            return None
        reader = ImageReader(image)
        reader.getRGBData()  # decode once, here: a broken image fails now, not mid-page
    except Exception:  # any undecodable payload is a placeholder, never a failed document
        return None
    return _Picture(reader, width, height, width * height * len(image.getbands()) + len(uri))


class _PictureCache:
    """Decoded data URIs by URI (unreadable ones too), least recently used dropped beyond a
    byte budget, so the work order PDF and the forms PDF of one work order decode each image
    once. Thread-safe; a picture is only read once it is in here."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._used = 0
        self._entries: OrderedDict[str, tuple[_Picture | None, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, uri: str) -> _Picture | None:
        with self._lock:
            entry = self._entries.get(uri)
            if entry is not None:
                self._entries.move_to_end(uri)
                return entry[0]
        picture = _decode_picture(uri)
        cost = picture.cost if picture is not None else len(uri)
        if cost > self.budget:
            return picture
        with self._lock:
            if uri not in self._entries:
                self._entries[uri] = (picture, cost)
                self._used += cost
                while self._used > self.budget:
                    _, (_, dropped) = self._entries.popitem(last=False)
                    self._used -= dropped
        return picture

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._used = 0


_pictures = _PictureCache(PICTURE_CACHE_BYTES)


def _image_answer(answer: SurveyAnswer) -> _Picture | str:
    """The picture of a signature or photo answer, else the text that stands in for it."""
    value = answer.answer
    if value is None or value == "":
        return "niet ingevuld"
    if not isinstance(value, str):
        return UNREADABLE_IMAGE
    return _pictures.get(value) or UNREADABLE_IMAGE


# --- layout: pages of drawing operations ------------------------------------------------------

_TEXT, _RULE, _FILL, _IMAGE = range(4)
_Op = tuple[Any, ...]


@dataclass(frozen=True)
class _Column:
    x: float
    width: float
    align: int = ALIGN_LEFT


def _columns(widths: Sequence[float | None], aligns: Sequence[int] = ()) -> list[_Column]:
    """Columns across the page; the one width given as None takes what the others leave."""
    fixed = sum(w for w in widths if w is not None)
    flexible = WIDTH - fixed
    columns, x = [], LEFT
    for i, w in enumerate(widths):
        width = flexible if w is None else w
        columns.append(_Column(x, width, aligns[i] if i < len(aligns) else ALIGN_LEFT))
        x += width
    return columns


class _Layout:
    """Places text, rules and images top-down on A4 pages; `y` is the top of the free space.
    Nothing is drawn yet: `_draw` writes the pages once their number is known."""

    def __init__(self, running_title: str) -> None:
        self.running_title = running_title
        self.pages: list[list[_Op]] = [[]]
        self.y = TOP
        self.fresh = True  # nothing on this page yet but running headers

    # primitives

    def text(self, x: float, baseline: float, text: str, font: str = REGULAR,
             size: float = BODY, align: int = ALIGN_LEFT, grey: float = BLACK) -> None:
        if text:
            self.pages[-1].append((_TEXT, font, size, x, baseline, text, align, grey))
            self.fresh = False

    def rule(self, x1: float, y: float, x2: float, width: float = 0.4,
             grey: float = RULE_GREY) -> None:
        self.pages[-1].append((_RULE, x1, y, x2, y, width, grey))

    def fill(self, x: float, y: float, width: float, height: float, grey: float) -> None:
        self.pages[-1].append((_FILL, x, y, width, height, grey))

    def image(self, picture: _Picture, x: float, top: float,
              box: tuple[float, float]) -> float:
        """Places `picture` scaled into `box` with its top-left at (x, top); its height."""
        width, height = picture.fit(box)
        self.pages[-1].append((_IMAGE, picture.reader, x, top - height, width, height))
        self.fresh = False
        return height

    def new_page(self) -> None:
        self.pages.append([])
        self.y = TOP
        self.text(LEFT, self.y - SMALL, f"{self.running_title} (vervolg)", REGULAR, SMALL,
                  grey=MUTED)
        self.y -= SMALL + 14
        self.fresh = True

    def room(self, height: float) -> None:
        """A new page unless `height` fits below `y`."""
        if self.y - height < BOTTOM and not self.fresh:
            self.new_page()

    def gap(self, height: float) -> None:
        self.y -= height

    # blocks

    def lines(self, lines: Sequence[str], x: float = LEFT, font: str = REGULAR,
              size: float = BODY, leading: float = LEADING, grey: float = BLACK) -> None:
        """Lines of text, flowing over page ends."""
        for line in lines:
            self.room(leading)
            self.text(x, self.y - ASCENT * size - (leading - size) / 2, line, font, size,
                      grey=grey)
            self.y -= leading

    def paragraph(self, text: str, x: float = LEFT, width: float = WIDTH,
                  font: str = REGULAR, size: float = BODY) -> None:
        self.lines(_wrap(text, font, size, width), x, font, size)

    def heading(self, label: str, size: float = 11.0, after: float = LEADING * 2) -> None:
        """A section heading with a rule, kept together with what follows (`after`)."""
        self.gap(10)
        self.room(size + 6 + after)
        self.text(LEFT, self.y - ASCENT * size, label, BOLD, size)
        self.y -= size + 3
        self.rule(LEFT, self.y, RIGHT, 0.6, 0.55)
        self.y -= 5

    def row(self, columns: Sequence[_Column], cells: Sequence[str], font: str = REGULAR,
            size: float = BODY, header: Callable[[], None] | None = None,
            separator: bool = True) -> None:
        """One table row, its cells wrapped to their columns; a row that does not fit goes to
        the next page (after `header`), one taller than a page is split."""
        wrapped = [_wrap(cell, font, size, column.width - 2 * PAD_X) if cell else []
                   for column, cell in zip(columns, cells, strict=False)]
        total = max([1, *(len(lines) for lines in wrapped)])
        start = 0
        while start < total:
            fit = int((self.y - BOTTOM - 2 * PAD_Y) // LEADING)
            rest = total - start
            if rest > fit and not self.fresh:
                self.new_page()
                if header is not None:
                    header()
                    self.fresh = True
                continue
            take = min(rest, max(fit, 1))
            top = self.y - PAD_Y - ASCENT * size - (LEADING - size) / 2
            for column, lines in zip(columns, wrapped, strict=False):
                x = column.x + column.width - PAD_X if column.align == ALIGN_RIGHT \
                    else column.x + PAD_X
                for i in range(start, min(start + take, len(lines))):
                    self.text(x, top - (i - start) * LEADING, lines[i], font, size,
                              column.align)
            self.fresh = False
            self.y -= take * LEADING + 2 * PAD_Y
            if separator:
                self.rule(LEFT, self.y, RIGHT, 0.3)
            start += take

    def table(self, columns: Sequence[_Column], titles: Sequence[str],
              rows: Iterable[Sequence[str]], total: Sequence[str] | None = None) -> None:
        """A header row (repeated on every page the table continues on), rows, a total."""

        def header() -> None:
            height = SMALL + 2 * PAD_Y + 3
            self.fill(LEFT, self.y - height, WIDTH, height, HEADER_FILL)
            baseline = self.y - PAD_Y - ASCENT * SMALL - 1.5
            for column, title in zip(columns, titles, strict=False):
                x = column.x + column.width - PAD_X if column.align == ALIGN_RIGHT \
                    else column.x + PAD_X
                self.text(x, baseline, title, BOLD, SMALL, column.align, grey=0.2)
            self.y -= height

        self.room(SMALL + 2 * PAD_Y + 3 + LEADING + 2 * PAD_Y)
        header()
        for cells in rows:
            self.row(columns, cells, header=header)
        if total is not None:
            self.row(columns, total, font=BOLD, header=header, separator=False)


# --- drawing ------------------------------------------------------------------------------------


def _draw(layout: _Layout, *, title: str, subject: str, author: str, footer: str) -> bytes:
    """Writes the laid-out pages: per page the fills, rules and images first, then all text
    in one text object (text stays on top; fewer operators than a text object per string)."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=PAGE_COMPRESSION)
    canvas.setTitle(title)
    canvas.setSubject(subject)
    canvas.setCreator("simon-visma")
    if author:
        canvas.setAuthor(author)
    count = len(layout.pages)
    for number, ops in enumerate(layout.pages, 1):
        texts = [op for op in ops if op[0] == _TEXT]
        texts.append((_TEXT, REGULAR, SMALL, LEFT, FOOTER_Y, footer, ALIGN_LEFT, MUTED))
        texts.append((_TEXT, REGULAR, SMALL, RIGHT, FOOTER_Y, f"pagina {number} van {count}",
                      ALIGN_RIGHT, MUTED))
        stroke: tuple[float, float] | None = None
        fill: float | None = None
        for op in ops:
            kind = op[0]
            if kind == _RULE:
                _, x1, y1, x2, y2, width, grey = op
                if stroke != (width, grey):
                    canvas.setLineWidth(width)
                    canvas.setStrokeGray(grey)
                    stroke = (width, grey)
                canvas.line(x1, y1, x2, y2)
            elif kind == _FILL:
                _, x, y, width, height, grey = op
                if fill != grey:
                    canvas.setFillGray(grey)
                    fill = grey
                canvas.rect(x, y, width, height, stroke=0, fill=1)
            elif kind == _IMAGE:
                _, reader, x, y, width, height = op
                canvas.drawImage(reader, x, y, width, height, mask="auto")
        canvas.setLineWidth(0.4)
        canvas.setStrokeGray(RULE_GREY)
        canvas.line(LEFT, FOOTER_Y + 10, RIGHT, FOOTER_Y + 10)
        text = canvas.beginText()
        font: tuple[str, float] | None = None
        fill = None
        for _, name, size, x, y, string, align, grey in texts:
            if font != (name, size):
                text.setFont(name, size)
                font = (name, size)
            if fill != grey:
                text.setFillGray(grey)
                fill = grey
            if align == ALIGN_RIGHT:
                x -= _text_width(string, name, size)
            text.setTextOrigin(x, y)
            text.textLine(string)  # unlike textOut, does not measure the string again
        canvas.drawText(text)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- the parts of the documents -----------------------------------------------------------------


def _title(layout: _Layout, title: str, company: str | None) -> None:
    layout.text(LEFT, layout.y - ASCENT * 18, title, BOLD, 18)
    if company:
        layout.text(RIGHT, layout.y - ASCENT * 18, _clean(company), BOLD, 11, ALIGN_RIGHT)
    layout.y -= 18 + 10


def _facts(layout: _Layout, facts: Iterable[tuple[str, str]]) -> None:
    """Label/value pairs under the title, the empty ones left out."""
    columns = _columns((90, None))
    for label, value in facts:
        if value:
            lines = _wrap(value, REGULAR, BODY, columns[1].width - PAD_X)
            layout.room(LEADING * len(lines))
            baseline = layout.y - ASCENT * BODY - (LEADING - BODY) / 2
            layout.text(LEFT, baseline, label, BOLD)
            layout.lines(lines, columns[1].x)


def _parties(layout: _Layout, customer: Customer | None, location: Location | None) -> None:
    """Customer (Klant) and work address (Werkadres) side by side."""
    half = WIDTH / 2
    blocks = [(LEFT, "Klant", _customer_lines(customer)),
              (LEFT + half, "Werkadres", _location_lines(location))]
    wrapped = [(x, label, [part for line in lines for part in _wrap(line, REGULAR, BODY,
                                                                      half - 12)])
               for x, label, lines in blocks]
    height = 11 + 6 + LEADING * max(len(lines) for _, _, lines in wrapped)
    layout.gap(12)
    layout.room(height)
    top = layout.y
    for x, label, lines in wrapped:
        layout.text(x, top - ASCENT * 10, label, BOLD, 10)
        layout.rule(x, top - 13, x + half - 12, 0.6, 0.55)
        for i, line in enumerate(lines):
            layout.text(x, top - 17 - ASCENT * BODY - i * LEADING, line,
                        BOLD if i == 0 and line not in ("Geen klant", "Geen werkadres")
                        else REGULAR)
    layout.y = top - height


def _text_section(layout: _Layout, label: str, text: str | None) -> None:
    body = _clean(text)
    if body:
        layout.heading(label)
        layout.paragraph(body)


def _time_section(layout: _Layout, label: str, sheets: Sequence[TimeSheet],
                  names: Mapping[int, str]) -> None:
    """Hours (S-42) or travel time (S-43): one row per time sheet, minutes as h:mm, and the
    total as h:mm and as the decimal hours that are booked."""
    if not sheets:
        return
    layout.heading(label)
    columns = _columns((62, 118, 72, 42, 46, None),
                       (ALIGN_LEFT, ALIGN_LEFT, ALIGN_LEFT, ALIGN_RIGHT, ALIGN_RIGHT))
    ordered = sorted(sheets, key=lambda s: (s.date is None, s.date or date.min,
                                            s.start is None, s.start or time.min, s.id or 0))
    rows = []
    for sheet in ordered:
        span = f"{_clock(sheet.start)}–{_clock(sheet.end)}" if sheet.start or sheet.end else ""
        rows.append([
            _date(sheet.date),
            names.get(sheet.user_id, "") if sheet.user_id is not None else "",
            span,
            _hours(sheet.break_minutes) if sheet.break_minutes else "",
            _hours(sheet.minutes) if sheet.minutes is not None else "-",
            _clean(sheet.remark),
        ])
    minutes = sum(s.minutes or 0 for s in sheets)
    layout.table(columns, ("Datum", "Medewerker", "Tijd", "Pauze", "Uren", "Opmerking"), rows,
                 total=("Totaal", "", "", "", _hours(minutes),
                        f"{_decimal_hours(minutes)} uur"))


def _items_section(layout: _Layout, items: Sequence[UsedItem]) -> None:
    """Materials (S-44): code, description, quantity, unit and the unit price when set."""
    if not items:
        return
    layout.heading("Materialen")
    priced = any(item.price is not None for item in items)
    widths: tuple[float | None, ...] = (78, None, 52, 52) + ((72,) if priced else ())
    columns = _columns(widths, (ALIGN_LEFT, ALIGN_LEFT, ALIGN_RIGHT, ALIGN_LEFT, ALIGN_RIGHT))
    titles = ("Code", "Omschrijving", "Aantal", "Eenheid") + (("Prijs p/e",) if priced else ())
    rows = []
    for item in items:
        quantity = _decimal(item.quantity)
        price = _decimal(item.price)
        cells = [_clean(item.code), _clean(item.description),
                 _number(quantity) if quantity is not None else "", _clean(item.unit)]
        if priced:
            cells.append(_money(price) if price is not None else "")
        rows.append(cells)
    layout.table(columns, titles, rows)


def _answers(layout: _Layout, answers: Sequence[SurveyAnswer],
             skip: frozenset[str] = frozenset()) -> None:
    """Question and answer side by side; images under each other in the answer column."""
    columns = _columns((190, None))
    for answer in answers:
        kind = (answer.type or "").lower()
        if kind in skip:
            continue
        question = _clean(answer.question) or _clean(answer.question_id)
        shown = _image_answer(answer) if kind in IMAGE_TYPES else _answer_text(answer)
        if isinstance(shown, str):
            layout.row(columns, (question, shown))
            continue
        box = SIGNATURE_BOX if kind == SIGNATURE else PHOTO_BOX
        box = (min(box[0], columns[1].width - 2 * PAD_X), box[1])
        lines = _wrap(question, REGULAR, BODY, columns[0].width - 2 * PAD_X)
        height = max(len(lines) * LEADING, shown.fit(box)[1]) + 2 * PAD_Y
        layout.room(height)
        top = layout.y
        for i, line in enumerate(lines):
            layout.text(columns[0].x + PAD_X,
                        top - PAD_Y - ASCENT * BODY - (LEADING - BODY) / 2 - i * LEADING, line)
        layout.image(shown, columns[1].x + PAD_X, top - PAD_Y, box)
        layout.y = top - height
        layout.rule(LEFT, layout.y, RIGHT, 0.3)


def _survey_title(layout: _Layout, survey: WorkOrderSurvey, size: float) -> None:
    name = _clean(survey.survey_name) or "Formulier"
    completed = _moment(survey.completed_at)
    layout.gap(8)
    layout.room(size + LEADING * 3)
    layout.text(LEFT, layout.y - ASCENT * size, name, BOLD, size)
    if completed:
        layout.text(RIGHT, layout.y - ASCENT * size, f"Ingevuld {completed}", REGULAR,
                    SMALL + 0.5, ALIGN_RIGHT, MUTED)
    layout.y -= size + 4


def _signatures(layout: _Layout, signatures: Sequence[tuple[WorkOrderSurvey, SurveyAnswer]],
                name_surveys: bool) -> None:
    """The signatures at the end, two side by side, each on a line with its caption."""
    if not signatures:
        return
    layout.heading("Handtekening", after=SIGNATURE_BOX[1] + 30)
    half = WIDTH / 2
    for start in range(0, len(signatures), 2):
        pair = signatures[start:start + 2]
        height = SIGNATURE_BOX[1] + 8 + LEADING * 2
        layout.gap(6)
        layout.room(height)
        top = layout.y
        for i, (survey, answer) in enumerate(pair):
            x = LEFT + i * half
            shown = _image_answer(answer)
            line_y = top - SIGNATURE_BOX[1] - 4
            if isinstance(shown, str):
                layout.text(x, line_y + 6, shown, REGULAR, BODY, grey=MUTED)
            else:
                drawn = shown.fit(SIGNATURE_BOX)[1]
                layout.image(shown, x, line_y + 2 + drawn, SIGNATURE_BOX)
            layout.rule(x, line_y, x + SIGNATURE_BOX[0], 0.6, 0.3)
            caption = _clean(answer.question) or "Handtekening"
            if name_surveys and survey.survey_name:
                caption = f"{caption} ({_clean(survey.survey_name)})"
            for j, line in enumerate(_wrap(caption, REGULAR, SMALL + 0.5, half - 12)[:2]):
                layout.text(x, line_y - 10 - j * 9, line, REGULAR, SMALL + 0.5, grey=MUTED)
        layout.y = top - height


def _user_names(details: WorkOrderDetails, users: Mapping[int, str] | None) -> dict[int, str]:
    names = {key: _clean(name) for key, name in (users or {}).items() if name}
    if details.user is not None and details.user.id is not None and details.user.name:
        names.setdefault(details.user.id, _clean(details.user.name))
    return names


# --- the public functions -----------------------------------------------------------------------


def render_work_order_pdf(details: WorkOrderDetails, *, company: str | None = None,
                          users: Mapping[int, str] | None = None) -> bytes:
    """The work order PDF (S-49): header, customer, work address, reference, description,
    work performed, hours (S-42), travel time (S-43), materials (S-44), the answers of every
    form and the signatures at the end. `company` is the issuer shown in the header; `users`
    names Simon users by Id for the time sheets (else only the work order's user is named).
    Missing pieces are left out or named as missing; it never fails on the data."""
    order = details.work_order
    number = _order_number(order)
    title = f"Werkbon {number}".strip()
    layout = _Layout(title)
    _title(layout, title, company)
    _facts(layout, (
        ("Gereed", _moment(order.completed_at)),
        ("Gearchiveerd", _moment(order.archived_at)),
        ("Gepland", _date(order.planned_date)),
        ("Referentie", _clean(order.reference)),
        ("Monteur", _clean(details.user.name) if details.user is not None else ""),
    ))
    _parties(layout, details.customer, details.location)
    _text_section(layout, "Omschrijving", order.description)
    _text_section(layout, "Uitgevoerde werkzaamheden", order.work_performed)
    names = _user_names(details, users)
    _time_section(layout, "Uren", [s for s in details.time_sheets if s.kind != TRAVEL], names)
    _time_section(layout, "Reistijd", [s for s in details.time_sheets if s.kind == TRAVEL],
                  names)
    _items_section(layout, details.used_items)
    signatures: list[tuple[WorkOrderSurvey, SurveyAnswer]] = []
    if details.surveys:
        layout.heading("Formulieren")
        for survey in details.surveys:
            _survey_title(layout, survey, 10)
            _answers(layout, survey.answers, skip=frozenset({SIGNATURE}))
            signatures += [(survey, a) for a in survey.answers
                           if (a.type or "").lower() == SIGNATURE]
    _signatures(layout, signatures, name_surveys=len(details.surveys) > 1)
    footer = " · ".join(p for p in (title, _clean(company)) if p)
    return _draw(layout, title=title, subject="Werkbon", author=_clean(company), footer=footer)


def render_forms_pdf(details: WorkOrderDetails, *, company: str | None = None) -> bytes | None:
    """The custom forms PDF (S-49): every survey of the work order, each under its
    SurveyName with its answers, photos and signatures as images. None when the work order
    has no surveys (no surveys, no forms PDF)."""
    if not details.surveys:
        return None
    order = details.work_order
    number = _order_number(order)
    title = f"Formulieren werkbon {number}".strip()
    layout = _Layout(title)
    _title(layout, title, company)
    customer = details.customer
    _facts(layout, (
        ("Klant", _clean(customer.name) if customer is not None else ""),
        ("Werkadres", _one_line_address(details.location)),
        ("Referentie", _clean(order.reference)),
        ("Gereed", _moment(order.completed_at)),
    ))
    for survey in details.surveys:
        layout.gap(6)
        _survey_title(layout, survey, 13)
        layout.rule(LEFT, layout.y, RIGHT, 0.6, 0.55)
        layout.y -= 2
        if survey.answers:
            _answers(layout, survey.answers)
        else:
            layout.lines(["Geen antwoorden."], grey=MUTED)
    footer = " · ".join(p for p in (title, _clean(company)) if p)
    return _draw(layout, title=title, subject="Formulieren", author=_clean(company),
                 footer=footer)


_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _file_part(number: str | int) -> str:
    """A work order number fit for a file name and a multipart header: accents dropped,
    everything but ASCII letters, digits, "." and "-" becomes "-" (a quote or ";" would
    break the header Visma.net reads the name from; "/" and ".." would make a path)."""
    text = unicodedata.normalize("NFKD", repaired_text(str(number)))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _UNSAFE_IN_NAME.sub("-", text).strip("-.") or "onbekend"


def work_order_filename(number: str | int) -> str:
    """`werkbon-<number>.pdf` (S-49)."""
    return f"werkbon-{_file_part(number)}.pdf"


def forms_filename(number: str | int) -> str:
    """`formulieren-<number>.pdf` (S-49)."""
    return f"formulieren-{_file_part(number)}.pdf"


def merge_pdfs(parts: Sequence[bytes]) -> bytes | None:
    """Several PDFs as one, in order (Simon's own per-survey renditions as the one forms PDF
    of S-49); None without parts. One part is returned as it is; more need pypdf."""
    parts = [part for part in parts if part]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for part in parts:
        writer.append(PdfReader(io.BytesIO(part)))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
