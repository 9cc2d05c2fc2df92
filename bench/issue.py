"""``python -m bench issue``: certificates per second with the SoftHSM issuing key, four ways in one run.

1. **bare** — a loop of ``cryptography.x509.CertificateBuilder(...).sign(hsm_key)``: no validation, no database;
   the ceiling the HSM and the X.509 encoder allow.
2. **Authority.issue** — the Python API, CSR path (parse + proof of possession, subject rules, profile
   extensions), each certificate committed durably (SQLite WAL, ``synchronous=FULL``) with its audit event
   before ``issue`` returns; 1 thread, then several threads (group commit shares transactions between them).
3. **REST** — ``POST /api/v1/certificates`` against the real ``kyso serve`` (gunicorn, process workers), driven
   by ``wrk`` (several client threads and connections) or, without wrk, by Python client threads. A 201 is sent
   only after the certificate's transaction committed. The default is 2 sync workers and 2 connections: one
   request in flight per worker measured the most certificates per CPU-second on 2 cores (threads add GIL and
   lock hand-offs; docs/performance.md). The REST and bare measurements run in interleaved rounds and the
   table shows medians: the CPU speed of this VM drifts by ±20 % from one minute to the next, so the ratio
   REST ÷ bare of each round is the figure that compares runs.
4. **openssl x509 -req** — one ``openssl`` process per certificate with a software CA key of the same size: the
   way shell-script CAs work.

A fresh instance is created in a temporary ``KYSO_HOME`` (``--keep`` keeps it). After the run the benchmark checks
that the database holds at least as many new certificates as 201 answers counted and that the audit chain is intact.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._pki import KYSO, KysoServer, env_for, table

SUBJECT = {"CN": "Nguyễn Thị Hằng", "O": "Công an thành phố Đà Nẵng", "OU": ["Phòng Tham mưu"], "L": "Hải Châu",
           "ST": "Đà Nẵng", "C": "VN", "title": "Trưởng phòng", "uid": ["CCCD:048190000123"]}


def _csr_pem() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM).decode())


def _instance(home: Path, algorithm: str) -> Any:
    for key in [k for k in os.environ if k.startswith("KYSO_") or k == "SOFTHSM2_CONF"]:
        del os.environ[key]
    os.environ["KYSO_HOME"] = str(home)
    from ca.instance import Instance, prepare_home
    from ca.settings import Settings

    inst = Instance.open(prepare_home(Settings.from_env()))
    inst.initialise(org="Bộ Công an", admin_user="admin", admin_password="quan-tri-vien-1",
                    issuing_algorithm=algorithm)
    return inst


def _for(seconds: float, one: Any) -> tuple[int, float]:
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        one()
        n += 1
    return n, time.perf_counter() - start


def _in_threads(run: Any, n: int) -> float:
    """Run ``run(i)`` for i in 0..n-1 in n threads; seconds until all have finished."""
    start = time.perf_counter()
    workers = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - start


def bare(inst: Any, seconds: float) -> float:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    issuer = inst.authority.ca_cert("issuing")
    key = inst.authority.ca_key("issuing")
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, SUBJECT["CN"])])
    now = dt.datetime.now(dt.timezone.utc)

    def one() -> None:
        (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject).public_key(public)
         .serial_number(x509.random_serial_number()).not_valid_before(now)
         .not_valid_after(now + dt.timedelta(days=1095))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
         .add_extension(aki, critical=False)
         .sign(key, hashes.SHA256()))

    n, took = _for(seconds, one)
    return n / took


def authority(inst: Any, seconds: float, threads: int) -> tuple[float, float]:
    auth = inst.authority
    csr = _csr_pem()
    auth.issue(profile="official", subject=SUBJECT, csr=csr, actor="bench")  # warm caches
    groups0, jobs0 = auth._committer.groups, auth._committer.jobs
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def run(i: int) -> None:
        while time.perf_counter() < stop:
            auth.issue(profile="official", subject=SUBJECT, csr=csr, actor="bench")
            counts[i] += 1

    took = _in_threads(run, threads)
    jobs = auth._committer.jobs - jobs0
    groups = max(1, auth._committer.groups - groups0)
    return sum(counts) / took, jobs / groups


def rest_wrk(port: int, body: str, token: str, seconds: float, clients: int, home: Path) -> tuple[int, int, float]:
    script = home / "issue.lua"
    script.write_text("wrk.method = \"POST\"\nwrk.body = " + json.dumps(body) + "\n"
                      "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
                      f"wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n", encoding="utf-8")
    out = subprocess.run(["wrk", "-t", str(max(1, min(clients // 4, 4))), "-c", str(clients), "-d", f"{seconds:.0f}s",
                          "-s", str(script), f"http://127.0.0.1:{port}/api/v1/certificates"],
                         capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"(\d+) requests in ([\d.]+)(m?s)", out).group(1))
    took_m = re.search(r"requests in ([\d.]+)(m?s)", out)
    took = float(took_m.group(1)) / (1000 if took_m.group(2) == "ms" else 1)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    return total - errors, errors, took


def rest_python(port: int, body: str, token: str, seconds: float, clients: int) -> tuple[int, int, float]:
    payload = body.encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    ok = [0] * clients
    bad = [0] * clients
    stop = time.perf_counter() + seconds

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < stop:
            conn.request("POST", "/api/v1/certificates", body=payload, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 201:
                ok[i] += 1
            else:
                bad[i] += 1

    took = _in_threads(run, clients)
    return sum(ok), sum(bad), took


def openssl_per_process(home: Path, seconds: float, bits: int) -> float:
    d = home / "openssl"
    d.mkdir()
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True, cwd=d)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", f"rsa:{bits}", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "3650", "-subj", "/C=VN/O=Bo Cong an/CN=CA openssl")
    (d / "req.csr").write_text(_csr_pem(), encoding="utf-8")
    (d / "ext.cnf").write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,nonRepudiation\n"
                               "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n", encoding="utf-8")
    serial = iter(range(1, 10 ** 9))

    def one() -> None:
        run("openssl", "x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial",
            str(next(serial)), "-days", "1095", "-sha256", "-extfile", "ext.cnf", "-out", "leaf.pem")

    n, took = _for(seconds, one)
    return n / took


def _count(inst: Any) -> int:
    from sqlalchemy import func, select

    from ca.store.models import Certificate

    with inst.store.read() as s:
        return s.execute(select(func.count()).select_from(Certificate)).scalar_one()


def main(argv: list[str] | None = None) -> int:
    import statistics

    p = argparse.ArgumentParser(prog="python -m bench issue", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    p.add_argument("--rounds", type=int, default=3, help="interleaved bare/REST rounds (medians are reported)")
    p.add_argument("--algorithm", default="rsa3072", choices=["rsa3072", "rsa4096", "ec-p384"],
                   help="issuing CA key (in SoftHSM)")
    p.add_argument("--threads", type=int, default=4, help="threads for the multi-threaded Python API run")
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    p.add_argument("--server-threads", type=int, default=1, help="threads per gunicorn worker (1 = sync worker)")
    p.add_argument("--clients", type=int, default=2, help="concurrent HTTP connections")
    p.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument("--keep", action="store_true", help="keep the temporary KYSO_HOME")
    args = p.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="kyso-bench-issue-"))
    server = None
    try:
        inst = _instance(home, args.algorithm)
        print(f"issuing CA key: {args.algorithm} in SoftHSM; {args.seconds:g} s per measurement, "
              f"{args.rounds} rounds", flush=True)
        rows: list[tuple[str, float, str]] = []
        rate, per_group = authority(inst, args.seconds, 1)
        rows.append(("Authority.issue, 1 thread", rate, f"durable commit + audit per certificate; "
                                                        f"{per_group:.1f} certificates per transaction"))
        print(f"  Authority.issue x1: {rate:,.0f}/s", flush=True)
        rate, per_group = authority(inst, args.seconds, args.threads)
        rows.append((f"Authority.issue, {args.threads} threads", rate,
                     f"group commit: {per_group:.1f} certificates per transaction"))
        print(f"  Authority.issue x{args.threads}: {rate:,.0f}/s", flush=True)

        from ca.users import create_token

        with inst.store.write() as s:
            token = create_token(s, "admin", "bench")
        body = json.dumps({"profile": "official", "subject": SUBJECT, "csr": _csr_pem()})

        server = KysoServer(home, args.workers, args.server_threads)
        client = args.client
        if client == "auto":
            client = "wrk" if shutil.which("wrk") else "python"
        before = _count(inst)
        bares: list[float] = []
        rests: list[float] = []
        ok_total = errors_total = 0
        for r in range(args.rounds):
            bares.append(bare(inst, args.seconds))
            if client == "wrk":
                ok, errors, took = rest_wrk(server.port, body, token, args.seconds, args.clients, home)
            else:
                ok, errors, took = rest_python(server.port, body, token, args.seconds, args.clients)
            rests.append(ok / took)
            ok_total += ok
            errors_total += errors
            print(f"  round {r + 1}: bare {bares[-1]:,.0f}/s, REST {rests[-1]:,.0f}/s "
                  f"(÷ bare {rests[-1] / bares[-1]:.2f})", flush=True)
        server.stop()
        server = None
        stored = _count(inst) - before
        base = statistics.median(bares)
        rest_rate = statistics.median(rests)
        ratio = statistics.median(r / b for r, b in zip(rests, bares))
        rows.insert(0, ("bare build + sign (cryptography + HSM key), one core", base, "no checks, no database"))
        rows.append((f"REST POST /api/v1/certificates ({args.workers} workers × {args.server_threads} threads, "
                     f"{args.clients} {client} connections)", rest_rate,
                     f"{ok_total} × 201 and {errors_total} errors; {stored} rows committed; "
                     f"REST ÷ bare per round: median {ratio:.2f}"))
        bits = {"rsa3072": 3072, "rsa4096": 4096}.get(args.algorithm, 3072)
        rate = openssl_per_process(home, args.seconds, bits)
        rows.append((f"openssl x509 -req, one process per certificate (software RSA-{bits})", rate, "no database"))
        print(f"  openssl: {rate:,.0f}/s", flush=True)

        verify = subprocess.run([KYSO, "audit", "verify"], env=env_for(home), capture_output=True, text=True)
        print()
        print(table(["path", "certificates/s", "÷ bare", "÷ REST", "notes"],
                    [[name, f"{r:,.0f}", f"{r / base:.2f}", f"{r / rest_rate:.2f}" if rest_rate else "—", note]
                     for name, r, note in rows]))
        print()
        print(f"target ≥ 500/s over REST on 2 cores: {'met' if rest_rate >= 500 else 'NOT met'} "
              f"(median {rest_rate:,.0f}/s, rounds {', '.join(f'{x:,.0f}' for x in rests)}); "
              f"audit chain: {'intact' if verify.returncode == 0 else 'BROKEN: ' + verify.stderr.strip()}; "
              f"stored ≥ answered: {'yes' if stored >= ok_total else 'NO'}")
        return 0 if verify.returncode == 0 and stored >= ok_total and errors_total == 0 else 1
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"(kept {home})")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
