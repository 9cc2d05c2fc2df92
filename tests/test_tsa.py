"""The RFC 3161 timestamp authority as clients meet it: `openssl ts -query` → POST /tsa → `openssl ts -verify`,
nonce, certReq, policy, accuracy, unique serials, and rejections with a failure info instead of errors."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import requests
from asn1crypto import core, tsp

from ca import tsa


def _openssl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def _query(data: bytes, digest: str = "sha256", nonce: int | None = None, cert_req: bool = True,
           policy: str | None = None, extensions: bool = False) -> bytes:
    req: dict = {"version": "v1",
                 "message_imprint": {"hash_algorithm": {"algorithm": digest},
                                     "hashed_message": hashlib.new(digest.replace("_", "-") if digest.startswith("sha3")
                                                                   else digest, data).digest()},
                 "cert_req": cert_req}
    if nonce is not None:
        req["nonce"] = nonce
    if policy:
        req["req_policy"] = policy
    if extensions:
        req["extensions"] = [{"extn_id": "2.5.29.19", "extn_value": b"\x30\x00"}]
    return tsp.TimeStampReq(req).dump()


def test_openssl_query_reply_verify_against_the_running_server(instance, live_server, ca_files, tmp_path) -> None:  # noqa: ANN001
    document = tmp_path / "quyet-dinh.txt"
    document.write_text("Quyết định số 123/QĐ-BCA, Đà Nẵng", encoding="utf-8")
    query = tmp_path / "q.tsq"
    assert _openssl("ts", "-query", "-data", str(document), "-sha256", "-cert", "-out", str(query)).returncode == 0
    resp = requests.post(f"{live_server.url}/tsa", data=query.read_bytes(),
                         headers={"Content-Type": "application/timestamp-query"}, timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/timestamp-reply"
    reply = tmp_path / "r.tsr"
    reply.write_bytes(resp.content)
    for how in (["-queryfile", str(query)], ["-data", str(document)]):
        out = _openssl("ts", "-verify", "-in", str(reply), *how, "-CAfile", str(ca_files["chain"]))
        assert out.returncode == 0 and "Verification: OK" in out.stdout, out.stdout + out.stderr
    text = _openssl("ts", "-reply", "-in", str(reply), "-text").stdout
    assert f"Policy OID: {tsa.DEFAULT_POLICY}" in text and "Status: Granted." in text
    assert f"0x{tsa.ACCURACY_MS:04X} millis" in text and "Nonce: 0x" in text
    # another document does not verify against this token
    other = tmp_path / "khac.txt"
    other.write_text("Văn bản khác", encoding="utf-8")
    bad = _openssl("ts", "-verify", "-in", str(reply), "-data", str(other), "-CAfile", str(ca_files["chain"]))
    assert bad.returncode != 0 and "Verification: FAILED" in bad.stdout


def test_nonce_certreq_policy_time_and_unique_serials(instance, client, ca_files, tmp_path) -> None:  # noqa: ANN001
    serials = set()
    for i, cert_req in enumerate((True, False) * 10):
        nonce = 2**63 + i
        http = client.post("/tsa", data=_query(b"van ban %d" % i, nonce=nonce, cert_req=cert_req),
                           content_type="application/timestamp-query")
        assert http.status_code == 200 and http.mimetype == "application/timestamp-reply"
        resp = tsp.TimeStampResp.load(http.data)
        assert resp["status"]["status"].native == "granted"
        signed = resp["time_stamp_token"]["content"]
        info = signed["encap_content_info"]["content"].parsed
        assert info["nonce"].native == nonce and info["policy"].dotted == tsa.DEFAULT_POLICY
        assert info["message_imprint"]["hashed_message"].native == hashlib.sha256(b"van ban %d" % i).digest()
        assert info["accuracy"]["millis"].native == tsa.ACCURACY_MS
        gen = info["gen_time"].native
        assert abs((gen - instance.authority.clock()).total_seconds()) < 300
        certs = signed["certificates"]
        if cert_req:
            from cryptography.hazmat.primitives import serialization

            ders = [c.chosen.dump() for c in certs]
            assert ders == [instance.authority.ca_cert(r).public_bytes(serialization.Encoding.DER)
                            for r in ("tsa", "issuing")]
        else:
            assert certs.native is None
        serials.add(info["serial_number"].native)
    assert len(serials) == 20
    # without certReq the token still verifies when the TSA certificate is supplied
    reply = tmp_path / "r.tsr"
    query = tmp_path / "q.tsq"
    query.write_bytes(_query(b"khong co chung thu", cert_req=False))
    reply.write_bytes(client.post("/tsa", data=query.read_bytes(), content_type="application/timestamp-query").data)
    out = _openssl("ts", "-verify", "-in", str(reply), "-queryfile", str(query), "-CAfile", str(ca_files["chain"]),
                   "-untrusted", str(ca_files["tsa"]))
    assert out.returncode == 0 and "Verification: OK" in out.stdout, out.stdout + out.stderr
    # the policy we name is accepted when asked for; sha-384/512 imprints too
    for digest in ("sha384", "sha512", "sha3_256"):
        resp = tsp.TimeStampResp.load(tsa.respond(instance.authority, _query(b"x", digest, policy=tsa.DEFAULT_POLICY)))
        assert resp["status"]["status"].native == "granted", digest


def test_bad_queries_get_a_rejection_with_failure_info(instance, client) -> None:  # noqa: ANN001
    good = _query(b"ok")
    cases = {
        b"": "bad_data_format",
        b"khong phai DER": "bad_data_format",
        good[:-2]: "bad_data_format",
        good + b"\x00": "bad_data_format",
        _query(b"x", "sha1"): "bad_alg",
        _query(b"x", "md5"): "bad_alg",
        _query(b"x", policy="1.2.3.4.5"): "unaccepted_policy",
        _query(b"x", extensions=True): "unaccepted_extensions",  # asn1crypto names bit 16 so
        good.replace(hashlib.sha256(b"ok").digest(), hashlib.sha256(b"ok").digest()[:20]).replace(
            b"\x04\x20", b"\x04\x14"): "bad_data_format",
    }
    for body, failure in cases.items():
        http = client.post("/tsa", data=body, content_type="application/timestamp-query")
        assert http.status_code == 200 and http.mimetype == "application/timestamp-reply"
        outer = core.Sequence.load(http.data)
        assert len(outer) == 1  # no token (asn1crypto's TimeStampResp wrongly requires one)
        status = tsp.PKIStatusInfo.load(outer[0].dump())
        assert status["status"].native == "rejection", body
        assert status["fail_info"].native == {failure}, (body, status["fail_info"].native)
        text = status["status_string"].native[0]
        assert " / " in text  # Vietnamese / English
    # openssl reads a rejection
    out = subprocess.run(["openssl", "ts", "-reply", "-in", "/dev/stdin", "-text"],
                         input=tsa.respond(instance.authority, _query(b"x", "sha1")), capture_output=True, timeout=30)
    assert b"Status: Rejected." in out.stdout and b"unrecognized or unsupported algorithm" in out.stdout


def test_policy_is_configurable(settings) -> None:  # noqa: ANN001
    from dataclasses import replace

    from ca.instance import Instance
    from ca.settings import Settings

    assert Settings.from_env({"KYSO_TSA_POLICY_OID": "2.16.704.9.9.1"}).tsa_policy_oid == "2.16.704.9.9.1"
    other = Instance.open(replace(settings, tsa_policy_oid="2.16.704.9.9.1"))
    token = tsp.TimeStampResp.load(tsa.respond(other.authority, _query(b"x", policy="2.16.704.9.9.1")))
    assert token["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed["policy"].dotted == \
        "2.16.704.9.9.1"
    refused = core.Sequence.load(tsa.respond(other.authority, _query(b"x", policy=tsa.DEFAULT_POLICY)))
    assert tsp.PKIStatusInfo.load(refused[0].dump())["fail_info"].native == {"unaccepted_policy"}
