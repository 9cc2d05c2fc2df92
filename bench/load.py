"""``python -m bench load``: a mixed workload (sign, verify, OCSP, issue) against several kyso nodes on one
PostgreSQL database and one HSM token, for 5 minutes by default.

Set-up, all real and all made by this run: a PostgreSQL server from the Debian binaries (durable: fsync on), a fresh
``KYSO_HOME`` with ``kyso init`` (SoftHSM token, CA hierarchy), ``--nodes`` separate ``kyso serve`` gunicorn masters on
their own ports, an official with a certificate whose key is in the HSM, a signed PDF for verification and a pool of
certificates (some revoked) for OCSP. Client threads then send the mix to the nodes in turn (like a round-robin load
balancer) and every answer is checked (status, content type, OCSP status, signed PDF, verification report).

Printed: per operation the count, throughput, p50 / p99 latency and errors; the memory (RSS) of every gunicorn
worker after warm-up and at the end; and the database checked afterwards (no repeated serial, ``kyso audit
verify`` exit code). The peer, run in the same invocation: the same workload on ONE node over SQLite (the default
single-machine set-up), for ``--peer-duration`` seconds; the table shows the ratio (several nodes / one node).

    python -m bench load                       # 300 s on 2 nodes, then 60 s on the single-node peer
    python -m bench load --duration 10 --peer-duration 5
"""
from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

OPS = ("sign", "verify", "ocsp", "issue")
DEFAULT_MIX = "sign=3,verify=2,ocsp=4,issue=1"
ADMIN_PASSWORD = "quan-tri-vien-1"
SUBJECT = {"CN": "Nguyễn Thị Hằng", "O": "Công an thành phố Đà Nẵng", "OU": ["Phòng Tham mưu"], "L": "Hải Châu",
           "ST": "Đà Nẵng", "C": "VN", "title": "Trưởng phòng", "uid": ["CCCD:048190000123"]}


# -- measurement -------------------------------------------------------------------------------------------------
@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    errors: dict[str, int] = field(default_factory=lambda: {op: 0 for op in OPS})
    samples: list[str] = field(default_factory=list)  # the first few error messages
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, op: str, seconds: float, error: str | None) -> None:
        with self.lock:
            if error is None:
                self.latencies[op].append(seconds)
            else:
                self.errors[op] += 1
                if len(self.samples) < 10:
                    self.samples.append(f"{op}: {error}")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def parse_mix(text: str) -> dict[str, int]:
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in OPS or not weight.strip().isdigit():
            raise SystemExit(f"bench load: --mix takes {','.join(f'{o}=N' for o in OPS)}, not {text!r}")
        mix[name.strip()] = int(weight)
    if not any(mix.values()):
        raise SystemExit("bench load: --mix needs a positive weight")
    return mix


# -- the system under load ---------------------------------------------------------------------------------------
class Deployment:
    """A fresh instance (``kyso init``) and its nodes; ``database_url`` None = the default SQLite database."""

    def __init__(self, root: Path, database_url: str | None, nodes: int, workers: int, threads: int):
        from tests.pg import Cluster
        from tests.support import clean_env, run_kyso

        home = root / "home"
        # every simulated client comes from 127.0.0.1: the per-address limit on the public verify endpoint (meant
        # for one abusive client) would turn the whole load into 429s, so it is off for this deployment
        extra = {"KYSO_SIGNING_ACTIVATION": "none", "KYSO_BASE_URL": "http://127.0.0.1:8080",
                 "KYSO_VERIFY_RATE_LIMIT": "off"}
        if database_url:
            extra["KYSO_DATABASE_URL"] = database_url
        self.env = clean_env(KYSO_HOME=str(home), **extra)
        run_kyso("init", "--org", "Bộ Công an", "--admin-password", ADMIN_PASSWORD, env=self.env, check=True,
                 timeout=300)
        proc = subprocess.run([sys.executable, "-c", "import bench.load as m; m.setup_accounts()"], env=self.env,
                              capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent)
        if proc.returncode != 0:
            raise RuntimeError(f"bench load: set-up of accounts failed: {proc.stderr[-2000:]}")
        tokens = json.loads(proc.stdout)
        self.admin_token, self.official_token = tokens["admin"], tokens["hang"]
        self.cluster = Cluster(self.env, nodes=nodes, workers=workers, threads=threads)
        self.urls = self.cluster.urls

    def stop(self) -> None:
        self.cluster.stop()

    def audit_verify(self) -> int:
        from tests.support import run_kyso

        return run_kyso("audit", "verify", env=self.env, timeout=600).returncode

    def duplicate_serials(self) -> int:
        from sqlalchemy import create_engine, text

        from ca.settings import Settings
        from ca.store.db import normalise_url

        engine = create_engine(normalise_url(Settings.from_env(self.env).database_url))
        try:
            with engine.connect() as conn:
                return len(list(conn.execute(text(
                    "SELECT serial FROM certificates GROUP BY serial HAVING count(*) > 1"))))
        finally:
            engine.dispose()


def setup_accounts() -> None:
    """In a process of its own (the instance's environment): the official who signs, API tokens for the admin and
    the official, each change audited as the ``kyso`` commands would; prints the tokens as JSON."""
    from ca.instance import Instance
    from ca.users import create_token, create_user

    inst = Instance.open()
    with inst.store.write() as s:
        create_user(s, "hang", "official", "mat-khau-123", full_name="Nguyễn Thị Hằng",
                    org="Công an thành phố Đà Nẵng")
        inst.authority.record(s, "bench", "user.add", "hang", {"role": "official"})
        tokens = {name: create_token(s, name, "bench load") for name in ("admin", "hang")}
        for name, token in tokens.items():
            inst.authority.record(s, "bench", "token.create", name, {"prefix": token[:12]})
    print(json.dumps(tokens))


class Workload:
    """Prepared inputs and one checked request per operation."""

    def __init__(self, dep: Deployment, level: str):
        import requests

        self.dep = dep
        self.level = level
        self.requests = requests
        self._local = threading.local()
        from tests.pdf_factory import make_pdf

        self.pdf = make_pdf(2, title="Cong van so 123/CADN-TM")
        admin = {"Authorization": f"Bearer {dep.admin_token}"}
        url = dep.urls[0]
        # the official's signing certificate, key generated in the HSM
        resp = requests.post(url + "/api/v1/certificates", headers=admin, timeout=120, json={
            "profile": "official", "subject": SUBJECT, "keygen": {"algorithm": "ec-p256"}, "owner": "hang"})
        _expect(resp.status_code == 201, f"set-up: issuing the signing certificate: {resp.status_code} {resp.text[:200]}")
        self.signed = self._sign_once(url)
        # certificates for OCSP: a third of them revoked
        self.ocsp_requests: list[tuple[bytes, bool]] = []
        for i in range(12):
            serial = self._issue_once(url, f"Trần Văn Đức {i}")
            revoked = i % 3 == 0
            if revoked:
                r = requests.post(f"{url}/api/v1/certificates/{serial}/revoke", headers=admin,
                                  json={"reason": "affiliationChanged"}, timeout=120)
                _expect(r.status_code == 200, f"set-up: revoke: {r.status_code} {r.text[:200]}")
            self.ocsp_requests.append((self._ocsp_request(url, serial), revoked))

    @property
    def http(self) -> Any:
        s = getattr(self._local, "s", None)
        if s is None:
            s = self._local.s = self.requests.Session()
        return s

    def _ocsp_request(self, url: str, serial: str) -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509 import ocsp

        headers = {"Authorization": f"Bearer {self.dep.admin_token}"}
        cert_pem = self.requests.get(f"{url}/api/v1/certificates/{serial}", headers=headers, timeout=60).json()["pem"]
        issuer = x509.load_der_x509_certificate(self.requests.get(url + "/pki/issuing.crt", timeout=60).content)
        req = ocsp.OCSPRequestBuilder().add_certificate(x509.load_pem_x509_certificate(cert_pem.encode()), issuer,
                                                       hashes.SHA1()).build()
        return req.public_bytes(serialization.Encoding.DER)

    # -- one operation each: returns None when the answer is right, else what was wrong ------------------------
    def _sign_once(self, url: str) -> bytes:
        resp = self.http.post(url + "/api/v1/sign", headers={"Authorization": f"Bearer {self.dep.official_token}"},
                              files={"file": ("cong-van.pdf", self.pdf, "application/pdf")},
                              data={"level": self.level, "reason": "Phê duyệt", "location": "Đà Nẵng"}, timeout=120)
        _expect(resp.status_code == 200 and resp.content.startswith(b"%PDF") and len(resp.content) > len(self.pdf),
                f"sign: {resp.status_code} {resp.text[:200] if resp.status_code != 200 else ''}")
        return resp.content

    def _issue_once(self, url: str, cn: str) -> str:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])).sign(key, hashes.SHA256())
        resp = self.http.post(url + "/api/v1/certificates", headers={"Authorization": f"Bearer {self.dep.admin_token}"},
                              json={"profile": "official", "subject": dict(SUBJECT, CN=cn),
                                    "csr": csr.public_bytes(serialization.Encoding.PEM).decode()}, timeout=120)
        _expect(resp.status_code == 201, f"issue: {resp.status_code} {resp.text[:200]}")
        return resp.json()["serial"]

    def op_sign(self, url: str, rnd: random.Random) -> None:
        self._sign_once(url)

    def op_issue(self, url: str, rnd: random.Random) -> None:
        self._issue_once(url, f"Nguyễn Văn {rnd.randrange(10**6)}")

    def op_verify(self, url: str, rnd: random.Random) -> None:
        resp = self.http.post(url + "/api/v1/verify", files={"file": ("da-ky.pdf", self.signed, "application/pdf")},
                              timeout=120)
        _expect(resp.status_code == 200, f"verify: {resp.status_code} {resp.text[:200]}")
        sigs = resp.json().get("signatures") or []
        _expect(len(sigs) == 1 and sigs[0].get("intact") is True, f"verify: unexpected report {str(sigs)[:200]}")

    def op_ocsp(self, url: str, rnd: random.Random) -> None:
        from cryptography.x509 import ocsp

        body, revoked = rnd.choice(self.ocsp_requests)
        if rnd.random() < 0.5:
            resp = self.http.post(url + "/ocsp", data=body, headers={"Content-Type": "application/ocsp-request"},
                                  timeout=60)
        else:
            resp = self.http.get(url + "/ocsp/" + base64.b64encode(body).decode(), timeout=60)
        _expect(resp.status_code == 200, f"ocsp: HTTP {resp.status_code}")
        parsed = ocsp.load_der_ocsp_response(resp.content)
        _expect(parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, f"ocsp: {parsed.response_status}")
        want = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
        _expect(parsed.certificate_status == want, f"ocsp: {parsed.certificate_status}, expected {want}")


class Wrong(Exception):
    pass


def _expect(ok: bool, message: str) -> None:
    if not ok:
        raise Wrong(message)


def drive(work: Workload, urls: list[str], mix: dict[str, int], clients: int, seconds: float, seed: int) -> Tally:
    tally = Tally()
    ops = [op for op in OPS if mix.get(op)]
    weights = [mix[op] for op in ops]
    stop_at = time.monotonic() + seconds
    counter = iter(range(10**12))
    counter_lock = threading.Lock()

    def client(i: int) -> None:
        rnd = random.Random(seed * 1000 + i)
        while time.monotonic() < stop_at:
            op = rnd.choices(ops, weights)[0]
            with counter_lock:
                url = urls[next(counter) % len(urls)]  # round robin, like the load balancer
            fn: Callable = getattr(work, f"op_{op}")
            start = time.perf_counter()
            try:
                fn(url, rnd)
                error = None
            except Wrong as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - connection errors count as errors too
                error = f"{type(exc).__name__}: {exc}"[:300]
            tally.add(op, time.perf_counter() - start, error)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally


@dataclass
class Phase:
    name: str
    seconds: float
    tally: Tally
    rss_start: dict[int, int]
    rss_end: dict[int, int | None]
    restarted: list[int]
    audit_exit: int
    duplicates: int

    def rate(self, op: str | None = None) -> float:
        n = sum(len(v) for v in self.tally.latencies.values()) if op is None else len(self.tally.latencies[op])
        return n / self.seconds

    @property
    def errors(self) -> int:
        return sum(self.tally.errors.values())


def _say(message: str, t0: float) -> None:
    print(f"bench load: [{time.monotonic() - t0:5.1f} s] {message}", file=sys.stderr, flush=True)


def run_phase(name: str, root: Path, database_url: str | None, args: argparse.Namespace, nodes: int,
              seconds: float) -> Phase:
    t0 = time.monotonic()
    dep = Deployment(root, database_url, nodes, args.workers, args.threads)
    _say(f"{name}: instance initialised, nodes up", t0)
    try:
        work = Workload(dep, args.level)
        _say(f"{name}: inputs prepared", t0)
        mix = parse_mix(args.mix)
        # warm-up: every worker has loaded its keys, fonts, caches
        drive(work, dep.urls, mix, args.clients, min(10.0, max(1.0, seconds / 10)), seed=args.seed + 7)
        pids = [pid for node in dep.cluster.nodes for pid in node.worker_pids()]
        rss_start = {pid: rss_kib(pid) or 0 for pid in pids}
        _say(f"{name}: warmed up; {nodes} node(s) × {args.workers} workers × {args.threads} threads, "
             f"{args.clients} clients, {seconds:.0f} s …", t0)
        started = time.monotonic()
        tally = drive(work, dep.urls, mix, args.clients, seconds, seed=args.seed)
        elapsed = time.monotonic() - started
        rss_end = {pid: rss_kib(pid) for pid in pids}
        now_pids = {pid for node in dep.cluster.nodes for pid in node.worker_pids()}
        restarted = [pid for pid in pids if pid not in now_pids]
    finally:
        dep.stop()
    _say(f"{name}: load done, nodes stopped; checking the database", t0)
    phase = Phase(name, elapsed, tally, rss_start, rss_end, restarted, dep.audit_verify(), dep.duplicate_serials())
    _say(f"{name}: checked", t0)
    return phase


def report(main: Phase, peer: Phase | None, args: argparse.Namespace) -> str:
    lines = [f"`{' '.join(['python -m bench load'] + args.argv)}`", ""]
    head = f"| operation | {main.name}: ops | ops/s | p50 ms | p99 ms | errors |"
    sep = "|---|---:|---:|---:|---:|---:|"
    if peer:
        head += f" {peer.name}: ops/s | p50 ms | p99 ms | errors | ops/s ratio |"
        sep += "---:|---:|---:|---:|---:|"
    lines += [head, sep]
    for op in [o for o in OPS if parse_mix(args.mix).get(o)] + [None]:
        lat = main.tally.latencies[op] if op else [x for v in main.tally.latencies.values() for x in v]
        err = main.tally.errors[op] if op else main.errors
        row = (f"| {op or '**all**'} | {len(lat)} | {main.rate(op):.1f} | {percentile(lat, 50) * 1000:.0f} | "
               f"{percentile(lat, 99) * 1000:.0f} | {err} |")
        if peer:
            plat = peer.tally.latencies[op] if op else [x for v in peer.tally.latencies.values() for x in v]
            perr = peer.tally.errors[op] if op else peer.errors
            ratio = main.rate(op) / peer.rate(op) if peer.rate(op) else float("nan")
            row += (f" {peer.rate(op):.1f} | {percentile(plat, 50) * 1000:.0f} | {percentile(plat, 99) * 1000:.0f} | "
                    f"{perr} | {ratio:.2f}× |")
        lines.append(row)
    lines += ["", "| phase | worker pid | RSS after warm-up MiB | RSS at end MiB | growth MiB |", "|---|---:|---:|---:|---:|"]
    for phase in [main] + ([peer] if peer else []):
        for pid, start in phase.rss_start.items():
            end = phase.rss_end.get(pid)
            lines.append(f"| {phase.name} | {pid} | {start / 1024:.1f} | "
                         + (f"{end / 1024:.1f} | {(end - start) / 1024:+.1f} |" if end else "gone | restarted |"))
    lines.append("")
    for phase in [main] + ([peer] if peer else []):
        lines.append(f"- {phase.name}: {phase.seconds:.0f} s, {phase.errors} errors, repeated serials "
                     f"{phase.duplicates}, `kyso audit verify` exit {phase.audit_exit}, workers restarted "
                     f"{len(phase.restarted)}")
        for sample in phase.tally.samples:
            lines.append(f"  - error: {sample}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of load on the nodes (default 300)")
    parser.add_argument("--peer-duration", type=float, default=None,
                        help="seconds on the single-node SQLite peer (default: a fifth of --duration, ≤ 60; 0 = skip)")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes per node")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"weights (default {DEFAULT_MIX})")
    parser.add_argument("--level", default="B-T", help="PAdES level of the sign operation (default B-T)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the instances' directories (logs) and print where")
    parser.add_argument("--json", dest="json_out", default=None, help="also write the raw numbers to this file")
    args = parser.parse_args(argv)
    args.argv = argv
    parse_mix(args.mix)
    peer_seconds = min(60.0, args.duration / 5) if args.peer_duration is None else args.peer_duration

    from tests.pg import PostgresServer

    root = Path(tempfile.mkdtemp(prefix="kyso-load-"))
    try:
        with PostgresServer(durable=True) as pg:
            url = pg.create_database("kyso_load")
            main_phase = run_phase(f"{args.nodes} nodes, PostgreSQL", root / "nodes", url, args, args.nodes,
                                   args.duration)
        peer = None
        if peer_seconds > 0:
            peer = run_phase("1 node, SQLite", root / "single", None, args, 1, peer_seconds)
    finally:
        if args.keep:
            print(f"bench load: kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    text = report(main_phase, peer, args)
    print(text)
    if args.json_out:
        data = {p.name: {"seconds": p.seconds, "errors": p.errors, "duplicates": p.duplicates,
                         "audit_exit": p.audit_exit,
                         "ops": {op: {"n": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99)}
                                 for op, v in p.tally.latencies.items()},
                         "rss_kib": {str(pid): [s, p.rss_end.get(pid)] for pid, s in p.rss_start.items()}}
                for p in [main_phase] + ([peer] if peer else [])}
        Path(args.json_out).write_text(json.dumps(data, indent=2, ensure_ascii=False))
    phases = [main_phase] + ([peer] if peer else [])
    bad = any(p.errors or p.duplicates or p.audit_exit or p.restarted for p in phases)
    return 1 if bad else 0
