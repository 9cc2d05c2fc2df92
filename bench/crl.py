"""``python -m bench crl``: a full CRL of N revoked entries (default 100,000 and 1,000,000) and a delta CRL,
kyso beside its peers in one run.

* kyso — ``ca.crl.issue``: read the pre-encoded entries from SQLite, write the TBSCertList DER, sign it with the
  issuing CA's RSA-3072 key in SoftHSM, store it (database row + file). Also timed apart: build + sign from
  entries already in memory (what the ≤ 2 s target is about).
* cryptography — ``CertificateRevocationListBuilder`` fed a list of ``RevokedCertificate`` (built from the same
  serials), signed by the same HSM key.
* openssl — ``openssl ca -gencrl`` over an index.txt with the same number of revoked lines, software RSA-3072 key.

    python -m bench crl                      # 100k and 1M
    python -m bench crl --sizes 100000
"""
from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import time

from bench._pki import bulk_revoked, cleanup, index_lines, new_instance, openssl_ca, table, temp_home


def _best(fn, repeat: int) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench crl")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-cryptography", action="store_true", help="the slowest peer")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from ca import crl, crl_der, revocation

    home = temp_home("kyso-bench-crl-")
    rows = []
    try:
        inst = new_instance(home)
        auth = inst.authority
        peer = openssl_ca(home)
        loaded = 0
        serials: list[int] = []
        for size in sizes:
            t = time.perf_counter()
            serials += bulk_revoked(inst, size - loaded)
            loaded = size
            print(f"[crl] {size:,} revoked rows loaded in {time.perf_counter() - t:.1f} s", flush=True)
            total = _best(lambda: crl.issue(auth, "issuing"), args.repeat)
            published = crl.issue(auth, "issuing")
            parsed = x509.load_der_x509_crl(published.der)
            assert len(parsed) == size and parsed.is_signature_valid(auth.ca_cert("issuing").public_key())
            # build + sign alone, from entries in memory
            with auth.store.read() as s:
                blob, count = crl._full_entries(s, auth.ca_id("issuing"), auth.store.is_sqlite)
            now = auth.clock().replace(microsecond=0)
            build = _best(lambda: crl_der.build(
                issuer_cert=auth.ca_cert("issuing"), key=auth.ca_key("issuing"), number=10**6, this_update=now,
                next_update=now + dt.timedelta(days=1), entries=blob, idp_url="http://x/issuing.crl",
                only_ca_certs=False), args.repeat)
            del blob
            # delta CRL: 100 revocations since the base
            base = crl.issue(auth, "issuing")
            extra = bulk_revoked(inst, 100)
            with auth.store.write() as s:
                from sqlalchemy import update

                from ca.store.models import Revocation
                s.execute(update(Revocation).where(Revocation.serial.in_([format(x, "x") for x in extra]))
                          .values(changed_at_crl=base.number))
            delta = _best(lambda: crl.issue(auth, "issuing", delta=True), args.repeat)
            d = x509.load_der_x509_crl(crl.issue(auth, "issuing", delta=True).der)
            assert len(d) == 100
            serials += extra
            loaded += 100
            # peer: cryptography's builder (list to the constructor: linear), same HSM key
            crypto = None
            if not args.skip_cryptography:
                def with_cryptography() -> None:
                    when = now
                    revoked = [x509.RevokedCertificateBuilder().serial_number(sv).revocation_date(when)
                               .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
                               .build() for sv in serials[:size]]
                    b = x509.CertificateRevocationListBuilder(
                        issuer_name=auth.ca_cert("issuing").subject, last_update=when,
                        next_update=when + dt.timedelta(days=1), revoked_certificates=revoked)
                    b.add_extension(x509.CRLNumber(1), critical=False).sign(auth.ca_key("issuing"), hashes.SHA256())
                crypto = _best(with_cryptography, 1)
            # peer: openssl ca -gencrl
            d_ssl = peer["dir"]
            (d_ssl / "index.txt").write_text(index_lines(serials[:size], set(serials[:size]), now))
            (d_ssl / "crlnumber").write_text("01\n")
            cnf = d_ssl / "ca.cnf"
            cnf.write_text(f"[ca]\ndefault_ca=peer\n[peer]\ndatabase={d_ssl}/index.txt\ncrlnumber={d_ssl}/crlnumber\n"
                           f"certificate={peer['ca']}\nprivate_key={peer['ca_key']}\ndefault_md=sha256\n"
                           "default_crl_days=1\ncrl_extensions=crl_ext\n[crl_ext]\n"
                           "authorityKeyIdentifier=keyid:always\n")

            def with_openssl() -> None:
                subprocess.run(["openssl", "ca", "-gencrl", "-config", str(cnf), "-out", str(d_ssl / "peer.crl")],
                               check=True, capture_output=True)
            ossl = _best(with_openssl, 1)
            rows.append([f"{size:,}", f"{total:.3f}", f"{build:.3f}", f"{delta * 1000:.1f} ms",
                         f"{crypto:.3f}" if crypto else "—", f"{ossl:.3f}",
                         f"{crypto / total:.1f}×" if crypto else "—", f"{ossl / total:.2f}×",
                         f"{len(published.der) / 1e6:.1f} MB"])
            print(table(["entries", "kyso issue (s)", "kyso build+sign (s)", "kyso delta (100)",
                         "cryptography (s)", "openssl ca -gencrl (s)", "cryptography/kyso", "openssl/kyso", "size"],
                        rows[-1:]), flush=True)
        print("\nkyso issue = read entries from SQLite + build + sign in SoftHSM (RSA-3072) + store row and file;"
              "\nbuild+sign = from entries in memory; peers sign with the same HSM key (cryptography) or a software"
              " key (openssl). Ratios > 1: kyso is faster.")
        print(table(["entries", "kyso issue (s)", "kyso build+sign (s)", "kyso delta (100)", "cryptography (s)",
                     "openssl ca -gencrl (s)", "cryptography/kyso", "openssl/kyso", "size"], rows))
        del revocation
    finally:
        cleanup(home)
    return 0
