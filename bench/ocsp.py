"""``python -m bench ocsp``: OCSP responses per second over HTTP, kyso's responder (``kyso serve``, gunicorn, 2
workers) beside the ``openssl ocsp`` responder (``-index``, ``-port``, ``-multi 2``), both hammered by the same
client (``wrk``, POST ``application/ocsp-request``), in one run.

kyso is measured twice: requests without a nonce (RFC 5019 style, the signed response is reused from the
per-process cache while the statuses read from the database are unchanged) and with a nonce (a fresh ECDSA
signature in SoftHSM for every response). openssl signs every response with a software P-256 key.

    python -m bench ocsp                  # 10 s per run
    python -m bench ocsp --seconds 5 --connections 16
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import time

from bench._pki import (KysoServer, bulk_revoked, cleanup, free_port, index_lines, new_instance, openssl_ca, table,
                        temp_home, wrk)


def _request(issuer_pem: str, serial: int, nonce: bool, out: str) -> bytes:
    args = ["openssl", "ocsp", "-issuer", issuer_pem, "-serial", str(serial), "-reqout", out]
    if not nonce:
        args.append("-no_nonce")
    subprocess.run(args, check=True, capture_output=True)
    with open(out, "rb") as f:
        return f.read()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench ocsp")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--revoked", type=int, default=100_000, help="revoked rows in the database")
    args = ap.parse_args(argv)
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509 import ocsp as x509_ocsp

    from ca import ocsp

    home = temp_home("kyso-bench-ocsp-")
    server = peer_proc = None
    try:
        inst = new_instance(home)
        auth = inst.authority
        serials = bulk_revoked(inst, args.revoked)
        issuing = home / "issuing.pem"
        issuing.write_bytes(auth.ca_cert("issuing").public_bytes(serialization.Encoding.PEM))
        target = serials[len(serials) // 2]
        bodies = {nonce: _request(str(issuing), target, nonce, str(home / f"req-{nonce}.der"))
                  for nonce in (False, True)}
        for body in bodies.values():  # the answers are right before anything is timed
            resp = x509_ocsp.load_der_ocsp_response(ocsp.respond(auth, body))
            assert resp.certificate_status == x509_ocsp.OCSPCertStatus.REVOKED
        server = KysoServer(home, workers=args.workers, threads=args.threads)
        results = {}
        for nonce, body in bodies.items():
            wrk(f"{server.url}/ocsp", body, "application/ocsp-request", seconds=2, connections=args.connections,
                workdir=home)  # warm-up
            results[f"kyso, {'nonce' if nonce else 'no nonce'}"] = wrk(
                f"{server.url}/ocsp", body, "application/ocsp-request", seconds=args.seconds,
                connections=args.connections, workdir=home)
        server.stop()
        server = None
        # the openssl responder over an index of the same size
        peer = openssl_ca(home)
        now = dt.datetime.now(dt.timezone.utc)
        (peer["dir"] / "index.txt").write_text(index_lines(serials, set(serials), now))
        port = free_port()
        peer_log = open(home / "openssl-ocsp.log", "wb")
        peer_proc = subprocess.Popen(
            ["openssl", "ocsp", "-index", str(peer["dir"] / "index.txt"), "-port", str(port), "-rsigner",
             str(peer["ocsp"]), "-rkey", str(peer["ocsp_key"]), "-CA", str(peer["ca"]), "-multi", str(args.workers),
             "-nmin", "60"], stdout=peer_log, stderr=subprocess.STDOUT)  # it calls setsid() itself
        peer_body = _request(str(peer["ca"]), target, True, str(home / "peer-req.der"))
        deadline = time.time() + 90
        while True:
            check = subprocess.run(["openssl", "ocsp", "-issuer", str(peer["ca"]), "-serial", str(target), "-url",
                                    f"http://[::1]:{port}", "-CAfile", str(peer["ca"])],
                                   capture_output=True, text=True)
            if "revoked" in check.stdout or time.time() > deadline:
                break
            time.sleep(0.5)
        assert "revoked" in check.stdout, (check.stdout + check.stderr
                                           + (home / "openssl-ocsp.log").read_text(errors="replace"))
        results["openssl ocsp -multi"] = wrk(f"http://[::1]:{port}/", peer_body, "application/ocsp-request",
                                             seconds=args.seconds, connections=args.connections, workdir=home)
        base = results["openssl ocsp -multi"]
        rows = [[name, f"{rps:,.0f}", f"{rps / base:.2f}×"] for name, rps in results.items()]
        print(f"\nOCSP over HTTP: wrk -t2 -c{args.connections} -d{args.seconds}s, POST, one certificate per request; "
              f"{args.revoked:,} revoked rows / index lines; {args.workers} server processes each; "
              f"{os.cpu_count()} cores shared with the client.")
        print(table(["responder", "responses/s", "vs openssl"], rows))
    finally:
        if server is not None:
            server.stop()
        if peer_proc is not None:  # the responder forks -multi children: end its whole process group
            import signal

            try:
                os.killpg(peer_proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            peer_proc.wait(10)
        cleanup(home)
    return 0
