"""signer.fastpdf reads hex strings exactly as pyHanko's own reader does."""
from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.misc import PdfStreamError

from signer import fastpdf

CASES = [b"<48656c6c6f> tail", b"<48 65\n6c\t6c 6f>x", b"<486>", b"<>", b"<4 8 6 5 %comment\n 6c>z",
         b"<" + b"ab" * 40000 + b">", b"<12zz>", b"<1234", b"<\x00 41 >"]


@pytest.mark.parametrize("raw", CASES)
def test_same_result_as_pyhanko(raw):
    def run(fn):
        s = io.BytesIO(raw)
        try:
            value = fn(s)
        except PdfStreamError:
            return "error", None
        return (type(value).__name__, bytes(value.original_bytes) if hasattr(value, "original_bytes") else value,
                s.tell())

    assert run(fastpdf.read_hex_string_from_stream) == run(fastpdf._original)  # noqa: SLF001


def test_name_comparison_unchanged():
    from asn1crypto import x509 as asn1_x509

    fastpdf.install()
    a = asn1_x509.Name.build({"common_name": "Nguyễn  Thị Hằng", "organization_name": "Bộ Công an"})
    b = asn1_x509.Name.build({"common_name": "nguyễn thị hằng", "organization_name": "BỘ CÔNG AN"})
    c = asn1_x509.Name.build({"common_name": "Trần Văn Nam", "organization_name": "Bộ Công an"})
    rdn_a = a.chosen[0]
    assert rdn_a._get_values(rdn_a) == fastpdf._original_values(rdn_a, rdn_a)  # noqa: SLF001
    for _ in range(2):  # second round from the cache
        assert a == b and a != c and a.hashable == b.hashable
