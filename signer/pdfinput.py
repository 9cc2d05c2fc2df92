"""Checks on an uploaded PDF before anything is signed: size, "is it a PDF", encryption, damage, pages,
boxes, and locks left by earlier signatures. Every refusal is a domain error (signer.errors)."""
from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass, field
from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from signer import errors

Box = tuple[float, float, float, float]


@dataclass
class PdfDocument:
    data: bytes
    sha256: str
    reader: PdfFileReader
    page_count: int
    _reader_lent: bool = field(default=False, repr=False)

    def writer(self) -> IncrementalPdfFileWriter:
        """A fresh incremental writer over the checked bytes (the original bytes stay untouched).

        The first writer is built on :attr:`reader` itself (no second parse of the file); the writer may change
        objects the reader has cached, so later writers parse the bytes afresh, and :attr:`reader` should not
        be trusted for the document's content once a writer has been taken (signing takes one, at the end)."""
        if not self._reader_lent:
            self._reader_lent = True
            return IncrementalPdfFileWriter(io.BytesIO(self.data), prev=self.reader)
        return IncrementalPdfFileWriter(io.BytesIO(self.data), strict=False)

    def page_box(self, page: int) -> Box:
        """(x1, y1, x2, y2) of page ``page`` (1-based): its CropBox, else MediaBox (inherited if need be)."""
        check_page(self, page)
        try:
            page_ref, _ = self.reader.find_page_for_modification(page - 1)
            node = page_ref.get_object()
            for key in ("/CropBox", "/MediaBox"):
                cur = node
                while cur is not None:
                    if key in cur:
                        vals = [float(v) for v in cur[key]]
                        x1, y1, x2, y2 = vals
                        return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
                    parent = cur.get("/Parent")
                    cur = parent.get_object() if parent is not None else None
        except (misc.PdfError, KeyError, ValueError, TypeError, AttributeError):
            raise errors.BrokenPdf("The page tree of the PDF is damaged", "Cây trang của tệp PDF bị hỏng") from None
        return (0.0, 0.0, 612.0, 792.0)  # PDF default (US Letter) when no box is given anywhere

    def signature_fields(self) -> list[dict[str, Any]]:
        """Signed signature fields already in the document: name, page (1-based), rect."""
        out = []
        for emb in self.reader.embedded_signatures:
            field = emb.sig_field
            rect = None
            page = None
            try:
                if "/Rect" in field:
                    rect = tuple(float(v) for v in field["/Rect"])
                    if "/P" in field:
                        page = _page_index(self.reader, field.raw_get("/P"))
            except (KeyError, ValueError, TypeError):
                pass
            out.append({"name": emb.field_name, "rect": rect, "page": page})
        return out


def _page_index(reader: PdfFileReader, ref: Any) -> int | None:
    if not isinstance(ref, generic.IndirectObject):
        return None
    for i in range(min(int(reader.root["/Pages"]["/Count"]), 10000)):
        page_ref, _ = reader.find_page_for_modification(i)
        if page_ref.reference == ref.reference:
            return i + 1
    return None


def load(data: bytes, max_bytes: int) -> PdfDocument:
    """Check ``data`` and open it. Raises NotAPdf, PdfTooLarge, EncryptedPdf, BrokenPdf, DocumentLocked."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise errors.NotAPdf("The file is empty", "Tệp rỗng")
    if len(data) > max_bytes:
        mb = max_bytes / (1024 * 1024)
        raise errors.PdfTooLarge(f"The PDF is larger than the limit of {mb:g} MB",
                                 f"Tệp PDF vượt quá giới hạn {mb:g} MB")
    data = bytes(data)
    if b"%PDF-" not in data[:1024]:
        raise errors.NotAPdf()
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise errors.EncryptedPdf()
        pages = reader.root["/Pages"]
        count = int(pages["/Count"])
        if count < 1:
            raise errors.BrokenPdf("The PDF has no pages", "Tệp PDF không có trang nào")
        reader.find_page_for_modification(count - 1)  # walks the tree: a damaged tree fails here
        locked = _locked(reader)
    except errors.KysoError:
        raise
    except (misc.PdfError, KeyError, ValueError, TypeError, AttributeError, IndexError, AssertionError,
            RecursionError, OverflowError):
        raise errors.BrokenPdf() from None
    if locked:
        raise errors.DocumentLocked()
    return PdfDocument(data=data, sha256=hashlib.sha256(data).hexdigest(), reader=reader, page_count=count)


def _locked(reader: PdfFileReader) -> bool:
    """True when an earlier signature forbids any change (DocMDP or FieldMDP with /P 1)."""
    perms = reader.root.get("/Perms")
    if perms is not None and "/DocMDP" in perms:
        if _mdp_p(perms["/DocMDP"]) == 1:
            return True
    for emb in reader.embedded_signatures:
        if _mdp_p(emb.sig_object) == 1:
            return True
        lock = emb.sig_field.get("/Lock")
        if lock is not None and int(lock.get("/P", 0)) == 1:
            return True
    return False


def _mdp_p(sig_dict: Any) -> int | None:
    for ref in sig_dict.get("/Reference", ()) or ():
        ref = ref.get_object()
        params = ref.get("/TransformParams")
        if params is not None and "/P" in params:
            return int(params["/P"])
    return None


def check_page(doc: PdfDocument, page: int) -> None:
    if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= doc.page_count:
        raise errors.PageOutOfRange(f"Page {page} does not exist: the document has {doc.page_count} page(s)",
                                    f"Không có trang {page}: tài liệu có {doc.page_count} trang")


def check_box(doc: PdfDocument, page: int, box: Box) -> Box:
    """``box`` normalised (x1 < x2, y1 < y2); refused unless it lies on the page and is at least 10 pt wide/high."""
    if len(box) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in box):
        raise errors.BoxOffPage("The box must be four numbers x1,y1,x2,y2 in points",
                                "Vị trí phải gồm bốn số x1,y1,x2,y2 (đơn vị point)")
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    px1, py1, px2, py2 = doc.page_box(page)
    eps = 0.01
    if x1 < px1 - eps or y1 < py1 - eps or x2 > px2 + eps or y2 > py2 + eps:
        raise errors.BoxOffPage(
            f"The box {x1:g},{y1:g},{x2:g},{y2:g} is outside page {page} ({px1:g},{py1:g},{px2:g},{py2:g})",
            f"Vị trí {x1:g},{y1:g},{x2:g},{y2:g} nằm ngoài trang {page} ({px1:g},{py1:g},{px2:g},{py2:g})")
    if x2 - x1 < 10 or y2 - y1 < 10:
        raise errors.BoxOffPage("The box must be at least 10 × 10 points", "Vị trí chữ ký phải rộng và cao ít nhất 10 point")
    return (x1, y1, x2, y2)
