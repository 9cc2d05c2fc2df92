"""Signature and seal images (PNG): checked on upload, decoded once per process for stamping."""
from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict

from PIL import Image, UnidentifiedImageError

from signer import errors

MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_PIXELS = 2000
_CACHE: "OrderedDict[str, Image.Image]" = OrderedDict()
_LOCK = threading.Lock()


def check_png(data: bytes) -> bytes:
    """Refuse anything but a readable PNG of at most 2 MB and 2000 × 2000 pixels; return the bytes unchanged."""
    if not data:
        raise errors.InvalidImage("The image is empty", "Ảnh rỗng")
    if len(data) > MAX_IMAGE_BYTES:
        raise errors.InvalidImage("The image is larger than 2 MB", "Ảnh lớn hơn 2 MB")
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise errors.InvalidImage()
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG":
                raise errors.InvalidImage()
            if img.width > MAX_PIXELS or img.height > MAX_PIXELS or img.width < 8 or img.height < 8:
                raise errors.InvalidImage("The image must be between 8 and 2000 pixels on each side",
                                          "Ảnh phải có mỗi cạnh từ 8 đến 2000 điểm ảnh")
            img.load()
    except errors.KysoError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise errors.InvalidImage() from None
    return bytes(data)


def decoded(data: bytes) -> Image.Image:
    """The PNG as an RGBA image (transparency kept), cached by content."""
    key = hashlib.sha256(data).hexdigest()
    with _LOCK:
        img = _CACHE.get(key)
        if img is not None:
            _CACHE.move_to_end(key)
            return img
    with Image.open(io.BytesIO(data)) as src:
        img = src.convert("RGBA")
    with _LOCK:
        _CACHE[key] = img
        while len(_CACHE) > 64:
            _CACHE.popitem(last=False)
    return img
