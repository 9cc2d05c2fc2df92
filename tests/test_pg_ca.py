"""The CA's store behaviours on BOTH databases: every test here runs once on SQLite (the session's CA) and once on
PostgreSQL (a second CA in this process, on a real PostgreSQL server started by the tests, same SoftHSM token).

``db_instance`` is the parametrised fixture; other test modules may import it (``from tests.test_pg_ca import
db_instance``) to run their own helpers on both databases.
"""
from __future__ import annotations

import datetime as dt
import subprocess
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import column, func, select, table
from sqlalchemy.exc import IntegrityError

from ca.errors import KysoError
from ca.store.models import AuditEvent, Certificate, HsmKey, User
from tests.conftest import AGENCY_SUBJECT, OFFICIAL_SUBJECT, new_user
from tests.support import auth

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def db_instance(request: pytest.FixtureRequest) -> Any:
    """The session's CA on SQLite, or the PostgreSQL-backed CA (``pg_instance``)."""
    return request.getfixturevalue("instance" if request.param == "sqlite" else "pg_instance")


def dialect(inst: Any) -> str:
    return inst.store.engine.dialect.name


def counts(inst: Any) -> dict[str, int]:
    with inst.store.read() as s:
        out = {m.__tablename__: s.execute(select(func.count()).select_from(m)).scalar_one()
               for m in (Certificate, HsmKey, AuditEvent, User)}
    out["token_keys"] = len(inst.keystore.list_keys())
    return out


def csr_pem(cn: str = "Nguyễn Thị Hằng") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def test_both_backends_are_what_they_claim_and_at_the_newest_migration(db_instance) -> None:  # noqa: ANN001
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from ca.store.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with db_instance.store.read() as s:
        if dialect(db_instance) == "postgresql":
            assert s.execute(select(func.version())).scalar_one().startswith("PostgreSQL")
        else:
            assert dialect(db_instance) == "sqlite"
        # the schema came from the same Alembic migrations, up to the newest one
        versions = s.execute(select(column("version_num")).select_from(table("alembic_version"))).scalars().all()
    assert versions == [head]


def test_issue_from_csr_and_in_hsm_is_stored_audited_and_readable(db_instance, tmp_path) -> None:  # noqa: ANN001
    auth_ = db_instance.authority
    owner, _ = new_user(db_instance, "official")
    from_csr = auth_.issue(profile="official", subject=OFFICIAL_SUBJECT, csr=csr_pem(), actor="admin")
    in_hsm = auth_.issue(profile="agency", subject=AGENCY_SUBJECT, keygen="ec-p256", owner=owner, actor="admin")
    assert from_csr.serial != in_hsm.serial
    for issued, subject in ((from_csr, OFFICIAL_SUBJECT), (in_hsm, AGENCY_SUBJECT)):
        row = auth_.get(issued.serial)
        assert row.subject["CN"] == subject["CN"] and row.subject["ST"] == "Đà Nẵng"
        assert row.not_before.tzinfo is not None and row.not_before.utcoffset() == dt.timedelta(0)
        cert = x509.load_der_x509_certificate(row.der)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == subject["CN"]
        cert.verify_directly_issued_by(auth_.ca_cert("issuing"))
        # openssl, an outside judge, reads the stored DER and the UTF-8 names
        pem = tmp_path / f"{issued.serial}.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        text = subprocess.run(["openssl", "x509", "-in", str(pem), "-noout", "-subject", "-nameopt", "utf8"],
                              capture_output=True, text=True, check=True).stdout
        assert subject["CN"] in text
    assert auth_.get(in_hsm.serial).owner.username == owner
    assert db_instance.keystore.exists(in_hsm.key_label)
    with db_instance.store.read() as s:
        actions = {e.target: e for e in s.execute(select(AuditEvent).where(AuditEvent.action == "cert.issue"))
                   .scalars()}
    assert "Nguyễn Thị Hằng" in actions[from_csr.serial].details["subject"]
    assert actions[in_hsm.serial].details["key"] == "hsm"


def test_search_finds_vietnamese_names_in_any_case(db_instance) -> None:  # noqa: ANN001
    issued = db_instance.authority.issue(profile="agency", subject=dict(AGENCY_SUBJECT, CN="Công an Đà Nẵng"),
                                         csr=csr_pem(), actor="admin")
    for query in ("Công an Đà Nẵng", "đà nẵng", issued.serial):
        found = [r.serial for r in db_instance.authority.search(q=query, limit=1000)]
        assert issued.serial in found, (dialect(db_instance), query)


BAD_REQUESTS = {
    "garbage CSR": dict(profile="official", subject=OFFICIAL_SUBJECT, csr=b"-----BEGIN CERTIFICATE REQUEST-----\nxx"),
    "unknown profile": dict(profile="no-such-profile", subject=OFFICIAL_SUBJECT, csr=None, keygen="ec-p256",
                            owner="admin"),
    "subject without CN": dict(profile="official", subject={k: v for k, v in OFFICIAL_SUBJECT.items() if k != "CN"},
                               keygen="ec-p256", owner="admin"),
    "keygen without owner": dict(profile="official", subject=OFFICIAL_SUBJECT, keygen="ec-p256"),
    "unknown owner": dict(profile="official", subject=OFFICIAL_SUBJECT, keygen="ec-p256", owner="khong-co-ai"),
    "unknown algorithm": dict(profile="official", subject=OFFICIAL_SUBJECT, keygen="dsa1024", owner="admin"),
    "CSR and keygen": dict(profile="official", subject=OFFICIAL_SUBJECT, keygen="ec-p256", owner="admin"),
}


def test_bad_requests_store_nothing(db_instance) -> None:  # noqa: ANN001
    before = counts(db_instance)
    for what, kwargs in BAD_REQUESTS.items():
        if what == "CSR and keygen":
            kwargs = dict(kwargs, csr=csr_pem())
        with pytest.raises(KysoError) as err:
            db_instance.authority.issue(actor="admin", **kwargs)
        exc = err.value
        assert exc.code and exc.kind in ("invalid", "not_found"), (what, exc.code, exc.kind)
        assert str(exc) and getattr(exc, "vi_message", ""), what
    assert counts(db_instance) == before


def test_api_bad_input_is_a_4xx_json_and_stores_nothing(db_instance) -> None:  # noqa: ANN001
    from ca.users import create_token
    from web.app import create_app

    client = create_app(instance=db_instance, config={"TESTING": True}).test_client()
    with db_instance.store.write() as s:
        token = create_token(s, "admin", "pg-tests")
    before = counts(db_instance)
    bodies = [
        {"profile": "official", "subject": OFFICIAL_SUBJECT, "csr": "không phải CSR"},
        {"profile": "official", "subject": {"CN": "Đà Nẵng" * 40, "O": "Bộ Công an", "C": "VN"}, "csr": csr_pem().decode()},
        {"profile": "official", "subject": OFFICIAL_SUBJECT, "keygen": {"algorithm": "rsa512"}, "owner": "admin"},
        {"profile": "official"},
    ]
    for body in bodies:
        resp = client.post("/api/v1/certificates", json=body, headers=auth(token))
        assert 400 <= resp.status_code < 500, (body, resp.status_code, resp.data[:300])
        data = resp.get_json()
        assert data["error"] and data["message"], data
    resp = client.post("/api/v1/certificates", data=b"{not json", headers=dict(auth(token), **{
        "Content-Type": "application/json"}))
    assert 400 <= resp.status_code < 500
    assert counts(db_instance) == before
    ok = client.post("/api/v1/certificates", json={"profile": "official", "subject": OFFICIAL_SUBJECT,
                                                    "csr": csr_pem().decode()}, headers=auth(token))
    assert ok.status_code == 201, ok.get_json()
    after = counts(db_instance)
    assert after["certificates"] == before["certificates"] + 1 and after["audit_events"] == before["audit_events"] + 1


def test_the_database_refuses_a_repeated_serial(db_instance) -> None:  # noqa: ANN001
    issued = db_instance.authority.issue(profile="official", subject=OFFICIAL_SUBJECT, csr=csr_pem(), actor="admin")
    before = counts(db_instance)
    original = db_instance.authority.get(issued.serial)
    with pytest.raises(IntegrityError):
        with db_instance.store.write() as s:
            db_instance.authority.record(s, "admin", "cert.issue", issued.serial, {"note": "bản sao"})
            s.add(Certificate(serial=original.serial, issuer_id=original.issuer_id, role="end-entity",
                              profile="official", subject_cn="Bản sao", subject={"CN": "Bản sao"},
                              not_before=original.not_before, not_after=original.not_after, der=b"x",
                              fingerprint="0" * 64, created_at=original.created_at, revoked=False))
    # the audit event written in the same transaction rolled back with it
    assert counts(db_instance) == before
