"""Hand-written PDFs for the signing tests: no PDF library, so the input is independent of pyHanko.

``make_pdf(pages=1)`` gives a valid PDF 1.7 (A4 pages, one line of Helvetica text each, classic xref table).
"""
from __future__ import annotations

A4 = (595, 842)


def make_pdf(pages: int = 1, *, size: tuple[int, int] = A4, title: str = "Van ban kiem thu") -> bytes:
    objects: list[bytes] = []
    # 1: catalog, 2: pages, 3: font, then (page, content) pairs
    kids = [4 + 2 * i for i in range(pages)]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, b" ".join(b"%d 0 R" % k for k in kids)))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i in range(pages):
        text = f"{title} - trang {i + 1}/{pages}".encode("latin-1")
        stream = b"BT /F1 14 Tf 72 %d Td (%s) Tj ET\n0.5 0.5 0.5 RG 72 700 m 523 700 l S\n" % (size[1] - 100, text)
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 3 0 R >> >> "
                       b"/Contents %d 0 R >>" % (size[0], size[1], 5 + 2 * i))
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def encrypted_pdf() -> bytes:
    """A PDF encrypted with a user password (AES-128, via pyHanko's writer)."""
    import io

    from pyhanko.pdf_utils.crypt import StandardSecurityHandler, StandardSecuritySettingsRevision
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(make_pdf(1))))
    handler = StandardSecurityHandler.build_from_pw_legacy(
        rev=StandardSecuritySettingsRevision.RC4_OR_AES128, id1=writer.document_id[0].original_bytes,
        desired_owner_pass=b"chu-so-huu", desired_user_pass=b"mat-khau", keylen_bytes=16, use_aes128=True)
    writer._assign_security_handler(handler)  # noqa: SLF001 - pyHanko's own way to encrypt a new file
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
