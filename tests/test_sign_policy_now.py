"""The signing policy reads the revocation state of *this moment* on every signature (no cache): a certificate
put on hold is refused at once and accepted again once released; with several certificates, a revoked newest
one is passed over for the older valid one, and the signature names the one used."""
from __future__ import annotations

from asn1crypto import cms

from ca import revocation
from signer import errors
from signer.service import SignOptions, sign_pdf
from tests.pdf_factory import make_pdf
from tests.sign_support import make_official, signatures, without_activation


def _signed_serial(pdf: bytes) -> str:
    sid = cms.ContentInfo.load(signatures(pdf)[-1][1])["content"]["signer_infos"][0]["sid"].chosen
    return format(sid["serial_number"].native, "x")


def test_hold_release_and_fallback_to_an_older_certificate(instance) -> None:  # noqa: ANN001
    official = make_official(instance, image=False)
    inst = without_activation(instance)
    older = official.serial.lower().lstrip("0")
    assert _signed_serial(sign_pdf(inst, official.username, make_pdf(1), SignOptions(level="B-B"))) == older

    revocation.revoke(instance.authority, official.serial, "certificateHold", actor="tests")
    try:
        sign_pdf(inst, official.username, make_pdf(1), SignOptions(level="B-B"))
        raise AssertionError("a certificate on hold signed")
    except errors.KysoError as exc:
        assert exc.code == "certificate_revoked"
    revocation.release_hold(instance.authority, official.serial, actor="tests")
    assert _signed_serial(sign_pdf(inst, official.username, make_pdf(1), SignOptions(level="B-LT"))) == older

    newer = instance.authority.issue(profile="official", keygen="rsa2048", owner=official.username,
                                     subject={"CN": "Nguyễn Thị Hằng", "C": "VN"}).serial.lower().lstrip("0")
    assert _signed_serial(sign_pdf(inst, official.username, make_pdf(1), SignOptions(level="B-B"))) == newer
    revocation.revoke(instance.authority, newer, "superseded", actor="tests")
    assert _signed_serial(sign_pdf(inst, official.username, make_pdf(1), SignOptions(level="B-B"))) == older
    # asking for the revoked one by serial is refused, not silently replaced
    try:
        sign_pdf(inst, official.username, make_pdf(1), SignOptions(level="B-B", certificate=newer))
        raise AssertionError("a revoked certificate signed")
    except errors.KysoError as exc:
        assert exc.code == "certificate_revoked"
