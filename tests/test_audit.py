"""The audit log as an auditor meets it: `kyso audit verify` (the real command) passes an untouched log and fails,
naming the row, when a row is edited, forged in, deleted from the middle or cut from the end — each tampering done
with plain SQL on a copy of a real CA's database. And every action that changes something leaves its event."""
from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from ca.audit import chain_hash
from ca.errors import Unauthorized
from ca.store.models import AuditEvent, User
from tests.conftest import OFFICIAL_SUBJECT
from tests.support import KYSO, clean_env, run_kyso


@pytest.fixture(scope="module")
def audited_ca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fresh CA made and used through the CLI; its database is the pristine copy every scenario starts from."""
    d = tmp_path_factory.mktemp("audit-ca")
    env = clean_env(KYSO_HOME=str(d / "home"))
    run_kyso("init", "--org", "Bộ Công an", "--admin-password", "mat-khau-qtv-1", env=env, check=True)
    run_kyso("user", "add", "hang.nt", "--role", "official", "--password", "mat-khau-123",
             "--full-name", "Nguyễn Thị Hằng", "--org", "Công an thành phố Đà Nẵng", env=env, check=True)
    run_kyso("token", "create", "hang.nt", env=env, check=True)
    subject = d / "subject.json"
    subject.write_text(json.dumps(OFFICIAL_SUBJECT, ensure_ascii=False), encoding="utf-8")
    csr = d / "req.csr"
    key = ec.generate_private_key(ec.SECP256R1())
    csr.write_bytes(x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
                    .public_bytes(serialization.Encoding.PEM))
    for _ in range(2):
        run_kyso("cert", "issue", "--profile", "official", "--csr", str(csr), "--subject-json", str(subject),
                 env=env, check=True)
    pristine = d / "pristine.db"
    with sqlite3.connect(d / "home" / "kyso.db") as src, sqlite3.connect(pristine) as dst:
        src.backup(dst)
    with sqlite3.connect(pristine) as db:
        last = db.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
    assert last >= 6
    return {"dir": d, "env": env, "pristine": pristine, "last": last}


def _copy(ca: dict[str, Any], name: str) -> Path:
    path = ca["dir"] / f"{name}.db"
    with sqlite3.connect(ca["pristine"]) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    return path


def _row(db: sqlite3.Connection, seq: int) -> AuditEvent:
    seq_, ts, actor, action, target, details, prev, hash_ = db.execute(
        "SELECT seq, ts, actor, action, target, details, prev_hash, hash FROM audit_events WHERE seq = ?",
        (seq,)).fetchone()
    from ca.store.models import UTCDateTime

    when = UTCDateTime().process_result_value(__import__("datetime").datetime.fromisoformat(ts), None)
    return AuditEvent(seq=seq_, ts=when, actor=actor, action=action, target=target, details=json.loads(details),
                      prev_hash=prev, hash=hash_)


def _forge_in_middle(db: sqlite3.Connection, at: int) -> None:
    """A forger who knows the hash rule: renumber the rows after ``at`` and slip in a row correctly chained to
    the one before it."""
    for (seq,) in db.execute("SELECT seq FROM audit_events WHERE seq >= ? ORDER BY seq DESC", (at,)).fetchall():
        db.execute("UPDATE audit_events SET seq = seq + 1 WHERE seq = ?", (seq,))
    before = _row(db, at - 1)
    forged = AuditEvent(seq=at, ts=before.ts, actor="admin", action="cert.revoke", target="00", details={},
                        prev_hash=before.hash, hash="")
    forged.hash = chain_hash(before.hash, forged)
    db.execute("INSERT INTO audit_events (seq, ts, actor, action, target, details, prev_hash, hash) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (at, before.ts.strftime("%Y-%m-%d %H:%M:%S.%f"), "admin", "cert.revoke", "00", "{}", before.hash,
                forged.hash))


def _rechain_from(db: sqlite3.Connection, first: int) -> None:
    """A forger who edits row ``first`` and recomputes every hash after it, head included."""
    db.execute("UPDATE audit_events SET actor = 'ke-gian' WHERE seq = ?", (first,))
    prev = _row(db, first - 1).hash if first > 1 else "0" * 64
    last = db.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
    for seq in range(first, last + 1):
        event = _row(db, seq)
        new_hash = chain_hash(prev, event)
        db.execute("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, new_hash, seq))
        prev = new_hash
    db.execute("UPDATE audit_head SET hash = ? WHERE id = 1", (prev,))


def test_kyso_audit_verify_names_the_tampered_row(audited_ca: dict[str, Any]) -> None:
    last = audited_ca["last"]
    scenarios: dict[str, tuple[Any, int | None, str]] = {
        # name: (tampering, row the report must name, words in the line)
        "untouched": (None, None, ""),
        "edited actor": (lambda db: db.execute("UPDATE audit_events SET actor = 'ke-gian' WHERE seq = 4"), 4,
                         "edited"),
        "edited details": (lambda db: db.execute(
            "UPDATE audit_events SET details = '{\"role\": \"admin\"}' WHERE seq = ?", (last - 2,)), last - 2,
            "edited"),
        "forged row appended": (lambda db: db.execute(
            "INSERT INTO audit_events (seq, ts, actor, action, target, details, prev_hash, hash) "
            "SELECT seq + 1, ts, 'admin', 'user.add', 'ke-gian', '{}', hash, hash FROM audit_events WHERE seq = ?",
            (last,)), last + 1, "beyond the chain head"),
        "forged row in the middle": (lambda db: _forge_in_middle(db, 4), 5, ""),
        "middle row deleted": (lambda db: db.execute("DELETE FROM audit_events WHERE seq = 3"), 3, "deleted"),
        "last rows deleted": (lambda db: db.execute("DELETE FROM audit_events WHERE seq > ?", (last - 2,)),
                              last - 1, "missing at the end"),
        "chain recomputed before a checkpoint": (lambda db: _rechain_from(db, 1), 2, "checkpoint"),
    }
    procs = {}
    for name, (tamper, _, _) in scenarios.items():
        path = _copy(audited_ca, name.replace(" ", "-"))
        if tamper is not None:
            with sqlite3.connect(path) as db:
                tamper(db)
        env = dict(audited_ca["env"], KYSO_DATABASE_URL=f"sqlite:///{path}")
        procs[name] = subprocess.Popen([KYSO, "audit", "verify"], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        _, row, words = scenarios[name]
        assert "Traceback" not in err, (name, err)
        if row is None:
            assert proc.returncode == 0, (name, err)
            assert "intact" in out and f"{last} events" in out
            continue
        assert proc.returncode != 0, (name, out)
        lines = err.strip().splitlines()
        named = [line for line in lines if line.startswith(f"kyso: audit row {row}:")]
        assert named, (name, lines)
        assert any(words in line for line in named), (name, lines)


def test_audit_verify_json_lists_every_problem(audited_ca: dict[str, Any]) -> None:
    path = _copy(audited_ca, "json")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE audit_events SET target = 'khác' WHERE seq = 3")
        db.execute("DELETE FROM audit_events WHERE seq = 5")
    env = dict(audited_ca["env"], KYSO_DATABASE_URL=f"sqlite:///{path}")
    done = run_kyso("audit", "verify", "--json", env=env)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["checkpoints"] >= 1
    assert {p["seq"] for p in report["problems"]} >= {3, 5}


def test_every_action_leaves_an_audit_event(instance, kyso_env, client, admin_token) -> None:  # noqa: ANN001
    from ca.users import login

    with instance.store.read() as s:
        start = s.execute(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    run_kyso("user", "add", "tran.van.binh", "--role", "clerk", "--password", "mat-khau-456",
             "--full-name", "Trần Văn Bình", env={**kyso_env, "SUDO_USER": "nguyen.thi.hang"}, check=True)
    token = run_kyso("token", "create", "tran.van.binh", env={k: v for k, v in kyso_env.items() if k != "SUDO_USER"},
                     check=True).stdout.strip()
    # the CLI names the operator: the OS account (and who invoked sudo) on this host, as `id -un` and `hostname` say
    account = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    host = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()
    operator, via_sudo = f"cli:{account}@{host}", f"cli:nguyen.thi.hang(sudo {account})@{host}"
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    resp = client.post("/api/v1/certificates", headers={"Authorization": f"Bearer {admin_token}"},
                       json={"profile": "official", "subject": OFFICIAL_SUBJECT,
                             "csr": csr.public_bytes(serialization.Encoding.PEM).decode()})
    assert resp.status_code == 201
    serial = resp.get_json()["serial"]
    with instance.store.write() as s:
        assert login(s, "tran.van.binh", "mat-khau-456", instance.authority, address="10.0.0.7").role == "clerk"
    with pytest.raises(Unauthorized):
        with instance.store.write() as s:
            login(s, "tran.van.binh", "sai-mat-khau", instance.authority, address="10.0.0.8")
    with pytest.raises(Unauthorized):
        with instance.store.write() as s:
            login(s, "khong-co-ai", "sai-mat-khau", instance.authority)
    with instance.store.read() as s:
        events = [(e.actor, e.action, e.target, e.details) for e in s.execute(
            select(AuditEvent).where(AuditEvent.seq > start).order_by(AuditEvent.seq)).scalars()]
        failed = s.execute(select(User.failed_logins).where(User.username == "tran.van.binh")).scalar_one()
    actions = [(a, act, t) for a, act, t, _ in events]
    assert (via_sudo[:64], "user.add", "tran.van.binh") in actions
    assert (operator[:64], "token.create", "tran.van.binh") in actions
    assert ("admin", "cert.issue", serial) in actions
    assert ("tran.van.binh", "auth.login", "tran.van.binh") in actions
    assert ("tran.van.binh", "auth.login_failed", "tran.van.binh") in actions  # committed despite the error
    assert ("khong-co-ai", "auth.login_failed", "khong-co-ai") in actions
    assert failed == 1
    issue = next(d for a, act, t, d in events if act == "cert.issue" and t == serial)
    assert "Nguyễn Thị Hằng" in issue["subject"] and issue["profile"] == "official"
    # the token itself is never written to the log, only its public prefix
    token_event = next(d for a, act, t, d in events if act == "token.create")
    assert token not in json.dumps(token_event) and token.startswith(token_event["prefix"])
    verify = run_kyso("audit", "verify", env=kyso_env)
    assert verify.returncode == 0, verify.stderr


def test_audit_api_is_for_auditors_and_admins(client, admin_token, make_user) -> None:  # noqa: ANN001
    _, auditor = make_user("auditor")
    _, official = make_user("official")
    resp = client.get("/api/v1/audit?limit=5", headers={"Authorization": f"Bearer {auditor}"})
    assert resp.status_code == 200
    events = resp.get_json()["events"]
    assert 0 < len(events) <= 5 and [e["seq"] for e in events] == sorted((e["seq"] for e in events), reverse=True)
    assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {admin_token}"}).status_code == 200
    denied = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {official}"})
    assert denied.status_code == 403 and denied.get_json()["error"] == "forbidden"
    assert client.get("/api/v1/audit").status_code == 401
