"""PAdES levels B-B … B-LTA made by kyso's signing service and judged by outside tools:
pdfsig (integrity), openssl cms (CMS + chain to kyso's root), NSS vfychain (signer chain), qpdf --check."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from asn1crypto import cms

from signer.service import SignOptions, sign_pdf
from tests.pdf_factory import make_pdf
from tests.sign_support import (cms_signer_cert_pem, make_official, openssl_cms_verify, pdfsig, pdfsig_valid_count,
                                openssl_ts_verify, qpdf_check, signatures, vfychain, without_activation)


@pytest.fixture(scope="module")
def official(instance):  # noqa: ANN001, ANN201
    return make_official(instance)


def signer_cert_der(cms_der: bytes) -> bytes:
    """The certificate the CMS's SignerInfo names (issuer and serial)."""
    sd = cms.ContentInfo.load(cms_der)["content"]
    sid = sd["signer_infos"][0]["sid"].chosen
    for cert in sd["certificates"]:
        c = cert.chosen
        if c.serial_number == sid["serial_number"].native and c.issuer == sid["issuer"]:
            return cert.chosen.dump()
    raise AssertionError("the signer's certificate is not in the CMS")


def _unsigned_attr_types(cms_der: bytes) -> set[str]:
    info = cms.ContentInfo.load(cms_der)["content"]["signer_infos"][0]
    return {a["type"].native for a in (info["unsigned_attrs"].native and info["unsigned_attrs"]) or []}


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT", "B-LTA"])
def test_level_is_judged_valid_by_outside_tools(instance, official, ca_files, tmp_path: Path, level: str) -> None:  # noqa: ANN001
    signed = sign_pdf(without_activation(instance), official.username, make_pdf(2), SignOptions(level=level))
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)

    total, valid = pdfsig_valid_count(path)
    # B-LTA adds a document timestamp; Debian's pdfsig 22.12 cannot check ETSI.RFC3161 ("Unimplemented
    # Feature"), so that one is judged by `openssl ts -verify` below.
    assert (total, valid) == ((2, 1) if level == "B-LTA" else (1, 1)), pdfsig(path)
    assert qpdf_check(path).returncode == 0, qpdf_check(path).stdout

    sigs = signatures(signed)
    signed_bytes, cms_der = sigs[0]
    r = openssl_cms_verify(tmp_path, signed_bytes, cms_der, ca_files)
    assert r.returncode == 0, r.stderr
    assert b"Verification successful" in r.stderr

    certs = cms_signer_cert_pem(tmp_path, cms_der).read_text()
    assert "CN=Nguy" in certs or "CN = Nguy" in certs or "Nguy" in certs, certs
    leaf_der = signer_cert_der(cms_der)
    chain = vfychain(tmp_path, leaf_der, ca_files)
    assert chain.returncode == 0 and b"Chain is good!" in chain.stderr, chain.stdout + chain.stderr

    unsigned = _unsigned_attr_types(cms_der)
    assert ("signature_time_stamp_token" in unsigned) == (level != "B-B")
    has_dss = re.search(rb"/DSS\s", signed) is not None
    assert has_dss == (level in ("B-LT", "B-LTA"))
    if level in ("B-LT", "B-LTA"):
        assert re.search(rb"/CRLs\s*\[", signed) and re.search(rb"/OCSPs\s*\[", signed)
    if level == "B-LTA":
        ts_signed, ts_der = sigs[1]
        assert b"/ETSI.RFC3161" in signed
        r = openssl_ts_verify(tmp_path, ts_signed, ts_der, ca_files)
        assert r.returncode == 0 and b"Verification: OK" in r.stdout, r.stdout + r.stderr


def test_one_flipped_byte_is_a_digest_mismatch(instance, official, tmp_path: Path) -> None:  # noqa: ANN001
    signed = bytearray(sign_pdf(without_activation(instance), official.username, make_pdf(1), SignOptions(level="B-B")))
    idx = signed.index(b"trang 1/1")  # inside the page content, within the signed range
    signed[idx] ^= 0x01
    path = tmp_path / "tampered.pdf"
    path.write_bytes(bytes(signed))
    text = pdfsig(path)
    assert "Signature is Valid" not in text
    assert "Digest Mismatch" in text, text
