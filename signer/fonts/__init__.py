"""The stamp font: Liberation Serif (Times New Roman metrics, Vietnamese glyphs), rescaled to 1000 units/em.

Why rescale: pyHanko 0.38's OpenType glyph accumulator writes the CID font's /W widths in the font's own
units, but PDF reads them as 1/1000 em. Liberation Serif has 2048 units per em, so stamp text came out twice
as wide. Rescaled with fontTools' ``scaleUpem`` to 1000 units per em, widths are right.

The font is derived in memory, once per process, from the system's Liberation Serif (Debian package
``fonts-liberation2``, in the Makefile's APT_PACKAGES). Nothing derived is shipped: Liberation is under the
SIL Open Font License 1.1 with the reserved font name "Liberation", so a modified font file is not
redistributed; PDFs embed only a subset, which the OFL allows. ``KYSO_STAMP_FONT`` (and
``KYSO_STAMP_FONT_BOLD``) may name other TrueType fonts with Vietnamese glyphs.
"""
from __future__ import annotations

import io
import logging
import os
import threading
from functools import lru_cache
from pathlib import Path

from ca.errors import Unavailable

FONT_DIRS = ("/usr/share/fonts/truetype/liberation2", "/usr/share/fonts/truetype/liberation")
# Latin, Latin-1, Latin Extended-A/B, combining marks, Vietnamese (Latin Extended Additional), punctuation, ₫ €
UNICODES = "U+0020-007E,U+00A0-024F,U+0300-036F,U+1EA0-1EF9,U+2000-206F,U+20AB,U+20AC,U+2116,U+2122"
_LOCK = threading.Lock()


def source_font(bold: bool = False) -> Path:
    override = os.environ.get("KYSO_STAMP_FONT_BOLD" if bold else "KYSO_STAMP_FONT")
    name = "LiberationSerif-Bold.ttf" if bold else "LiberationSerif-Regular.ttf"
    for candidate in ((override,) if override else tuple(f"{d}/{name}" for d in FONT_DIRS)):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise Unavailable("The stamp font is missing: install fonts-liberation2 or set KYSO_STAMP_FONT",
                      "Thiếu phông chữ cho dấu ký: cài fonts-liberation2 hoặc đặt KYSO_STAMP_FONT",
                      code="stamp_font_missing")


@lru_cache(maxsize=2)
def _derive(path: str) -> bytes:
    from fontTools import subset
    from fontTools.ttLib import TTFont
    from fontTools.ttLib.scaleUpem import scale_upem

    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # "FFTM NOT subset" is expected
    font = TTFont(path)
    if font["head"].unitsPerEm != 1000:
        scale_upem(font, 1000)
    options = subset.Options()
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.layout_features = ["*"]
    options.notdef_outline = True
    options.glyph_names = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=subset.parse_unicodes(UNICODES))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def stamp_font_bytes(bold: bool = False) -> bytes:
    """The TrueType bytes of the stamp font (regular or bold), 1000 units per em, derived once per process."""
    with _LOCK:
        return _derive(str(source_font(bold)))
