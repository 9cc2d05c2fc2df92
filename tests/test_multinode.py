"""Two kyso nodes (separate `kyso serve` gunicorn masters, 2 process workers each, on their own ports) over ONE
PostgreSQL database and ONE SoftHSM token, under concurrent requests spread over both nodes.

Judged from outside the nodes: the database itself (serials, CRL rows, audit rows, through SQL), every CRL parsed
with cryptography, OCSP answers parsed with cryptography, and `kyso audit verify` (exit code).
"""
from __future__ import annotations

import concurrent.futures
import itertools
import threading
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
from sqlalchemy import create_engine, text

from ca.store.db import normalise_url
from tests.conftest import OFFICIAL_SUBJECT
from tests.pg import Cluster, init_home
from tests.support import ADMIN_PASSWORD, auth, run_kyso
from tests.test_pg_ca import csr_pem


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
    token = run_kyso("token", "create", "admin", env=env, check=True).stdout.strip().split()[-1]
    nodes = Cluster(env, nodes=2, workers=2, threads=4)
    engine = create_engine(normalise_url(url))
    try:
        yield {"env": env, "nodes": [Node(u) for u in nodes.urls], "token": token, "db": engine,
               "cluster": nodes}
    finally:
        nodes.stop()
        engine.dispose()


def sql(cluster: dict, query: str, **params: Any) -> list:
    with cluster["db"].connect() as conn:
        return list(conn.execute(text(query), params))


def audit_count(cluster: dict, action: str) -> int:
    return sql(cluster, "SELECT count(*) FROM audit_events WHERE action = :a", a=action)[0][0]


def run_concurrently(jobs: list[Callable[[], Any]], threads: int = 8) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return [f.result() for f in [pool.submit(job) for job in jobs]]


def issue_on(node: Node, token: str, cn: str) -> str:
    body = {"profile": "official", "subject": dict(OFFICIAL_SUBJECT, CN=cn), "csr": csr_pem(cn).decode()}
    resp = node.http.post(node.url + "/api/v1/certificates", json=body, headers=auth(token), timeout=60)
    assert resp.status_code == 201, (node.url, resp.status_code, resp.text[:300])
    return resp.json()["serial"]


def test_concurrent_issuance_on_two_nodes_never_repeats_a_serial_nor_loses_an_audit_event(cluster) -> None:  # noqa: ANN001
    nodes, token = cluster["nodes"], cluster["token"]
    before = audit_count(cluster, "cert.issue")
    names = [f"Nguyễn Thị Hằng {i}" for i in range(40)]
    rr = itertools.cycle(nodes)
    jobs = [lambda n=next(rr), cn=cn: issue_on(n, token, cn) for cn in names]
    serials = run_concurrently(jobs)
    assert len(set(serials)) == len(serials) == len(names)
    dupes = sql(cluster, "SELECT serial, count(*) FROM certificates GROUP BY serial HAVING count(*) > 1")
    assert dupes == []
    stored = {r[0] for r in sql(cluster, "SELECT serial FROM certificates WHERE serial = ANY(:s)", s=serials)}
    assert stored == set(serials)
    assert audit_count(cluster, "cert.issue") - before == len(serials)
    # every node sees what the other wrote, at once
    for node in nodes:
        for serial in serials[:5]:
            resp = node.http.get(f"{node.url}/api/v1/certificates/{serial}", headers=auth(token), timeout=30)
            assert resp.status_code == 200 and resp.json()["subject"]["CN"].startswith("Nguyễn Thị Hằng")
    verify = run_kyso("audit", "verify", env=cluster["env"])
    assert verify.returncode == 0, verify.stdout + verify.stderr
