"""Revocation as an administrator meets it: the API, the `kyso cert revoke` command, holds and their release,
clear 4xx answers for bad requests, and the audit record committed with the change."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from ca import revocation
from ca.store.models import AuditEvent, Certificate, Crl, Revocation
from tests.conftest import OFFICIAL_SUBJECT
from tests.support import auth, run_kyso


def issue(instance: Any, cn: str = "Nguyễn Thị Hằng") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    subject = dict(OFFICIAL_SUBJECT, CN=cn)
    return instance.authority.issue(profile="official", subject=subject,
                                    csr=csr.public_bytes(serialization.Encoding.PEM), actor="tests").serial


def served_crl(client: Any, path: str = "/pki/issuing.crl") -> x509.CertificateRevocationList:
    resp = client.get(path)
    assert resp.status_code == 200 and resp.mimetype == "application/pkix-crl"
    return x509.load_der_x509_crl(resp.data)


def test_api_revoke_is_committed_audited_and_listed_on_the_crl(instance, client, admin_token) -> None:  # noqa: ANN001
    serial = issue(instance, "Trần Văn Đà Nẵng")
    resp = client.post(f"/api/v1/certificates/{serial}/revoke", headers=auth(admin_token),
                       json={"reason": "keyCompromise", "invalidity_date": "2026-01-02T09:00:00+07:00"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "revoked" and body["reason"] == "keyCompromise"
    assert body["invalidity_date"] == "2026-01-02T02:00:00Z"
    revoked_at = dt.datetime.fromisoformat(body["revoked_at"].replace("Z", "+00:00"))
    # committed: another session sees the revocation, the flag and the audit event
    state, when, reason = revocation.status(instance.authority, int(serial, 16))
    assert (state, when, reason) == ("revoked", revoked_at, "keyCompromise")
    with instance.store.read() as s:
        assert s.execute(select(Certificate.revoked).where(Certificate.serial == serial)).scalar_one() is True
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "cert.revoke", AuditEvent.target == serial)
                          ).scalar_one()
        assert event.actor == "admin" and event.details["reason"] == "keyCompromise"
    # the certificate JSON shows it, and the CRL served now lists it with reason and invalidity date
    shown = client.get(f"/api/v1/certificates/{serial}", headers=auth(admin_token)).get_json()
    assert shown["status"] == "revoked" and shown["revocation_reason"] == "keyCompromise"
    crl = served_crl(client)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == body["crl_number"]
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None and entry.revocation_date_utc == revoked_at
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert entry.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc == \
        dt.datetime(2026, 1, 2, 2, tzinfo=dt.timezone.utc)


def test_bad_revocations_get_clear_4xx_and_change_nothing(instance, client, admin_token, make_user) -> None:  # noqa: ANN001
    serial = issue(instance)
    _, clerk_token = make_user("clerk")
    ok = client.post(f"/api/v1/certificates/{serial}/revoke", headers=auth(admin_token), json={"reason": "superseded"})
    assert ok.status_code == 200
    with instance.store.read() as s:
        before = (s.execute(select(func.count()).select_from(Revocation)).scalar_one(),
                  s.execute(select(func.count()).select_from(AuditEvent)).scalar_one())
    other = issue(instance)
    with instance.store.read() as s:
        before = (before[0], s.execute(select(func.count()).select_from(AuditEvent)).scalar_one())
    cases = [
        (serial, {"reason": "keyCompromise"}, admin_token, 409, "already_revoked"),
        ("ffff0000ffff0000", {"reason": "keyCompromise"}, admin_token, 404, "certificate_not_found"),
        ("không-phải-số", {"reason": "keyCompromise"}, admin_token, 400, "invalid_serial"),
        (other, {"reason": "lý do lạ"}, admin_token, 400, "invalid_reason"),
        (other, {"reason": "removeFromCRL"}, admin_token, 400, "invalid_reason"),
        (other, {"reason": "keyCompromise", "invalidity_date": "hôm qua"}, admin_token, 400, "invalid_invalidity_date"),
        (other, {"reason": "keyCompromise", "invalidity_date": "2099-01-01T00:00:00Z"}, admin_token, 400,
         "invalid_invalidity_date"),
        (other, {"reason": "keyCompromise", "invalidity_date": "2026-01-01T00:00:00"}, admin_token, 400,
         "invalid_invalidity_date"),
        (other, {"reason": "keyCompromise"}, clerk_token, 403, "forbidden"),
    ]
    for target, body, token, status, code in cases:
        resp = client.post(f"/api/v1/certificates/{target}/revoke", headers=auth(token), json=body)
        assert resp.status_code == status, (body, resp.get_json())
        data = resp.get_json()
        assert data["error"] == code, data
        assert data["message_vi"] and data["message_en"]
    resp = client.post(f"/api/v1/certificates/{other}/revoke", headers=auth(admin_token), data="không phải JSON",
                       content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_json"
    assert client.post(f"/api/v1/certificates/{other}/revoke", json={"reason": "keyCompromise"}).status_code == 401
    with instance.store.read() as s:
        after = (s.execute(select(func.count()).select_from(Revocation)).scalar_one(),
                 s.execute(select(func.count()).select_from(AuditEvent)).scalar_one())
    assert after[0] == before[0]
    assert revocation.status(instance.authority, int(other, 16))[0] == "good"
    # the clerk's token use and failed attempts add no revocation events
    with instance.store.read() as s:
        events = s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "cert.revoke", AuditEvent.target == other)).scalar_one()
    assert events == 0


def test_hold_release_and_hold_made_final(instance, client, admin_token) -> None:  # noqa: ANN001
    held = issue(instance, "Lê Thị Hoa")
    resp = client.post(f"/api/v1/certificates/{held}/revoke", headers=auth(admin_token),
                       json={"reason": "certificateHold"})
    assert resp.status_code == 200
    assert revocation.status(instance.authority, int(held, 16))[2] == "certificateHold"
    entry = served_crl(client).get_revoked_certificate_by_serial_number(int(held, 16))
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.certificate_hold
    # holding twice is a conflict; releasing brings it back
    again = client.post(f"/api/v1/certificates/{held}/revoke", headers=auth(admin_token),
                        json={"reason": "certificateHold"})
    assert again.status_code == 409 and again.get_json()["error"] == "already_revoked"
    rel = client.post(f"/api/v1/certificates/{held}/release-hold", headers=auth(admin_token))
    assert rel.status_code == 200 and rel.get_json()["status"] == "valid"
    assert revocation.status(instance.authority, int(held, 16)) == ("good", None, None)
    assert served_crl(client).get_revoked_certificate_by_serial_number(int(held, 16)) is None
    rel2 = client.post(f"/api/v1/certificates/{held}/release-hold", headers=auth(admin_token))
    assert rel2.status_code == 409 and rel2.get_json()["error"] == "not_on_hold"
    # a hold can become a final revocation; RFC 5280 keeps the date of the hold
    first = revocation.revoke(instance.authority, held, "certificateHold", actor="tests")
    final = revocation.revoke(instance.authority, held, "keyCompromise", actor="tests")
    assert final["revoked_at"] == first["revoked_at"] and final["reason"] == "keyCompromise"
    entry = served_crl(client).get_revoked_certificate_by_serial_number(int(held, 16))
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    with instance.store.read() as s:
        actions = list(s.execute(select(AuditEvent.action).where(AuditEvent.target == held)
                                 .order_by(AuditEvent.seq)).scalars())
    assert actions == ["cert.issue", "cert.revoke", "cert.release_hold", "cert.revoke", "cert.revoke"]


def test_cli_revoke_and_publish(instance, kyso_env) -> None:  # noqa: ANN001
    serial = issue(instance, "Phạm Minh Đức")
    out = run_kyso("cert", "revoke", serial, "--reason", "affiliationChanged", "--json", env=kyso_env, check=True)
    data = json.loads(out.stdout)
    assert data["status"] == "revoked" and data["reason"] == "affiliationChanged"
    assert revocation.status(instance.authority, int(serial, 16))[0] == "revoked"
    again = run_kyso("cert", "revoke", serial, "--reason", "keyCompromise", env=kyso_env)
    lines = again.stderr.strip().splitlines()
    assert again.returncode == 2 and len(lines) == 1 and "already revoked" in lines[0] and "đã bị thu hồi" in lines[0]
    bad = run_kyso("cert", "revoke", serial, "--reason", "lost-it", env=kyso_env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    published = json.loads(run_kyso("crl", "publish", "--json", env=kyso_env, check=True).stdout)
    files = {p["file"]: p for p in published}
    assert set(files) == {"issuing.crl", "issuing-delta.crl", "root.crl"}
    assert files["issuing-delta.crl"]["delta_base"] == files["issuing.crl"]["number"]
    assert files["issuing.crl"]["number"] > data["crl_number"]
    on_disk = x509.load_der_x509_crl((instance.settings.crl_dir / "issuing.crl").read_bytes())
    assert on_disk.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == files["issuing.crl"]["number"]
    assert on_disk.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None


def test_status_lookup(instance) -> None:  # noqa: ANN001
    serial = issue(instance)
    assert revocation.status(instance.authority, int(serial, 16)) == ("good", None, None)
    assert revocation.status(instance.authority, 0x1234567) == ("unknown", None, None)
    # the issuing CA's own certificate is known under the root, not under itself
    issuing_serial = instance.authority.ca_cert("issuing").serial_number
    assert revocation.status(instance.authority, issuing_serial, "root")[0] == "good"
    assert revocation.status(instance.authority, issuing_serial)[0] == "unknown"
    many = revocation.status_many(instance.authority, [int(serial, 16), 0x1234567])
    assert many == {int(serial, 16): ("good", None, None), 0x1234567: ("unknown", None, None)}


def test_cli_batch_revocation_publishes_once(instance, kyso_env, tmp_path) -> None:  # noqa: ANN001
    """An incident: many serials from a file (comments, blank lines, an unknown and an already revoked one). Each good
    serial is revoked and audited on its own, the failures are named by line, the CRLs are published ONCE, and
    openssl reads every revoked serial in the new CRL."""
    serials = [issue(instance, name) for name in ("Lê Văn Tám", "Võ Thị Sáu", "Trần Quốc Toản")]
    gone = issue(instance, "Bùi Thị Xuân")
    run_kyso("cert", "revoke", gone, "--reason", "superseded", env=kyso_env, check=True)
    issuing = instance.authority.ca_id("issuing")
    last_number = select(func.max(Crl.number)).where(Crl.issuer_id == issuing)
    with instance.store.read() as s:
        number_before = s.execute(last_number).scalar_one()
    batch = tmp_path / "thu-hoi.txt"
    batch.write_text("# sự cố ngày 22/11: khóa của Phòng Tham mưu bị lộ\n"
                     f"{serials[0]}\n\n{serials[1]}  # Võ Thị Sáu\n0a0b0c0d0e0f\n{gone}\n{serials[2]}\n", encoding="utf-8")
    out = run_kyso("cert", "revoke", "--from-file", str(batch), "--reason", "keyCompromise", "--json", env=kyso_env)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert data["revoked"] == serials
    assert [(f["line"], f["error"]) for f in data["failed"]] == [(5, "certificate_not_found"), (6, "already_revoked")]
    assert all(f["message"] and f["message_vi"] for f in data["failed"])
    with instance.store.read() as s:
        # one full CRL and one delta for the whole batch (per revocation it would have been 2 × 3 numbers)
        assert s.execute(last_number).scalar_one() == number_before + 2
        actions = [a for (a,) in s.execute(select(AuditEvent.action).where(AuditEvent.target.in_(serials)))]
    assert actions.count("cert.revoke") == 3
    full = next(c for c in data["crls"] if c["file"] == "issuing.crl")
    text = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(instance.settings.crl_dir / "issuing.crl"),
                           "-noout", "-text"], capture_output=True, text=True, check=True).stdout
    assert f"X509v3 CRL Number: \n                {full['number']}" in text
    for serial in serials:
        assert serial.upper().lstrip("0") in text.replace(" ", "")
    assert run_kyso("cert", "revoke", "--reason", "keyCompromise", env=kyso_env).returncode == 2  # neither given
