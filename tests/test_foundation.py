"""The foundation as a user meets it: `kyso init`, errors on the command line, health, the served app."""
from __future__ import annotations

import concurrent.futures
import os
import stat
import time

import requests
from cryptography import x509

from tests.conftest import OFFICIAL_SUBJECT
from tests.support import clean_env, run_kyso, auth


def test_init_creates_token_pin_and_refuses_to_overwrite(tmp_path) -> None:  # noqa: ANN001
    env = clean_env(KYSO_HOME=str(tmp_path / "home"))
    first = run_kyso("init", "--org", "Bộ Công an", "--admin-password", "mat-khau-qtv-1", "--json", env=env, check=True)
    assert '"root"' in first.stdout
    home = tmp_path / "home"
    for secret in ("token.pin", "token.so-pin", "secret.key"):
        mode = stat.S_IMODE(os.stat(home / secret).st_mode)
        assert mode == 0o600, (secret, oct(mode))
    assert (home / "softhsm2.conf").read_text().count(str(home / "tokens")) == 1
    again = run_kyso("init", env=env)
    assert again.returncode != 0
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and "already exists" in lines[0] and "Traceback" not in again.stderr
    ok = run_kyso("init", "--if-missing", env=env)
    assert ok.returncode == 0 and "existing CA" in ok.stdout
    keys = run_kyso("keys", "list", "--json", env=env, check=True)
    assert keys.stdout.count('"never_extractable": true') == 5


def test_cli_reports_hsm_errors_in_one_line(tmp_path, settings) -> None:  # noqa: ANN001
    base = clean_env(KYSO_HOME=str(settings.home))
    cases = {
        "wrong PIN": dict(base, KYSO_PKCS11_PIN="0000-wrong"),
        "no token": dict(base, KYSO_PKCS11_TOKEN="no-such-token"),
        "no module": dict(base, KYSO_PKCS11_MODULE=str(tmp_path / "missing.so")),
    }
    expected = {"wrong PIN": "PIN", "no token": "token", "no module": "PKCS#11 module"}
    for what, env in cases.items():
        out = run_kyso("keys", "list", env=env)
        assert out.returncode != 0, what
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, (what, out.stderr)
        assert expected[what] in lines[0] and "Traceback" not in out.stderr, (what, lines[0])


def test_health_names_the_failing_hsm(instance, settings) -> None:  # noqa: ANN001
    from dataclasses import replace

    from ca.instance import Instance
    from web.app import create_app

    for broken in (replace(settings, token_label="missing-token"), replace(settings, pkcs11_module="/nope/lib.so")):
        app = create_app(instance=Instance.open(broken))
        resp = app.test_client().get("/api/v1/health")
        assert resp.status_code == 503
        body = resp.get_json()
        assert body["status"] == "error" and body["failing"] == ["hsm"] and body["database"] == "ok"
        assert body["hsm"].startswith("error:")


def test_health_names_a_dead_database(instance, settings, tmp_path) -> None:  # noqa: ANN001
    from dataclasses import replace

    from ca.instance import Instance
    from web.app import create_app

    broken = replace(settings, database_url="postgresql://nobody@127.0.0.1:1/none")
    resp = create_app(instance=Instance.open(broken)).test_client().get("/api/v1/health")
    assert resp.status_code == 503 and resp.get_json()["failing"] == ["database"]


def test_start_page_and_ca_certificates_are_served(live_server, instance) -> None:  # noqa: ANN001
    assert requests.get(live_server.url + "/api/v1/health", timeout=10).json() == \
        {"status": "ok", "hsm": "ok", "database": "ok"}
    page = requests.get(live_server.url + "/", timeout=10)
    assert page.status_code == 200 and "Dịch vụ ký số" in page.text
    der = requests.get(live_server.url + "/pki/root.crt", timeout=10)
    assert der.headers["Content-Type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(der.content) == instance.authority.ca_cert("root")


def test_two_gunicorn_workers_and_four_clients_issue_concurrently(live_server, instance, admin_token, make_user) -> None:  # noqa: ANN001,E501
    """Process workers each open the HSM after fork; concurrent requests sign with the issuing key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])).sign(key, hashes.SHA256())
           .public_bytes(serialization.Encoding.PEM).decode())
    stop = time.monotonic() + 4.0

    def client(n: int) -> list[str]:
        pems = []
        with requests.Session() as http:
            while time.monotonic() < stop:
                r = http.post(live_server.url + "/api/v1/certificates", headers=auth(admin_token), timeout=30,
                              json={"profile": "official", "subject": OFFICIAL_SUBJECT, "csr": csr})
                assert r.status_code == 201, r.text
                pems.append(r.json()["pem"])
        return pems

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = [p for chunk in pool.map(client, range(4)) for p in chunk]
    assert len(results) > 40
    issuing = instance.authority.ca_cert("issuing")
    serials = set()
    for pem in results:
        cert = x509.load_pem_x509_certificate(pem.encode())
        cert.verify_directly_issued_by(issuing)
        serials.add(cert.serial_number)
    assert len(serials) == len(results)
    assert len(live_server.worker_pids()) == 2
    log = live_server.log.read_text(errors="replace")
    assert "Traceback" not in log and "Worker failed" not in log and "SIGSEGV" not in log


def test_kyso_bench_alias_runs_the_hsm_benchmark_with_its_peers(tmp_path) -> None:  # noqa: ANN001
    """`kyso bench hsm` = `python -m bench hsm`: KeyStore beside bare python-pkcs11 and openssl speed, one table."""
    out = run_kyso("bench", "hsm", "--seconds", "0.3", "--algorithms", "ec-p256",
                   env=clean_env(KYSO_HOME=str(tmp_path)), timeout=300, check=True)
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ec-p256 |")]
    assert [r.split("|")[2].strip() for r in rows] == ["1", "2"], out.stdout
    for row in rows:
        cells = [c.strip() for c in row.split("|")[3:6]]  # openssl, bare python-pkcs11, KeyStore
        assert all(float(c.replace(",", "")) > 0 for c in cells), row
    assert run_kyso("bench", "no-such-bench", env=clean_env(KYSO_HOME=str(tmp_path))).returncode == 2


def test_serve_refuses_an_outdated_schema_until_db_upgrade(tmp_path) -> None:  # noqa: ANN001
    """After upgrading kyso, the workers must not meet an older schema: `kyso serve` says to run `kyso db upgrade`."""
    from alembic import command
    from alembic.config import Config

    from ca.store import Store
    from ca.store.db import MIGRATIONS

    env = clean_env(KYSO_HOME=str(tmp_path / "home"))
    run_kyso("init", "--admin-password", "mat-khau-qtv-1", env=env, check=True)
    store = Store(f"sqlite:///{tmp_path / 'home' / 'kyso.db'}")
    current, head = store.schema_revisions()
    assert current == head
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    older, _ = store.schema_revisions()
    assert older != head
    refused = run_kyso("serve", "--port", "1", env=env, timeout=60)
    assert refused.returncode != 0
    line = refused.stderr.strip().splitlines()
    assert len(line) == 1 and "kyso db upgrade" in line[0] and "Traceback" not in refused.stderr
    upgraded = run_kyso("db", "upgrade", env=env, check=True)
    assert f"{older} → {head}" in upgraded.stdout
    assert store.schema_revisions() == (head, head)
    assert "already at" in run_kyso("db", "upgrade", env=env, check=True).stdout
    # the schema change is an admin change: audited once (not the no-op), by the operator, in an intact chain
    from sqlalchemy import select

    from ca.store.models import AuditEvent

    with store.read() as s:
        events = s.execute(select(AuditEvent).where(AuditEvent.action == "db.upgrade")).scalars().all()
    assert [(e.actor.startswith("cli:"), e.details) for e in events] == [(True, {"from": older, "to": head})]
    run_kyso("audit", "verify", env=env, check=True)
    store.dispose()
