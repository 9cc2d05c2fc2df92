"""``python -m bench tsa``: RFC 3161 timestamp tokens per second, kyso's TSA over HTTP (``kyso serve``, POST /tsa,
hammered by ``wrk``; every token freshly signed with the TSA's P-256 key in SoftHSM) and in-process
(``ca.tsa.respond``), beside ``openssl ts -reply`` (software P-256 key; one process per token, as the tool is
used, run 2 at a time on the 2 cores), in one run. Every answer is checked once with ``openssl ts -verify``.

    python -m bench tsa
    python -m bench tsa --seconds 5
"""
from __future__ import annotations

import argparse
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from bench._pki import KysoServer, cleanup, new_instance, openssl_ca, table, temp_home, wrk


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench tsa")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--openssl-tokens", type=int, default=400)
    args = ap.parse_args(argv)

    from ca import tsa

    home = temp_home("kyso-bench-tsa-")
    server = None
    try:
        inst = new_instance(home)
        auth = inst.authority
        (home / "data.txt").write_text("Quyết định 123/QĐ-BCA", encoding="utf-8")
        query = home / "q.tsq"
        subprocess.run(["openssl", "ts", "-query", "-data", str(home / "data.txt"), "-sha256", "-cert", "-out",
                        str(query)], check=True, capture_output=True)
        chain = home / "chain.pem"
        chain.write_text(auth.chain_pem())
        reply = home / "r.tsr"
        reply.write_bytes(tsa.respond(auth, query.read_bytes()))
        ok = subprocess.run(["openssl", "ts", "-verify", "-in", str(reply), "-queryfile", str(query), "-CAfile",
                             str(chain)], capture_output=True, text=True)
        assert "Verification: OK" in ok.stdout, ok.stdout + ok.stderr
        body = query.read_bytes()
        results = {}
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < min(args.seconds, 5):
            tsa.respond(auth, body)
            n += 1
        results["kyso in-process (1 core)"] = n / (time.perf_counter() - t)
        server = KysoServer(home)
        wrk(f"{server.url}/tsa", body, "application/timestamp-query", seconds=2, connections=args.connections,
            workdir=home)
        results["kyso POST /tsa (HTTP)"] = wrk(f"{server.url}/tsa", body, "application/timestamp-query",
                                               seconds=args.seconds, connections=args.connections, workdir=home)
        server.stop()
        server = None
        peer = openssl_ca(home)
        cnf = peer["dir"] / "ts.cnf"
        cnf.write_text(f"[tsa]\ndefault_tsa=peer\n[peer]\nserial={peer['dir']}/tsaserial\nsigner_cert={peer['tsa']}\n"
                       f"signer_key={peer['tsa_key']}\nsigner_digest=sha256\ndefault_policy=1.2.3.4.1\n"
                       "digests=sha256,sha384,sha512\naccuracy=secs:1\ness_cert_id_alg=sha256\n"
                       f"certs={peer['tsa']}\n")
        (peer["dir"] / "tsaserial").write_text("01\n")

        def one(i: int) -> None:
            subprocess.run(["openssl", "ts", "-reply", "-config", str(cnf), "-queryfile", str(query), "-out",
                            str(peer["dir"] / f"r{i % 2}.tsr")], check=True, capture_output=True)
        t = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(one, range(args.openssl_tokens)))
        results["openssl ts -reply (process per token, 2 at a time)"] = args.openssl_tokens / (time.perf_counter() - t)
        base = results["openssl ts -reply (process per token, 2 at a time)"]
        print(f"\nTSA: wrk -t2 -c{args.connections} -d{args.seconds}s POST /tsa (certReq, nonce), kyso serve with 2 "
              "workers; 2 cores shared with the client.")
        print(table(["TSA", "tokens/s", "vs openssl"],
                    [[name, f"{v:,.0f}", f"{v / base:.1f}×"] for name, v in results.items()]))
    finally:
        if server is not None:
            server.stop()
        cleanup(home)
    return 0
