"""``python -m bench verify [--seconds S] [--revoked N] [--connections C]``

Verifications per second of a 1-page PAdES B-LT PDF signed by kyso, side by side in one run:

* kyso ``POST /api/v1/verify`` over HTTP (``kyso serve``, 2 workers; ``wrk`` drives it), the full report:
  integrity, path, kyso-registry revocation, difference analysis, level, Decree 30, messages;
* pyHanko's ``validate_pdf_signature`` in-process, 2 processes, checking revocation from kyso's published CRL
  (hard-fail), i.e. what a verifier without kyso's registry does;
* ``pdfsig`` (poppler), one process per file, 2 at a time (integrity only).

Then ``N`` (default 100,000) revoked certificates are written into kyso's store (bulk SQL), the CRLs re-published,
and the same is measured again; then they are removed and the 0 case is measured once more (A–B–A: the machine is
shared, so the "0 revoked" figure is the mean of the runs before and after, and drift in the other engineers' load
shows as the gap between them, printed below the table). Targets (2 cores): kyso ≥ 100 verifications/s; the 100k
case ≤ 10% more cost.
"""
from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench import _pki


def simple_pdf(text: str = "Cong van so 123/CADN") -> bytes:
    from tests.pdf_factory import make_pdf

    return make_pdf(title=text)


def signed_blt(inst: Any) -> bytes:
    """A B-LT file from kyso's own signing service (HSM key, in-process TSA, DSS)."""
    import dataclasses

    from ca.users import create_user
    from signer.service import SignOptions, sign_pdf

    inst.settings = dataclasses.replace(inst.settings, signing_activation="none")
    with inst.store.write() as s:
        create_user(s, "canbo", "official", "mat-khau-123", full_name="Nguyễn Thị Hằng", org="Công an Đà Nẵng")
    inst.authority.issue(profile="official", subject={"CN": "Nguyễn Thị Hằng", "O": "Công an thành phố Đà Nẵng",
                                                       "C": "VN", "title": "Trưởng phòng",
                                                       "uid": ["CCCD:048190000123"]},
                         keygen="ec-p256", owner="canbo", actor="bench")
    return sign_pdf(inst, "canbo", simple_pdf(), SignOptions(level="B-LT"))


def multipart(pdf: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"vb.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + pdf + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _pyhanko_loop(pdf: bytes, root_der: bytes, crls: list[bytes], seconds: float, out: Any) -> None:
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    root = asn1_x509.Certificate.load(root_der)
    n, deadline = 0, time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < deadline or n < 2:
        emb = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures[0]
        vc = ValidationContext(trust_roots=[root], crls=crls, revocation_mode="hard-fail", allow_fetching=False)
        status = validate_pdf_signature(emb, vc)
        assert status.bottom_line, status.pretty_print_details()
        n += 1
    out.put(n / (time.monotonic() - started))


def pyhanko_rate(pdf: bytes, inst: Any, seconds: float, procs: int = 2) -> float:
    from cryptography.hazmat.primitives import serialization

    from ca import revocation

    root = inst.authority.ca_cert("root").public_bytes(serialization.Encoding.DER)
    crls = [revocation.current_crl(inst.authority, "issuing"), revocation.current_crl(inst.authority, "issuing", True),
            revocation.current_crl(inst.authority, "root")]
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=_pyhanko_loop, args=(pdf, root, crls, seconds, q)) for _ in range(procs)]
    for p in ps:
        p.start()
    rates = [q.get() for _ in ps]
    for p in ps:
        p.join()
    return sum(rates)


def pdfsig_rate(pdf: bytes, workdir: Path, seconds: float) -> float:
    path = workdir / "blt.pdf"
    path.write_bytes(pdf)
    n, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        a = subprocess.Popen(["pdfsig", str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        b = subprocess.Popen(["pdfsig", str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for p in (a, b):
            out = p.communicate()[0]
            assert b"Signature is Valid" in out
        n += 2
    return n / (time.monotonic() - started)


def _process_tree(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (a process that ended is not counted)."""
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def kyso_rate(url: str, pdf: bytes, seconds: int, connections: int, workdir: Path,
              server_pid: int | None = None) -> tuple[float, float | None]:
    """Verifications per second over HTTP, and the CPU milliseconds all kyso processes (web workers and their
    verification processes) spent per verification meanwhile: a cost figure that the other engineers' load on the
    shared cores moves much less than the rate."""
    import requests

    body, ctype = multipart(pdf)
    first = requests.post(url + "/api/v1/verify", data=body, headers={"Content-Type": ctype}, timeout=60)
    report = first.json()
    sig = report["signatures"][0]
    assert (sig["indication"], sig["level"]) == ("TOTAL_PASSED", "B-LT"), report
    for _ in range(20):  # warm every verification process
        requests.post(url + "/api/v1/verify", data=body, headers={"Content-Type": ctype}, timeout=60)
    before = {p: _cpu_seconds([p]) for p in _process_tree(server_pid)} if server_pid else {}
    started = time.monotonic()
    rate = _pki.wrk(url + "/api/v1/verify", body, ctype, seconds=seconds, connections=connections, workdir=workdir)
    done = rate * (time.monotonic() - started)
    if not server_pid or not done:
        return rate, None
    spent = sum(_cpu_seconds([p]) - before.get(p, 0.0) for p in _process_tree(server_pid))  # new ones from 0
    return rate, spent / done * 1000


def remove_revoked(inst: Any, serials: list[int]) -> None:
    """Take the bulk-inserted certificates out again (they have consecutive ids) and re-publish the CRLs. Foreign
    keys are not checked for these placeholder rows (nothing refers to them; checking would scan the table once per
    deleted row through the unindexed ``certificates.issuer_id``)."""
    from ca import crl

    raw = inst.authority.store.engine.raw_connection()
    try:
        cur = raw.cursor()
        first = cur.execute("SELECT id FROM certificates WHERE serial = ?", (format(serials[0], "x"),)).fetchone()[0]
        last = first + len(serials) - 1
        cur.execute("PRAGMA foreign_keys = OFF")
        cur.execute("BEGIN IMMEDIATE")
        cur.execute("DELETE FROM revocations WHERE certificate_id BETWEEN ? AND ?", (first, last))
        cur.execute("DELETE FROM certificates WHERE id BETWEEN ? AND ?", (first, last))
        cur.execute("COMMIT")
        cur.execute("PRAGMA foreign_keys = ON")
    finally:
        raw.close()
    crl.publish_all(inst.authority)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench verify")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--revoked", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2, help="kyso serve --workers")
    ap.add_argument("--verify-workers", type=int, default=1, help="verification processes per web worker")
    args = ap.parse_args(argv)
    home = _pki.temp_home("kyso-bench-verify-")
    server = None
    try:
        inst = _pki.new_instance(home)
        pdf = signed_blt(inst)
        print(f"B-LT file: {len(pdf):,} bytes; measuring {args.seconds} s per cell …", file=sys.stderr, flush=True)
        server = _pki.KysoServer(home, args.workers, 2, KYSO_VERIFY_RATE_LIMIT="off",
                                 KYSO_VERIFY_WORKERS=str(args.verify_workers))
        rows: dict[str, list[float]] = {"kyso": [], "pyhanko": [], "pdfsig": []}
        serials: list[int] = []
        cpu_rows: list[float | None] = []
        for phase in ("before", "revoked", "after"):
            if phase == "revoked":
                print(f"inserting {args.revoked:,} revoked certificates …", file=sys.stderr, flush=True)
                serials = _pki.bulk_revoked(inst, args.revoked)
                from ca import crl

                crl.publish_all(inst.authority)
            elif phase == "after":
                print(f"removing the {args.revoked:,} revoked certificates …", file=sys.stderr, flush=True)
                remove_revoked(inst, serials)
            rate, cpu_ms = kyso_rate(server.url, pdf, args.seconds, args.connections, home, server.proc.pid)
            rows["kyso"].append(rate)
            cpu_rows.append(cpu_ms)
            rows["pyhanko"].append(pyhanko_rate(pdf, inst, args.seconds))
            rows["pdfsig"].append(pdfsig_rate(pdf, home, args.seconds))
        names = {"kyso": f"kyso POST /api/v1/verify (HTTP, {args.workers} workers, full report)",
                 "pyhanko": "pyHanko validate_pdf_signature + kyso CRL (in-process, 2 procs)",
                 "pdfsig": "pdfsig (process per file, 2 at a time; integrity only)"}
        base = {k: (v[0] + v[2]) / 2 for k, v in rows.items()}
        table = []
        for key, (before, loaded, after) in rows.items():
            table.append([names[key], f"{base[key]:,.1f}", f"{loaded:,.1f}", f"{(base[key] / loaded - 1) * 100:+.1f}%",
                          f"{base['kyso'] / base[key]:.2f}×" if key != "kyso" else "1.00×"])
        print(_pki.table(["verifier", "verif./s (0 revoked)", f"verif./s ({args.revoked:,} revoked)",
                          "cost with revocations", "kyso ÷ this (0 revoked)"], table))
        print("\nA–B–A runs (0 revoked before · revoked · 0 revoked after): " + "; ".join(
            f"{key} {v[0]:,.1f} · {v[1]:,.1f} · {v[2]:,.1f}" for key, v in rows.items()))
        cost = (base["kyso"] / rows["kyso"][1] - 1) * 100
        cpu_cost = None
        if all(c is not None for c in cpu_rows):
            cpu_base = (cpu_rows[0] + cpu_rows[2]) / 2
            cpu_cost = (cpu_rows[1] / cpu_base - 1) * 100
            print(f"kyso CPU per verification (all its processes): {cpu_rows[0]:.1f} · {cpu_rows[1]:.1f} · "
                  f"{cpu_rows[2]:.1f} ms — 100k case {cpu_cost:+.1f}% vs the mean of the 0 runs; "
                  f"at this cost 2 idle cores would give ~{2000 / cpu_base:.0f} verif./s")
        judged = cpu_cost if cpu_cost is not None else cost
        ok = base["kyso"] >= 100 and judged <= 10
        print(f"targets: ≥ 100 verif./s — {base['kyso']:.0f}; 100k case ≤ +10% cost — {judged:+.1f}% "
              f"({'CPU per verification' if cpu_cost is not None else 'rate'}; by rate {cost:+.1f}%): "
              f"{'met' if ok else 'NOT met'}")
        return 0
    finally:
        if server is not None:
            server.stop()
        if os.environ.get("KYSO_BENCH_KEEP") != "1":
            _pki.cleanup(home)
