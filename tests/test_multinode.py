"""Two kyso nodes (separate `kyso serve` gunicorn masters, 2 process workers each, on their own ports) over ONE
PostgreSQL database and ONE SoftHSM token, under concurrent issuance, revocation, CRL issuance and signing spread
over both nodes (and `kyso crl publish` from the command line as a third process).

Judged from outside the nodes: the database itself through SQL (serials, audit rows; every CRL ever inserted is
copied by a PostgreSQL trigger the test installs, so none escapes the check although kyso prunes old CRL rows), every
CRL parsed and its signature checked with cryptography, OCSP answers parsed with cryptography, and `kyso audit
verify` (exit code). The OCSP bound is zero: node B must answer "revoked" the moment node A has answered the
revocation, with its response cache warmed beforehand.
"""
from __future__ import annotations

import base64
import concurrent.futures
import itertools
import threading
from typing import Any, Callable

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import create_engine, text

from ca.store.db import normalise_url
from tests.conftest import OFFICIAL_SUBJECT
from tests.pdf_factory import make_pdf
from tests.pg import Cluster, init_home
from tests.support import ADMIN_PASSWORD, auth, run_kyso
from tests.test_pg_ca import csr_pem

CRL_LOG = """
CREATE TABLE test_crl_log (id bigserial PRIMARY KEY, issuer_id integer, number bigint, delta_base bigint, der bytea);
CREATE FUNCTION test_log_crl() RETURNS trigger AS $$
BEGIN
  INSERT INTO test_crl_log (issuer_id, number, delta_base, der) VALUES (NEW.issuer_id, NEW.number, NEW.delta_base, NEW.der);
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_crl_log AFTER INSERT ON crls FOR EACH ROW EXECUTE FUNCTION test_log_crl();
"""


class Node:
    """One node seen by a client: its base URL and an HTTP session (connection pool) per thread."""

    def __init__(self, url: str):
        self.url = url
        self._local = threading.local()

    @property
    def http(self) -> requests.Session:
        s = getattr(self._local, "s", None)
        if s is None:
            s = self._local.s = requests.Session()
        return s


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory) -> Any:  # noqa: ANN001
    url = postgres_server.create_database("multinode")
    home = tmp_path_factory.mktemp("multinode-home")
    env = init_home(home, url, admin_password=ADMIN_PASSWORD, extra={"KYSO_SIGNING_ACTIVATION": "none"})
    postgres_server.psql(CRL_LOG, "multinode")
    token = run_kyso("token", "create", "admin", env=env, check=True).stdout.strip().split()[-1]
    run_kyso("user", "add", "hang", "--role", "official", "--password", "mat-khau-123", "--full-name",
             "Nguyễn Thị Hằng", "--org", "Công an thành phố Đà Nẵng", env=env, check=True)
    official = run_kyso("token", "create", "hang", env=env, check=True).stdout.strip().split()[-1]
    nodes = Cluster(env, nodes=2, workers=2, threads=4)
    engine = create_engine(normalise_url(url))
    try:
        ctx = {"env": env, "nodes": [Node(u) for u in nodes.urls], "token": token, "official": official,
               "db": engine, "cluster": nodes}
        first = ctx["nodes"][0]
        resp = first.http.post(first.url + "/api/v1/certificates", headers=auth(token), timeout=60, json={
            "profile": "official", "subject": OFFICIAL_SUBJECT, "keygen": {"algorithm": "ec-p256"}, "owner": "hang"})
        assert resp.status_code == 201, resp.text
        yield ctx
    finally:
        nodes.stop()
        engine.dispose()


def sql(cluster: dict, query: str, **params: Any) -> list:
    with cluster["db"].connect() as conn:
        return list(conn.execute(text(query), params))


def audit_counts(cluster: dict) -> dict[str, int]:
    return dict(sql(cluster, "SELECT action, count(*) FROM audit_events GROUP BY action"))


def run_concurrently(jobs: list[Callable[[], Any]], threads: int = 8) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return [f.result() for f in [pool.submit(job) for job in jobs]]


def issue_on(node: Node, token: str, cn: str) -> str:
    body = {"profile": "official", "subject": dict(OFFICIAL_SUBJECT, CN=cn), "csr": csr_pem(cn).decode()}
    resp = node.http.post(node.url + "/api/v1/certificates", json=body, headers=auth(token), timeout=60)
    assert resp.status_code == 201, (node.url, resp.status_code, resp.text[:300])
    return resp.json()["serial"]


def ocsp_request(node: Node, token: str, serial: str, issuer: x509.Certificate) -> bytes:
    pem = node.http.get(f"{node.url}/api/v1/certificates/{serial}", headers=auth(token), timeout=60).json()["pem"]
    cert = x509.load_pem_x509_certificate(pem.encode())
    return (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
            .public_bytes(serialization.Encoding.DER))


def ocsp_status(node: Node, request_der: bytes, *, get: bool) -> ocsp.OCSPCertStatus:
    if get:
        resp = node.http.get(node.url + "/ocsp/" + base64.b64encode(request_der).decode(), timeout=60)
    else:
        resp = node.http.post(node.url + "/ocsp", data=request_der,
                              headers={"Content-Type": "application/ocsp-request"}, timeout=60)
    assert resp.status_code == 200
    parsed = ocsp.load_der_ocsp_response(resp.content)
    assert parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return parsed.certificate_status


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_two_nodes_under_concurrent_issuance_revocation_crls_and_signing(cluster) -> None:  # noqa: ANN001
    a, b = cluster["nodes"]
    token, official = cluster["token"], cluster["official"]
    issuer = x509.load_der_x509_certificate(a.http.get(a.url + "/pki/issuing.crt", timeout=30).content)
    root = x509.load_der_x509_certificate(a.http.get(a.url + "/pki/root.crt", timeout=30).content)
    audit_before = audit_counts(cluster)
    workers = {node.url: set(node.worker_pids()) for node in cluster["cluster"].nodes}
    log_start = sql(cluster, "SELECT coalesce(max(id), 0) FROM test_crl_log")[0][0]

    # 1. concurrent issuance on both nodes
    rr = itertools.cycle([a, b])
    first = run_concurrently([lambda n=next(rr), i=i: issue_on(n, token, f"Nguyễn Thị Hằng {i}") for i in range(24)])
    to_revoke = first[:12]
    # every node sees every certificate; OCSP caches warmed on both nodes ("good"), GET and POST
    requests_der = {s: ocsp_request(b if i % 2 else a, token, s, issuer) for i, s in enumerate(to_revoke)}
    for node in (a, b):
        for der in requests_der.values():
            assert ocsp_status(node, der, get=True) == ocsp.OCSPCertStatus.GOOD
            assert ocsp_status(node, der, get=False) == ocsp.OCSPCertStatus.GOOD

    # 2. at the same time: revocations (checked at once on the OTHER node), more issuance, signing, CRL issuance
    pdf = make_pdf(1, title="Cong van 15/CADN")
    missed: list[str] = []

    def revoke(i: int, serial: str) -> tuple[str, int]:
        node, other = (a, b) if i % 2 == 0 else (b, a)
        resp = node.http.post(f"{node.url}/api/v1/certificates/{serial}/revoke", headers=auth(token),
                              json={"reason": "keyCompromise"}, timeout=60)
        assert resp.status_code == 200, resp.text
        for get in (True, False):
            if ocsp_status(other, requests_der[serial], get=get) != ocsp.OCSPCertStatus.REVOKED:
                missed.append(f"{serial} via {'GET' if get else 'POST'} on {other.url}")
        return serial, resp.json()["crl_number"]

    def sign(i: int) -> bytes:
        node = a if i % 2 == 0 else b
        resp = node.http.post(node.url + "/api/v1/sign", headers=auth(official), timeout=120,
                              files={"file": ("cong-van.pdf", pdf, "application/pdf")},
                              data={"level": "B-B", "reason": "Phê duyệt", "location": "Đà Nẵng"})
        assert resp.status_code == 200, resp.text[:300]
        assert resp.content.startswith(b"%PDF") and len(resp.content) > len(pdf)
        return resp.content

    def publish() -> None:
        out = run_kyso("crl", "publish", env=cluster["env"], timeout=120)
        assert out.returncode == 0, out.stderr

    def fetch_crls(node: Node) -> list[bytes]:
        return [node.http.get(node.url + path, timeout=60).content
                for path in ("/pki/issuing.crl", "/pki/issuing-delta.crl") for _ in range(3)]

    jobs: list[Callable[[], Any]] = [lambda i=i, s=s: ("revoke", revoke(i, s)) for i, s in enumerate(to_revoke)]
    jobs += [lambda n=next(rr), i=i: ("issue", issue_on(n, token, f"Trần Văn Đức {i}")) for i in range(12)]
    jobs += [lambda i=i: ("sign", sign(i)) for i in range(6)]
    jobs += [lambda: ("publish", publish()) for _ in range(3)]
    jobs += [lambda n=n: ("fetch", fetch_crls(n)) for n in (a, b, a, b)]
    order = list(range(len(jobs)))
    order = order[::2] + order[1::2]  # interleave the kinds
    results = run_concurrently([jobs[i] for i in order], threads=10)
    by_kind: dict[str, list] = {}
    for kind, value in results:
        by_kind.setdefault(kind, []).append(value)

    # no revocation missed by the other node's OCSP, at once
    assert missed == []
    # no serial repeated: in the answers, and in the database
    serials = first + by_kind["issue"]
    assert len(set(serials)) == len(serials) == 36
    assert sql(cluster, "SELECT serial FROM certificates GROUP BY serial HAVING count(*) > 1") == []
    stored = {r[0] for r in sql(cluster, "SELECT serial FROM certificates WHERE serial = ANY(:s)", s=serials)}
    assert stored == set(serials)

    # every CRL issued during the run: valid signature, numbers strictly increasing per issuer in insertion order
    rows = sql(cluster, "SELECT id, issuer_id, number, delta_base, der FROM test_crl_log WHERE id > :i ORDER BY id",
               i=log_start)
    issuers = {r[0]: r[1] for r in sql(cluster, "SELECT role, id FROM certificates WHERE role IN ('root', 'issuing')")}
    keys = {issuers["issuing"]: issuer.public_key(), issuers["root"]: root.public_key()}
    last: dict[int, int] = {}
    full_issuing: list[tuple[int, set[int]]] = []
    for _id, issuer_id, number, delta_base, der in rows:
        crl = x509.load_der_x509_crl(bytes(der))
        assert crl.is_signature_valid(keys[issuer_id])
        assert crl_number(crl) == number
        assert number > last.get(issuer_id, 0), f"CRL number {number} after {last.get(issuer_id)}"
        last[issuer_id] = number
        if delta_base is None and issuer_id == issuers["issuing"]:
            full_issuing.append((number, {e.serial_number for e in crl}))
    revoked = dict(by_kind["revoke"])
    assert len(rows) >= 2 * len(revoked) + 3 * 3  # a full and a delta CRL per revocation, 3 per `crl publish`
    # a full CRL numbered at or after a revocation's own CRL lists it
    for serial, number in revoked.items():
        for full_number, entries in full_issuing:
            if full_number >= number:
                assert int(serial, 16) in entries, (serial, number, full_number)
    # the CRLs nodes served while all this ran: parse, and one number never means two different CRLs
    seen: dict[tuple[bool, int], bytes] = {}
    for batch in by_kind["fetch"]:
        for der in batch:
            crl = x509.load_der_x509_crl(der)
            assert crl.is_signature_valid(issuer.public_key())
            is_delta = any(isinstance(e.value, x509.DeltaCRLIndicator) for e in crl.extensions)
            assert seen.setdefault((is_delta, crl_number(crl)), der) == der
    # both nodes now serve a full CRL listing every revocation
    for node in (a, b):
        crl = x509.load_der_x509_crl(node.http.get(node.url + "/pki/issuing.crl", timeout=30).content)
        assert {int(s, 16) for s in revoked} <= {e.serial_number for e in crl}

    # no audit event lost: one per successful state change, and the chain intact
    after = audit_counts(cluster)
    delta = {k: after.get(k, 0) - audit_before.get(k, 0) for k in after}
    assert delta.get("cert.issue") == 36 and delta.get("cert.revoke") == 12
    assert delta.get("sign.pdf") == 6 and delta.get("crl.publish") == 3
    assert sql(cluster, "SELECT count(*) FROM signature_records")[0][0] >= 6
    verify = run_kyso("audit", "verify", env=cluster["env"])
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # no worker died under it
    for node in cluster["cluster"].nodes:
        assert set(node.worker_pids()) == workers[node.url] and len(workers[node.url]) == 2
        assert "Traceback" not in node.log.read_text(errors="replace")
