"""From the caller's options to a signature field: name, page, box and Decree 30 appearance."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pyhanko.sign.fields import enumerate_sig_fields

from ca.timeutil import iso_vn
from signer import appearance as ap, errors, pdfinput
from signer.levels import FieldSpec
from signer.pdfinput import PdfDocument
from signer.policy import Identity

DEFAULT_SIGNER_SIZE = (200.0, 110.0)  # points: title, signature image, full name
_IMG_OPS = re.compile(rb"q ([\d.]+) 0 0 ([\d.]+) ([\d.-]+) ([\d.-]+) cm /ImgSig Do Q")


def field_name(doc: PdfDocument, kind: str) -> str:
    existing = {name for name, _value, _ref in enumerate_sig_fields(doc.reader)}
    n = 1
    while f"kyso-{kind}-{n}" in existing:
        n += 1
    return f"kyso-{kind}-{n}"


def default_signer_box(doc: PdfDocument, page: int) -> tuple[float, float, float, float]:
    """Bottom right of the page, above a 2.5 cm margin: where the signature block of an administrative
    document usually stands."""
    x1, y1, x2, _ = doc.page_box(page)
    w, h = DEFAULT_SIGNER_SIZE
    right = x2 - 60
    return (max(x1, right - w), y1 + 72, right, y1 + 72 + h)


def last_signer_field(doc: PdfDocument) -> tuple[int, tuple[float, float, float, float], tuple | None] | None:
    """(page, field rect, image rect inside the field) of the latest kyso ``signer`` signature, if any."""
    found = None
    for emb in doc.reader.embedded_signatures:
        if not emb.field_name.startswith("kyso-signer-"):
            continue
        widget = emb.sig_field
        if "/Rect" not in widget:
            for kid in widget.get("/Kids", ()):
                widget = kid.get_object()
                break
        try:
            rect = tuple(float(v) for v in widget["/Rect"])
            page = pdfinput._page_index(doc.reader, widget.raw_get("/P")) if "/P" in widget else None
            image_rect = None
            normal = widget["/AP"]["/N"]
            m = _IMG_OPS.search(normal.data)
            if m:
                w, h, x, y = (float(v) for v in m.groups())
                image_rect = (x, y, w, h)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        x1, y1, x2, y2 = rect
        found = (page or doc.page_count, (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), image_rect)
    return found


def field_spec(doc: PdfDocument, ident: Identity, options: Any, now: dt.datetime) -> FieldSpec:
    """The signature field for ``doc`` signed by ``ident`` with ``options`` (a :class:`signer.service.SignOptions`)."""
    kind = options.appearance
    spec = FieldSpec(name=field_name(doc, kind), certify=options.certify, lock=options.lock,
                     reason=options.reason, location=options.location)
    if kind == "none":
        return spec
    if kind == "signer":
        if not ident.signature_image:
            raise errors.MissingImage("Upload your handwritten-signature image (PNG) before using the 'signer' "
                                      "appearance", "Hãy tải ảnh chữ ký tay (PNG) trước khi dùng hình thức 'signer'")
        page = options.page or doc.page_count
        pdfinput.check_page(doc, page)
        box = pdfinput.check_box(doc, page, options.box) if options.box else default_signer_box(doc, page)
        title = (ident.subject.get("title") or "").upper()
        name = ident.subject.get("CN") or ident.full_name or ident.username
        spec.page, spec.box = page, box
        spec.style = ap.signer_layout(box[2] - box[0], box[3] - box[1], title, name, ident.signature_image)
        return spec
    if kind == "seal":
        if not ident.seal_image:
            raise errors.MissingImage("Upload the agency's seal image (PNG) before using the 'seal' appearance",
                                      "Hãy tải ảnh con dấu (PNG) của cơ quan trước khi dùng hình thức 'seal'")
        if options.box:
            page = options.page or doc.page_count
            pdfinput.check_page(doc, page)
            box = pdfinput.check_box(doc, page, options.box)
        else:
            earlier = last_signer_field(doc)
            if earlier is None:
                raise errors.InvalidOption(
                    "No official's visible signature to seal over: give page and box for the seal",
                    "Không có chữ ký của người có thẩm quyền để đóng dấu lên: hãy chỉ rõ trang và vị trí",
                    code="box_required")
            page, rect, image_rect = earlier
            if options.page and options.page != page:
                pdfinput.check_page(doc, options.page)
            if image_rect is None:
                image_rect = (0.0, 0.0, rect[2] - rect[0], rect[3] - rect[1])
            box = _clamp(doc, page, ap.seal_box_over(rect, image_rect))
        spec.page, spec.box = page, box
        spec.style = ap.seal_layout(box[2] - box[0], box[3] - box[1], ident.seal_image)
        return spec
    # attachment / copy: text top right of page 1 (Decree 30, Appendix I)
    stamp_time = iso_vn(now)
    if kind == "attachment":
        if not options.doc_number:
            raise errors.InvalidOption("doc_number (số và ký hiệu) is required for the 'attachment' appearance",
                                       "Cần số và ký hiệu văn bản (doc_number) cho hình thức 'attachment'",
                                       code="doc_number_required")
        lines = [options.doc_number, stamp_time]
    else:
        if options.copy_form not in ap.COPY_FORMS:
            raise errors.InvalidOption(f"copy_form must be one of {', '.join(ap.COPY_FORMS)}",
                                       f"copy_form phải là một trong: {', '.join(ap.COPY_FORMS)}",
                                       code="invalid_copy_form")
        agency = ident.org or ident.subject.get("O") or ident.subject.get("CN") or ""
        lines = [options.copy_form, agency, stamp_time]
    width, height, style = ap.text_block(lines)
    page = 1
    if options.page not in (None, 1):
        pdfinput.check_page(doc, options.page)
        raise errors.InvalidOption("This appearance always stands on page 1 (Decree 30)",
                                   "Hình thức này luôn đặt ở trang 1 (Nghị định 30)", code="page_fixed")
    box = ap.top_right_box(doc.page_box(page), width, height)
    if options.box:
        box = pdfinput.check_box(doc, page, options.box)
        width, height, style = ap.text_block(lines)
    spec.page, spec.box, spec.style = page, box, style
    return spec


def _clamp(doc: PdfDocument, page: int, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Shift ``box`` onto the page if it sticks out (a signature near the left edge)."""
    px1, py1, px2, py2 = doc.page_box(page)
    x1, y1, x2, y2 = box
    dx = max(px1 - x1, 0) - max(x2 - px2, 0)
    dy = max(py1 - y1, 0) - max(y2 - py2, 0)
    return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)
