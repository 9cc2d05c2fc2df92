"""Visible signatures as Decree 30/2020/NĐ-CP (Appendix I) draws them.

* ``signer``: the official's handwritten-signature image (transparent PNG) centred between the position title
  (above) and the full name (below), inside the box the caller gives.
* ``seal``: the agency's red seal image, real size, covering about the left third of the official's signature
  image (placed over the earlier ``signer`` box when there is one).
* ``attachment``: no image; top right of page 1: the document number and symbol, and the signing time in
  ISO 8601 Vietnam time, 10 pt Times-metric serif, black.
* ``copy``: no image; top right of page 1: "SAO Y" / "SAO LỤC" / "TRÍCH SAO", the copying agency, the time.
* ``none``: an invisible signature.

Text uses Liberation Serif rescaled to 1000 units/em (:mod:`signer.fonts`) through pyHanko's OpenType glyph
accumulator: the PDF embeds a subset with a ToUnicode map, so the text is extractable, diacritics included.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.stamp.base import BaseStamp, BaseStampStyle

from signer import images
from signer.fonts import stamp_font_bytes

APPEARANCES = ("none", "signer", "seal", "attachment", "copy")
COPY_FORMS = ("SAO Y", "SAO LỤC", "TRÍCH SAO")
TEXT_SIZE = 10.0  # Decree 30: Times New Roman 10 for attachment / copy stamps
NAME_SIZE = 11.0
TOP_RIGHT_MARGIN = 20.0  # points from the right and top edges of page 1
SEAL_SIZE = 100.0  # ≈ 35 mm, a typical round seal's real size
PAD = 2.0

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Line:
    text: str
    size: float = TEXT_SIZE
    bold: bool = False
    align: str = "left"  # left | center | right
    baseline: float = 0.0  # from the bottom of the stamp box


class _Fonts:
    """One glyph accumulator per weight per stamp (each embeds its own subset)."""

    def __init__(self, writer: Any):
        self.writer = writer
        self.engines: dict[bool, GlyphAccumulator] = {}

    def engine(self, bold: bool) -> tuple[str, GlyphAccumulator]:
        eng = self.engines.get(bold)
        if eng is None:
            eng = GlyphAccumulator(self.writer, io.BytesIO(stamp_font_bytes(bold)), TEXT_SIZE)
            self.engines[bold] = eng
        return ("FB" if bold else "FR"), eng


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Advance width of ``text`` in points (HarfBuzz shaping on the stamp font)."""
    import uharfbuzz as hb

    face = _hb_face(bold)
    font = hb.Font(face)
    buf = hb.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    hb.shape(font, buf)
    return sum(p.x_advance for p in buf.glyph_positions) / face.upem * size


_FACES: dict[bool, Any] = {}


def _hb_face(bold: bool) -> Any:
    import uharfbuzz as hb

    face = _FACES.get(bold)
    if face is None:
        face = _FACES[bold] = hb.Face(stamp_font_bytes(bold))
    return face


def fit_size(text: str, size: float, width: float, bold: bool = False, minimum: float = 6.0) -> float:
    """``size`` or smaller, so that ``text`` fits in ``width`` points."""
    w = text_width(text, size, bold)
    if w <= width or w == 0:
        return size
    return max(minimum, size * width / w * 0.98)


@dataclass(frozen=True)
class DecreeStampStyle(BaseStampStyle):
    """Lines of text and an optional image, at fixed places in the stamp box (no border, no background)."""

    lines: tuple[Line, ...] = ()
    image_png: bytes | None = None
    image_rect: Box | None = None  # x, y, w, h inside the stamp box
    border_width: int = 0
    background: Any = None

    def create_stamp(self, writer: Any, box: layout.BoxConstraints, text_params: dict) -> "DecreeStamp":
        return DecreeStamp(writer, self, box)


class DecreeStamp(BaseStamp):
    def _render_inner_content(self) -> list[bytes]:
        style: DecreeStampStyle = self.style
        ops: list[bytes] = []
        if style.image_png is not None and style.image_rect is not None:
            x, y, w, h = style.image_rect
            img = PdfImage(images.decoded(style.image_png), writer=self.writer, name="Sig")
            self.set_resource(category=ResourceType.XOBJECT, name=pdf_name("/ImgSig"), value=img.image_ref)
            ops.append(b"q %g 0 0 %g %g %g cm /ImgSig Do Q" % (w, h, x, y))
        if style.lines:
            fonts = _Fonts(self.writer)
            width = self.box.width
            ops.append(b"q 0 0 0 rg BT")
            for line in style.lines:
                if not line.text:
                    continue
                name, engine = fonts.engine(line.bold)
                engine.font_size = line.size
                shaped = engine.shape(line.text)
                advance = shaped.x_advance * line.size
                if line.align == "center":
                    x = (width - advance) / 2
                elif line.align == "right":
                    x = width - PAD - advance
                else:
                    x = PAD
                ops.append(b"/%s %g Tf 1 0 0 1 %g %g Tm %s" % (name.encode(), line.size, x, line.baseline,
                                                                shaped.graphics_ops))
            ops.append(b"ET Q")
            for bold, engine in fonts.engines.items():
                self.set_resource(category=ResourceType.FONT, name=pdf_name("/FB" if bold else "/FR"),
                                  value=engine.as_resource())
        return ops


# -- layouts ----------------------------------------------------------------------------------------------
def signer_layout(width: float, height: float, title: str, name: str, image_png: bytes) -> DecreeStampStyle:
    """Title on top, the signature image centred in the middle band, the full name at the bottom."""
    title_size = fit_size(title, NAME_SIZE, width - 2 * PAD, bold=True) if title else NAME_SIZE
    name_size = fit_size(name, NAME_SIZE, width - 2 * PAD, bold=True)
    top_band = title_size * 1.5 if title else 0.0
    bottom_band = name_size * 1.5
    lines = []
    if title:
        lines.append(Line(title, title_size, True, "center", height - title_size * 1.1))
    lines.append(Line(name, name_size, True, "center", name_size * 0.4))
    return DecreeStampStyle(lines=tuple(lines), image_png=image_png,
                            image_rect=signer_image_rect(width, height, image_png, top_band, bottom_band))


def signer_image_rect(width: float, height: float, image_png: bytes, top_band: float | None = None,
                      bottom_band: float = NAME_SIZE * 1.5) -> Box:
    """Where the signature image sits in a ``signer`` box: (x, y, w, h) in the box's coordinates."""
    if top_band is None:
        top_band = NAME_SIZE * 1.5
    img = images.decoded(image_png)
    avail_w = max(1.0, width - 2 * PAD)
    avail_h = max(1.0, height - top_band - bottom_band)
    scale = min(avail_w / img.width, avail_h / img.height)
    w, h = img.width * scale, img.height * scale
    return ((width - w) / 2, bottom_band + (avail_h - h) / 2, w, h)


def seal_layout(width: float, height: float, image_png: bytes) -> DecreeStampStyle:
    img = images.decoded(image_png)
    scale = min(width / img.width, height / img.height)
    w, h = img.width * scale, img.height * scale
    return DecreeStampStyle(image_png=image_png, image_rect=((width - w) / 2, (height - h) / 2, w, h))


def seal_box_over(signer_rect: Box, image_rect: Box, size: float = SEAL_SIZE) -> Box:
    """The seal's box on the page: a ``size`` square whose right edge is one third into the signature image
    (so it covers the image's left third), vertically centred on the image (Decree 30, Appendix I)."""
    fx1, fy1, _, _ = signer_rect
    ix, iy, iw, ih = image_rect
    right = fx1 + ix + iw / 3
    cy = fy1 + iy + ih / 2
    return (right - size, cy - size / 2, right, cy + size / 2)


def text_block(lines: list[str], size: float = TEXT_SIZE) -> tuple[float, float, DecreeStampStyle]:
    """Right-aligned lines of ``size`` pt text: (width, height, style) of the smallest box holding them."""
    leading = size * 1.2
    width = max(text_width(t, size) for t in lines) + 2 * PAD
    height = leading * len(lines) + 2 * PAD
    out = []
    for i, text in enumerate(lines):
        baseline = height - PAD - leading * (i + 1) + (leading - size) + size * 0.22
        out.append(Line(text, size, False, "right", baseline))
    return width, height, DecreeStampStyle(lines=tuple(out))


def top_right_box(page_box: Box, width: float, height: float, margin: float = TOP_RIGHT_MARGIN) -> Box:
    px1, py1, px2, py2 = page_box
    return (px2 - margin - width, py2 - margin - height, px2 - margin, py2 - margin)
