"""``python -m bench hsm``: raw signatures/s through the KeyStore, beside a bare python-pkcs11 loop and
``openssl speed``, for 1 and 2 processes, in one run.

All three sign the same thing: a SHA-256 digest (RSA: PKCS#1 v1.5 over the DigestInfo, ``CKM_RSA_PKCS``; EC:
``CKM_ECDSA``). The KeyStore path also hashes the message and DER-encodes ECDSA signatures, which is the work a
caller really needs; the bare loop gets a precomputed input. Each process is *spawned* and opens PKCS#11 itself.
This module imports ``pkcs11`` directly, on purpose: the bare loop is the peer we compare against.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ALGS = {"rsa2048": "rsa2048", "rsa3072": "rsa3072", "ec-p256": "ecdsap256"}
PIN = "bench-pin-1234"
_DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")


def _make_token(home: Path, module: str) -> Path:
    from hsm import softhsm
    from ca.instance import _softhsm_template

    conf = softhsm.write_config(_softhsm_template(), home / "softhsm2.conf", home / "tokens")
    softhsm.create_token(conf, "bench", PIN, "bench-so-pin-1234")
    return conf


def _worker(kind: str, module: str, conf: str, label: str, seconds: float, barrier, out) -> None:  # noqa: ANN001
    os.environ["SOFTHSM2_CONF"] = conf
    if kind == "keystore":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding

        from hsm import KeyStore

        key = KeyStore(module, "bench", PIN).private_key(label)
        if label.startswith("ec"):
            def one(data: bytes) -> None:
                key.sign(data, ec.ECDSA(hashes.SHA256()))
        else:
            pad = padding.PKCS1v15()

            def one(data: bytes) -> None:
                key.sign(data, pad, hashes.SHA256())
    else:
        import pkcs11
        from pkcs11 import Mechanism, ObjectClass

        session = pkcs11.lib(module).get_token(token_label="bench").open(user_pin=PIN)
        priv = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
        digest = hashlib.sha256(b"kyso bench").digest()
        if label.startswith("ec"):
            def one(data: bytes) -> None:
                priv.sign(digest, mechanism=Mechanism.ECDSA)
        else:
            payload = _DIGEST_INFO_SHA256 + digest

            def one(data: bytes) -> None:
                priv.sign(payload, mechanism=Mechanism.RSA_PKCS)
    for _ in range(20):
        one(b"warm-up")
    barrier.wait()
    n = 0
    data = b"kyso bench"
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        one(data)
        n += 1
    out.put(n / seconds)


def _run(kind: str, procs: int, module: str, conf: Path, label: str, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    ps = [ctx.Process(target=_worker, args=(kind, module, str(conf), label, seconds, barrier, out)) for _ in range(procs)]
    for p in ps:
        p.start()
    rates = [out.get(timeout=seconds + 120) for _ in ps]
    for p in ps:
        p.join()
    return sum(rates)


def _openssl(alg: str, procs: int, seconds: int) -> float:
    cmd = ["openssl", "speed", "-seconds", str(seconds)]
    if procs > 1:
        cmd += ["-multi", str(procs)]
    out = subprocess.run(cmd + [ALGS[alg]], capture_output=True, text=True, check=True).stdout
    if alg.startswith("rsa"):
        m = re.search(rf"^rsa\s+{alg[3:]} bits\s+\S+\s+\S+\s+([\d.]+)", out, re.M)
    else:
        m = re.search(r"^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)", out, re.M)
    if not m:
        raise RuntimeError(f"cannot read openssl speed output:\n{out}")
    return float(m.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench hsm", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per cell (medians compared)")
    parser.add_argument("--algorithms", default=",".join(ALGS), help="comma-separated: " + ",".join(ALGS))
    args = parser.parse_args(argv)
    from hsm import KeyStore
    from hsm.softhsm import default_module

    module = default_module()
    home = Path(tempfile.mkdtemp(prefix="kyso-bench-hsm-"))
    try:
        conf = _make_token(home, module)
        os.environ["SOFTHSM2_CONF"] = str(conf)
        store = KeyStore(module, "bench", PIN)
        algs = [a for a in args.algorithms.split(",") if a]
        for alg in algs:
            store.generate(alg, alg)
        rows = []
        for alg in algs:
            for procs in (1, 2):
                ossl = _openssl(alg, procs, max(1, int(args.seconds)))
                # This VM's speed drifts by ±20% from one second to the next: interleave the two loops in
                # rounds (bare, KeyStore, bare, KeyStore, …) and compare medians, so drift hits both alike.
                bares, stores = [], []
                for _ in range(args.rounds):
                    bares.append(_run("bare", procs, module, conf, alg, args.seconds / args.rounds))
                    stores.append(_run("keystore", procs, module, conf, alg, args.seconds / args.rounds))
                rows.append((alg, procs, ossl, statistics.median(bares), statistics.median(stores)))
        print(f"\nHSM raw signatures/s (SoftHSM2 {module}, {os.cpu_count()} cores, {args.seconds:g} s per cell, "
              f"median of {args.rounds} interleaved rounds)\n")
        print("| algorithm | processes | openssl speed | bare python-pkcs11 | kyso KeyStore | KeyStore / bare | "
              "KeyStore overhead | 2-process scaling |")
        print("|---|---|---|---|---|---|---|---|")
        one = {}
        for alg, procs, ossl, bare, ks in rows:
            if procs == 1:
                one[alg] = ks
            scaling = f"{ks / one[alg]:.2f}×" if procs == 2 else "—"
            print(f"| {alg} | {procs} | {ossl:,.0f} | {bare:,.0f} | {ks:,.0f} | {ks / bare:.2f} | "
                  f"{(bare / ks - 1) * 100:+.1f}% | {scaling} |")
        print("\nKeyStore overhead = extra time per signature over the bare loop (target ≤ 10%); "
              "2-process scaling = KeyStore at 2 processes ÷ 1 process (target ≥ 1.8×).")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
