"""Users and API tokens through the real `kyso` command: passwords stored as argon2, tokens shown once and stored
only as their SHA-256 (the database files never contain the token), roles enforced on the certificate endpoints."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from ca.store.models import ApiToken, User
from tests.support import auth, run_kyso


def test_user_add_stores_an_argon2_hash_and_vietnamese_names(instance, kyso_env) -> None:  # noqa: ANN001
    done = run_kyso("user", "add", "le.thi.thu", "--role", "official", "--password", "mat-khau-789",
                    "--full-name", "Lê Thị Thu", "--org", "Công an tỉnh Quảng Nam", "--json", env=kyso_env, check=True)
    assert '"role": "official"' in done.stdout
    with instance.store.read() as s:
        user = s.execute(select(User).where(User.username == "le.thi.thu")).scalar_one()
    assert user.full_name == "Lê Thị Thu" and user.org == "Công an tỉnh Quảng Nam" and user.active
    assert user.password_hash.startswith("$argon2id$") and "mat-khau-789" not in user.password_hash
    again = run_kyso("user", "add", "le.thi.thu", "--role", "clerk", "--password", "mat-khau-789", env=kyso_env)
    assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1 and "exists" in again.stderr
    for bad in (["Lê Thu", "--password", "mat-khau-789"], ["ngan", "--password", "123"]):
        out = run_kyso("user", "add", bad[0], "--role", "clerk", *bad[1:], env=kyso_env)
        assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "Traceback" not in out.stderr


def test_token_is_shown_once_and_only_its_sha256_is_stored(instance, kyso_env, settings, client) -> None:  # noqa: ANN001
    run_kyso("user", "add", "pham.minh.duc", "--role", "auditor", "--password", "mat-khau-321", env=kyso_env,
             check=True)
    token = run_kyso("token", "create", "pham.minh.duc", "--label", "máy kiểm toán", env=kyso_env,
                     check=True).stdout.strip()
    assert token.startswith("kyso_") and len(token) >= 40 and "\n" not in token
    second = run_kyso("token", "create", "pham.minh.duc", env=kyso_env, check=True).stdout.strip()
    assert second != token
    with instance.store.read() as s:
        rows = s.execute(select(ApiToken).join(User).where(User.username == "pham.minh.duc")).scalars().all()
    assert {r.token_hash for r in rows} == {hashlib.sha256(t.encode()).hexdigest() for t in (token, second)}
    assert {r.prefix for r in rows} == {token[:12], second[:12]}
    # nowhere in the database's files (main file and WAL): the secret part is not stored. Read by another
    # process: opening and closing an SQLite file in a process that has it open drops that process's POSIX
    # locks on it (sqlite.org/howtocorrupt.html §2.2), and a CLI run then deletes the WAL under its feet.
    secret = token[12:]
    for path in Path(settings.home).glob("kyso.db*"):
        found = subprocess.run(["grep", "-c", "-a", "-F", "-e", secret, "--", str(path)], capture_output=True, text=True)
        assert found.returncode == 1 and found.stdout.strip() == "0", path
    # and it works, for what an auditor may do
    assert client.get("/api/v1/certificates?limit=1", headers=auth(token)).status_code == 200
    missing = run_kyso("token", "create", "khong-ton-tai", env=kyso_env)
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("role,read,issue", [("admin", 200, None), ("auditor", 200, 403), ("official", 403, 403),
                                             ("clerk", 403, 403)])
def test_roles_on_certificate_endpoints(role, read, issue, client, make_user, admin_token, instance) -> None:  # noqa: ANN001
    _, token = (None, admin_token) if role == "admin" else make_user(role)
    listing = client.get("/api/v1/certificates?q=Nguyễn", headers=auth(token))
    assert listing.status_code == read
    serial = instance.authority.ca_cert("issuing").serial_number
    one = client.get(f"/api/v1/certificates/{format(serial, 'x')}", headers=auth(token))
    assert one.status_code == read
    if read == 200:
        assert one.get_json()["profile"] == "issuing" and "pem" in one.get_json()
    else:
        assert listing.get_json()["error"] == "forbidden"
    if issue is not None:
        resp = client.post("/api/v1/certificates", headers=auth(token), json={"profile": "official"})
        assert resp.status_code == issue


def test_certificate_search_and_paging(client, admin_token, instance) -> None:  # noqa: ANN001
    found = client.get("/api/v1/certificates?q=nguyễn thị", headers=auth(admin_token)).get_json()
    assert all("nguyễn thị" in c["subject"]["CN"].lower() or "nguyễn thị" in c["serial"]
               for c in found["certificates"])
    bad = client.get("/api/v1/certificates?status=maybe", headers=auth(admin_token))
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_status"
    bad = client.get("/api/v1/certificates?limit=nhiều", headers=auth(admin_token))
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_paging"
    missing = client.get("/api/v1/certificates/abc123", headers=auth(admin_token))
    assert missing.status_code == 404 and missing.get_json()["error"] == "certificate_not_found"
    junk = client.get("/api/v1/certificates/xyz!", headers=auth(admin_token))
    assert junk.status_code == 400 and junk.get_json()["error"] == "invalid_serial"
