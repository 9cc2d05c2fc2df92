"""The OCSP responder as relying parties meet it: openssl's client against the running server, several
certificates per request, nonces, GET and POST, malformed and foreign requests, pkilint."""
from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp as x509_ocsp

from ca import ocsp, revocation
from tests.support import run_kyso
from tests.test_revocation import issue

LINT_OCSP = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "lint_ocsp_response")


def _cert(instance: Any, serial: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(instance.authority.get(serial).der)


def _request(instance: Any, serials: list[int], *, nonce: bytes | None = None, algorithm: Any = None,
             issuer: x509.Certificate | None = None) -> bytes:
    """An OCSPRequest for several serials (asn1crypto: cryptography's builder takes one certificate)."""
    issuer = issuer or instance.authority.ca_cert("issuing")
    alg = algorithm or hashes.SHA1()
    name_hash = hashes.Hash(alg)
    name_hash.update(issuer.subject.public_bytes())
    from ca.der import public_key_bits

    key_hash = hashes.Hash(alg)
    key_hash.update(public_key_bits(issuer.public_key()))
    nh, kh = name_hash.finalize(), key_hash.finalize()
    requests = [{"req_cert": {"hash_algorithm": {"algorithm": alg.name}, "issuer_name_hash": nh,
                              "issuer_key_hash": kh, "serial_number": s}} for s in serials]
    tbs: dict = {"request_list": requests}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "extn_value": nonce}]
    return asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump()


def _parse(instance: Any, data: bytes) -> x509_ocsp.OCSPResponse:
    resp = x509_ocsp.load_der_ocsp_response(data)
    assert resp.response_status == x509_ocsp.OCSPResponseStatus.SUCCESSFUL
    responder = instance.authority.ca_cert("ocsp")
    assert resp.certificates == [responder]
    responder.public_key().verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))
    assert resp.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(responder.public_key()).digest
    return resp


def test_several_certificates_good_revoked_unknown_with_nonce(instance, client) -> None:  # noqa: ANN001
    good, bad = issue(instance, "Trịnh Công Sơn"), issue(instance, "Lý Thường Kiệt")
    revocation.revoke(instance.authority, bad, "keyCompromise", actor="tests")
    nonce = os.urandom(16)
    for alg in (hashes.SHA1(), hashes.SHA256()):
        body = _request(instance, [int(good, 16), int(bad, 16), 0xDEADBEEF], nonce=nonce, algorithm=alg)
        http = client.post("/ocsp", data=body, content_type="application/ocsp-request")
        assert http.status_code == 200 and http.mimetype == "application/ocsp-response"
        resp = _parse(instance, http.data)
        singles = {r.serial_number: r for r in resp.responses}
        assert singles[int(good, 16)].certificate_status == x509_ocsp.OCSPCertStatus.GOOD
        revoked = singles[int(bad, 16)]
        assert revoked.certificate_status == x509_ocsp.OCSPCertStatus.REVOKED
        state, when, _ = revocation.status(instance.authority, int(bad, 16))
        assert revoked.revocation_time_utc == when
        assert revoked.revocation_reason == x509.ReasonFlags.key_compromise
        assert singles[0xDEADBEEF].certificate_status == x509_ocsp.OCSPCertStatus.UNKNOWN
        for single in resp.responses:
            assert single.hash_algorithm.name == alg.name
            lifetime = single.next_update_utc - single.this_update_utc
            assert lifetime.total_seconds() == instance.settings.ocsp_validity_minutes * 60
        assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce


def test_get_form_cache_and_immediate_revocation(instance, client) -> None:  # noqa: ANN001
    serial = issue(instance, "Nguyễn Thị Minh Khai")
    body = _request(instance, [int(serial, 16)])  # no nonce: a cacheable request
    encoded = base64.b64encode(body).decode()
    first = client.get(f"/ocsp/{encoded}")
    assert first.status_code == 200 and "max-age" in first.headers["Cache-Control"]
    assert _parse(instance, first.data).certificate_status == x509_ocsp.OCSPCertStatus.GOOD
    assert client.post("/ocsp", data=body, content_type="application/ocsp-request").data == first.data  # cached
    revocation.revoke(instance.authority, serial, "cessationOfOperation", actor="tests")
    after = _parse(instance, client.get(f"/ocsp/{encoded}").data)
    assert after.certificate_status == x509_ocsp.OCSPCertStatus.REVOKED
    assert after.revocation_reason == x509.ReasonFlags.cessation_of_operation


def test_malformed_and_unauthorized_never_500(instance, client) -> None:  # noqa: ANN001
    foreign = instance.authority.ca_cert("root")  # a CA this responder does not answer for
    cases = {
        b"": 1, b"garbage": 1, b"\x30\x03\x02\x01\x00": 1, b"\x30" + b"\xff" * 10: 1,
        _request(instance, [1])[:-3]: 1, _request(instance, [1]) + b"\x00": 1,
        _request(instance, list(range(1, 200))): 1,
        _request(instance, [5], issuer=foreign): 6,
        _request(instance, [5], nonce=b""): 1,
        os.urandom(300): 1,
    }
    for body, status in cases.items():
        for http in (client.post("/ocsp", data=body, content_type="application/ocsp-request"),
                     client.get("/ocsp/" + base64.b64encode(body).decode())):
            assert http.status_code == 200 and http.mimetype == "application/ocsp-response"
            assert http.data == ocsp.respond(instance.authority, body)
            assert asn1_ocsp.OCSPResponse.load(http.data)["response_status"].native == {
                1: "malformed_request", 6: "unauthorized"}[status]
            assert "no-store" in http.headers["Cache-Control"]
    assert client.get("/ocsp/not%20base64!!").data == ocsp.MALFORMED


def test_pkilint_finds_nothing(instance, tmp_path) -> None:  # noqa: ANN001
    good, bad = issue(instance), issue(instance)
    revocation.revoke(instance.authority, bad, "superseded", actor="tests")
    for serials, nonce in (([int(good, 16)], None), ([int(bad, 16), int(good, 16), 77], os.urandom(20))):
        path = tmp_path / "resp.der"
        path.write_bytes(ocsp.respond(instance.authority, _request(instance, serials, nonce=nonce)))
        out = subprocess.run([LINT_OCSP, "lint", "-s", "INFO", str(path)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr


def test_openssl_client_against_the_running_server(instance, live_server, ca_files, kyso_env, tmp_path) -> None:  # noqa: ANN001
    good, bad, held = issue(instance, "Hồ Xuân Hương"), issue(instance, "Nguyễn Du"), issue(instance, "Đoàn Thị Điểm")
    run_kyso("cert", "revoke", bad, "--reason", "keyCompromise", env=kyso_env, check=True)
    run_kyso("cert", "revoke", held, "--reason", "certificateHold", env=kyso_env, check=True)
    paths = {}
    for name, serial in (("good", good), ("bad", bad), ("held", held)):
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(_cert(instance, serial).public_bytes(serialization.Encoding.PEM))
    # one request, three certificates plus an unknown serial, with openssl's nonce, over POST
    out = subprocess.run(["openssl", "ocsp", "-issuer", str(ca_files["issuing"]), "-CAfile", str(ca_files["chain"]),
                          "-url", f"{live_server.url}/ocsp", "-cert", str(paths["good"]), "-cert", str(paths["bad"]),
                          "-cert", str(paths["held"]), "-serial", "0x1234abcd"],
                         capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "Response verify OK" in text and "Nonce Verify error" not in text
    assert f"{paths['good']}: good" in text
    assert f"{paths['bad']}: revoked" in text and "Reason: keyCompromise" in text
    assert f"{paths['held']}: revoked" in text and "Reason: certificateHold" in text
    assert "0x1234abcd: unknown" in text
    # the GET form (openssl -no_nonce -reqout, then a plain HTTP GET) says the same
    import requests

    req = tmp_path / "req.der"
    subprocess.run(["openssl", "ocsp", "-issuer", str(ca_files["issuing"]), "-cert", str(paths["good"]), "-no_nonce",
                    "-reqout", str(req)], check=True, capture_output=True, timeout=60)
    got = requests.get(f"{live_server.url}/ocsp/{base64.b64encode(req.read_bytes()).decode()}", timeout=30)
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/ocsp-response"
    assert _parse(instance, got.content).certificate_status == x509_ocsp.OCSPCertStatus.GOOD
    # release the hold: the running server answers good at once
    run_kyso("cert", "release-hold", held, env=kyso_env, check=True)
    again = subprocess.run(["openssl", "ocsp", "-issuer", str(ca_files["issuing"]), "-CAfile", str(ca_files["chain"]),
                            "-url", f"{live_server.url}/ocsp", "-cert", str(paths["held"])],
                           capture_output=True, text=True, timeout=60)
    assert f"{paths['held']}: good" in again.stdout, again.stdout + again.stderr
