"""Renewing the OCSP responder and TSA certificates (``kyso ca renew``) on a running two-worker server: a new key in
the HSM under a new label, a new certificate from the issuing CA, and every worker switching within
KYSO_CA_RELOAD_SECONDS — judged by openssl (ocsp, ts -verify). What the old certificates signed stays verifiable,
the verifier still recognises them as kyso's, both keys stay in the token, and the renewal is audited."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import requests
from asn1crypto import tsp, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp as x509_ocsp

from tests.conftest import OFFICIAL_SUBJECT
from tests.support import KYSO, LiveServer, clean_env, run_kyso
from tests.test_ca_bad_input import csr_pem


def _openssl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)


def _tsa_cert(reply: bytes) -> asn1_x509.Certificate:
    token = tsp.TimeStampResp.load(reply)["time_stamp_token"]
    signed = token["content"]
    sid = signed["signer_infos"][0]["sid"].chosen
    return next(c.chosen for c in signed["certificates"] if c.chosen.serial_number == sid["serial_number"].native)


def _leaf_and_chain(env: dict, url: str, tmp_path: Path) -> None:
    """leaf.pem (an official's certificate issued by the CLI), issuing.pem and chain.pem (from the server) in tmp_path."""
    (tmp_path / "leaf.csr").write_text(csr_pem(), encoding="utf-8")
    (tmp_path / "subject.json").write_text(json.dumps(OFFICIAL_SUBJECT, ensure_ascii=False), encoding="utf-8")
    run_kyso("cert", "issue", "--profile", "official", "--csr", str(tmp_path / "leaf.csr"), "--subject-json",
             str(tmp_path / "subject.json"), "-o", str(tmp_path / "leaf.pem"), env=env, check=True)
    pems = {}
    for role in ("root", "issuing"):
        der = requests.get(f"{url}/pki/{role}.crt", timeout=30).content
        pems[role] = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        (tmp_path / f"{role}.pem").write_bytes(pems[role])
    (tmp_path / "chain.pem").write_bytes(pems["issuing"] + pems["root"])


def _ocsp_responder_serial(url: str, tmp_path: Path) -> int:
    """openssl asks ``url`` about leaf.pem and verifies the answer; the serial of the responder certificate in it."""
    out = _openssl("ocsp", "-issuer", str(tmp_path / "issuing.pem"), "-cert", str(tmp_path / "leaf.pem"),
                   "-CAfile", str(tmp_path / "chain.pem"), "-url", f"{url}/ocsp", "-respout", str(tmp_path / "resp.der"))
    assert "Response verify OK" in out.stdout + out.stderr and ": good" in out.stdout, out.stdout + out.stderr
    return x509_ocsp.load_der_ocsp_response((tmp_path / "resp.der").read_bytes()).certificates[0].serial_number


def test_renewing_ocsp_and_tsa_on_a_running_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = clean_env(KYSO_HOME=str(home), KYSO_CA_RELOAD_SECONDS="1")
    run_kyso("init", "--admin-password", "mat-khau-qtv-1", "--org", "Công an thành phố Đà Nẵng", env=env, check=True)
    server = LiveServer(env, workers=2, threads=2)
    try:
        _leaf_and_chain(env, server.url, tmp_path)
        document = tmp_path / "cong-van.txt"
        document.write_text("Công văn số 15/CAĐN, Đà Nẵng", encoding="utf-8")

        def ocsp_responder_serial() -> int:
            return _ocsp_responder_serial(server.url, tmp_path)

        def timestamp(name: str) -> tuple[int, Path]:
            query, reply = tmp_path / f"{name}.tsq", tmp_path / f"{name}.tsr"
            assert _openssl("ts", "-query", "-data", str(document), "-sha256", "-cert", "-out", str(query)
                            ).returncode == 0
            reply.write_bytes(requests.post(f"{server.url}/tsa", data=query.read_bytes(), timeout=30,
                                            headers={"Content-Type": "application/timestamp-query"}).content)
            out = _openssl("ts", "-verify", "-in", str(reply), "-data", str(document), "-CAfile", str(tmp_path / "chain.pem"))
            assert "Verification: OK" in out.stdout, out.stdout + out.stderr
            return _tsa_cert(reply.read_bytes()).serial_number, reply

        old_ocsp = ocsp_responder_serial()
        old_tsa, old_reply = timestamp("before")
        renewed = {role: json.loads(run_kyso("ca", "renew", role, *extra, "--json", env=env, check=True).stdout)
                   for role, extra in (("ocsp", ()), ("tsa", ("--algorithm", "rsa3072")))}  # the TSA moves to RSA
        assert renewed["ocsp"]["algorithm"] == "ec-p256" and renewed["tsa"]["algorithm"] == "rsa3072"
        assert int(renewed["ocsp"]["previous"], 16) == old_ocsp and int(renewed["tsa"]["previous"], 16) == old_tsa
        time.sleep(1.5)  # > KYSO_CA_RELOAD_SECONDS: every worker has looked again
        for i in range(6):  # enough requests for both workers to answer
            assert ocsp_responder_serial() == int(renewed["ocsp"]["serial"], 16)
            assert timestamp(f"after-{i}")[0] == int(renewed["tsa"]["serial"], 16)
        # what the old TSA certificate signed still verifies
        out = _openssl("ts", "-verify", "-in", str(old_reply), "-data", str(document), "-CAfile", str(tmp_path / "chain.pem"))
        assert "Verification: OK" in out.stdout, out.stdout + out.stderr
    finally:
        server.stop()
    # both generations of keys stay in the token; the renewals are audited in an intact chain
    keys = run_kyso("keys", "list", env=env, check=True).stdout
    assert renewed["ocsp"]["label"] in keys and renewed["tsa"]["label"] in keys and keys.count("kyso-tsa-") == 2
    assert run_kyso("audit", "verify", env=env).returncode == 0
    refused = run_kyso("ca", "renew", "issuing", env=env)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    # the verifier knows both TSA certificates as kyso's (a timestamp from before the renewal is kyso's own)
    from ca.authority import Authority
    from ca.settings import Settings
    from ca.store import Store
    from signer.trust import TrustSet

    settings = Settings.from_env(env)
    store = Store(settings.database_url)
    try:
        trust = TrustSet.from_authority(Authority(settings, store, None))
        reply = old_reply.read_bytes()
        assert trust.kyso_role(_tsa_cert(reply)) == "tsa"
        assert trust.kyso_role(_tsa_cert((tmp_path / "after-0.tsr").read_bytes())) == "tsa"
        with store.read() as s:
            from sqlalchemy import select

            from ca.store.models import AuditEvent

            events = s.execute(select(AuditEvent.actor, AuditEvent.target).where(AuditEvent.action == "ca.renew")
                               ).all()
        assert sorted(t for _, t in events) == ["ocsp", "tsa"] and all(a.startswith("cli:") for a, _ in events)
    finally:
        store.dispose()


def test_ca_status_says_when_to_renew_and_renewal_resets_it(tmp_path: Path) -> None:
    """``kyso ca status`` run 600 days from now (libfaketime shifts the process's clock; the CA's 2-year OCSP
    certificate has then used 82 % of its life) says to renew the OCSP certificate and exits 1; after
    ``kyso ca renew ocsp`` on that day it exits 0. At 800 days the old one would have expired."""
    env = clean_env(KYSO_HOME=str(tmp_path / "home"))
    run_kyso("init", "--admin-password", "mat-khau-qtv-1", env=env, check=True)

    def status(days: int) -> tuple[int, dict]:
        out = subprocess.run(["faketime", f"+{days} days", KYSO, "ca", "status", "--json"], env=env,
                             capture_output=True, text=True, timeout=120)
        return out.returncode, {r["role"]: r for r in json.loads(out.stdout)}

    code, now = status(0)
    assert code == 0 and {r["state"] for r in now.values()} == {"ok"} and set(now) == {"root", "issuing", "ocsp", "tsa"}
    code, later = status(600)
    assert code == 1 and later["ocsp"]["state"] == "renew" and later["ocsp"]["renew_with"] == "kyso ca renew ocsp"
    assert {later[r]["state"] for r in ("root", "issuing", "tsa")} == {"ok"}
    assert status(800)[1]["ocsp"]["state"] == "expired"
    renewed = subprocess.run(["faketime", "+600 days", KYSO, "ca", "renew", "ocsp", "--json"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert renewed.returncode == 0, renewed.stderr
    code, after = status(600)
    assert code == 0 and after["ocsp"]["serial"] == json.loads(renewed.stdout)["serial"]
    import datetime as dt

    started = dt.datetime.fromisoformat(after["ocsp"]["not_before"]) - dt.datetime.fromisoformat(now["ocsp"]["not_before"])
    assert dt.timedelta(days=599) < started < dt.timedelta(days=601) and after["ocsp"]["used_percent"] < 1


def test_renewal_reaches_every_node_over_postgresql(postgres_server, tmp_path: Path) -> None:  # noqa: ANN001
    """Two nodes (separate gunicorn masters) over one PostgreSQL database and one token: ``kyso ca renew ocsp`` run
    beside them (a row lock on the role's setting, the switch in one transaction) reaches both within
    KYSO_CA_RELOAD_SECONDS, and every answer after that verifies with openssl under the new responder."""
    from tests.pg import Cluster, init_home

    env = init_home(tmp_path / "home", postgres_server.create_database("renew_nodes"), admin_password="mat-khau-qtv-1",
                    extra={"KYSO_CA_RELOAD_SECONDS": "1"})
    nodes = Cluster(env, nodes=2, workers=1, threads=2)
    try:
        _leaf_and_chain(env, nodes.urls[0], tmp_path)
        old = {_ocsp_responder_serial(url, tmp_path) for url in nodes.urls}
        renewed = json.loads(run_kyso("ca", "renew", "ocsp", "--algorithm", "ec-p384", "--json", env=env,
                                      check=True).stdout)
        assert old == {int(renewed["previous"], 16)} and renewed["algorithm"] == "ec-p384"
        time.sleep(1.5)
        assert {_ocsp_responder_serial(url, tmp_path) for url in nodes.urls * 2} == {int(renewed["serial"], 16)}
    finally:
        nodes.stop()
    assert run_kyso("audit", "verify", env=env).returncode == 0
