"""``python -m bench sign [--n 40] [--http-n 1000] [--clients 8] [--workers 2] [--threads 4]``: PAdES signing,
kyso beside its peers.

One run measures, for a 1-page and a 100-page PDF:

* kyso in-process (``signer.service.sign_pdf``, key in SoftHSM): B-B and B-LT (DSS with CRLs and OCSP);
* kyso over HTTP: ``POST /api/v1/sign`` against a real ``kyso serve`` (gunicorn, 2 worker processes with
  ``kyso serve``'s default 4 threads each) with concurrent clients, B-B and B-LT; and B-B with TOTP activation
  on (a second server; clerks of one agency sharing its seal certificate, each code used once);
* pyHanko's default path: ``signers.sign_pdf`` with a ``SimpleSigner`` (software RSA-2048 key, no reserved size);
* endesive 3 (``endesive.pdf.cms.sign``, software key);
* the ``pyhanko`` command line (pyhanko-cli), one process per signature.

Prints p50 / p99 latency and signatures per second, ratios against kyso in-process B-B, and what B-LT costs
against B-B (mean time in-process, throughput over HTTP; issue 5's target: ≤ 2×).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import io
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from bench._pki import KysoServer, cleanup, new_instance, table, temp_home


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def software_pki(workdir: Path) -> dict[str, Any]:
    """A software root and RSA-2048 signer (the peers' keys), written as PEM too."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    root_key = rsa.generate_private_key(65537, 3072)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Peer Root")])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name).public_key(root_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True).sign(root_key, hashes.SHA256()))
    key = rsa.generate_private_key(65537, 2048)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nguyễn Thị Hằng")]))
            .issuer_name(root_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), True)
            .sign(root_key, hashes.SHA256()))
    (workdir / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    (workdir / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (workdir / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return {"key": key, "cert": cert, "root": root, "dir": workdir}


def pyhanko_default(pdf: bytes, pki: dict[str, Any]) -> Callable[[], bytes]:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    signer = signers.SimpleSigner.load(str(pki["dir"] / "key.pem"), str(pki["dir"] / "cert.pem"),
                                       ca_chain_files=(str(pki["dir"] / "root.pem"),))

    def run() -> bytes:
        w = IncrementalPdfFileWriter(io.BytesIO(pdf))
        return signers.sign_pdf(w, signers.PdfSignatureMetadata(field_name="Sig1"), signer=signer).getvalue()

    return run


def _endesive_cms() -> Any:
    """``endesive.pdf.cms`` without ``endesive/pdf/__init__.py``: that one imports the verifier, whose oscrypto
    cannot parse OpenSSL "3.0.19" (a known oscrypto bug: one-digit version regex). Signing needs none of it.
    Plus a one-line pypdf compatibility shim (below)."""
    import importlib
    import types

    import endesive

    # endesive 3.0.1 still calls pypdf's write_to_stream(stream, None); pypdf ≥ 6 dropped that argument
    from pypdf import generic

    original = generic.DictionaryObject.write_to_stream
    if not getattr(original, "_kyso_shim", False):
        def write_to_stream(self: Any, stream: Any, *_ignored: Any) -> None:
            original(self, stream)

        write_to_stream._kyso_shim = True  # type: ignore[attr-defined]
        generic.DictionaryObject.write_to_stream = write_to_stream  # type: ignore[method-assign]
    if "endesive.pdf" not in sys.modules:
        pkg = types.ModuleType("endesive.pdf")
        pkg.__path__ = [str(Path(endesive.__file__).parent / "pdf")]
        sys.modules["endesive.pdf"] = pkg
    return importlib.import_module("endesive.pdf.cms")


def endesive_sign(pdf: bytes, pki: dict[str, Any]) -> Callable[[], bytes]:
    cms = _endesive_cms()

    def run() -> bytes:
        dct = {"sigflags": 3, "contact": "hang@example.vn", "location": "Da Nang", "reason": "bench",
               "signingdate": dt.datetime.now(dt.timezone.utc).strftime("D:%Y%m%d%H%M%S+00'00'").encode()}
        return pdf + cms.sign(pdf, dct, pki["key"], pki["cert"], [pki["root"]], "sha256")

    return run


def pyhanko_cli(pdf: bytes, pki: dict[str, Any], workdir: Path) -> Callable[[], bytes]:
    src = workdir / "in.pdf"
    src.write_bytes(pdf)
    exe = str(Path(sys.executable).with_name("pyhanko"))

    def run() -> bytes:
        out = workdir / "out.pdf"
        subprocess.run([exe, "sign", "addsig", "--field", "Sig1", "pemder", "--key", str(pki["dir"] / "key.pem"),
                        "--cert", str(pki["dir"] / "cert.pem"), "--no-pass", str(src), str(out)],
                       check=True, capture_output=True)
        return out.read_bytes()

    return run


def http_run(url: str, token: str, pdf: bytes, level: str, n: int, clients: int) -> tuple[list[float], float]:
    import requests

    local = threading.local()

    def one(_: int) -> float:
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
        t = time.perf_counter()
        r = s.post(url + "/api/v1/sign", files={"file": ("a.pdf", pdf, "application/pdf")}, data={"level": level},
                   headers={"Authorization": f"Bearer {token}"}, timeout=120)
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
        return time.perf_counter() - t

    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        list(ex.map(one, range(clients * 2)))  # warm-up every worker
        t0 = time.perf_counter()
        lat = list(ex.map(one, range(n)))
        wall = time.perf_counter() - t0
    return lat, n / wall


def totp_clerks(inst: Any, count: int) -> list[tuple[str, Any]]:
    """``count`` clerks of one agency (token, pyotp.TOTP) and one agency seal (RSA-2048 in the HSM) they share."""
    import pyotp

    from ca.users import create_token, create_user

    out = []
    with inst.store.write() as s:
        for i in range(count):
            secret = pyotp.random_base32()
            create_user(s, f"vanthu{i}", "clerk", "mat-khau-123", full_name=f"Văn thư {i}", org="Công an TP Đà Nẵng",
                        totp_secret=secret)
            out.append((create_token(s, f"vanthu{i}"), pyotp.TOTP(secret)))
    inst.authority.issue(profile="agency", keygen="rsa2048", owner="vanthu0",
                         subject={"CN": "Công an thành phố Đà Nẵng", "O": "Bộ Công an", "L": "Hải Châu",
                                  "ST": "Đà Nẵng", "C": "VN", "uid": ["MST:0401234567"]})
    return out


def http_totp_run(url: str, clerks: list[tuple[str, Any]], pdf: bytes, clients: int) -> tuple[list[float], float]:
    """Each clerk signs twice in a row, with the codes of the current and the next 30-second step (a code works
    once; the server accepts steps now-1 … now+1, so neither expires in flight): one client thread per clerk at a
    time, ``clients`` threads."""
    import requests

    local = threading.local()

    def clerk(item: tuple[str, Any]) -> list[float]:
        token, totp = item
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
        out, last = [], -1
        for _ in range(2):
            step = max(last + 1, int(time.time() // 30))
            if step > int(time.time() // 30) + 1:
                break
            last = step
            t = time.perf_counter()
            r = s.post(url + "/api/v1/sign", files={"file": ("a.pdf", pdf, "application/pdf")},
                       data={"level": "B-B", "otp": totp.generate_otp(step)},
                       headers={"Authorization": f"Bearer {token}"}, timeout=120)
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
            out.append(time.perf_counter() - t)
        return out

    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        list(ex.map(clerk, clerks[:clients]))  # warm-up
        t0 = time.perf_counter()
        lat = [x for xs in ex.map(clerk, clerks[clients:]) for x in xs]
        wall = time.perf_counter() - t0
    return lat, len(lat) / wall


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench sign")
    ap.add_argument("--n", type=int, default=40, help="signatures per in-process case")
    ap.add_argument("--cli-n", type=int, default=5, help="signatures through the pyhanko command line")
    ap.add_argument("--http-n", type=int, default=1000, help="requests per HTTP case (1-page; 100 pages: a fifth)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    ap.add_argument("--threads", type=int, default=4, help="threads per worker (kyso serve's default: 4)")
    ap.add_argument("--totp-clerks", type=int, default=150, help="clerks signing with TOTP activation (2 codes each)")
    args = ap.parse_args(argv)

    from dataclasses import replace

    from ca.instance import Instance
    from ca.users import create_token, create_user
    from signer.service import SignOptions, sign_pdf
    from tests.pdf_factory import make_pdf

    home = temp_home("kyso-bench-sign-")
    work = Path(tempfile.mkdtemp(prefix="kyso-bench-sign-peers-"))
    server = None
    try:
        inst = new_instance(home)
        inst = Instance(replace(inst.settings, signing_activation="none"), inst.store, inst.keystore, inst.authority)
        with inst.store.write() as s:
            create_user(s, "hang", "official", "mat-khau-123", full_name="Nguyễn Thị Hằng", org="Công an TP Đà Nẵng")
            token = create_token(s, "hang")
        inst.authority.issue(profile="official", keygen="rsa2048", owner="hang",
                             subject={"CN": "Nguyễn Thị Hằng", "C": "VN", "title": "Trưởng phòng",
                                      "uid": ["CCCD:048190000123"]})
        pki = software_pki(work)
        pdfs = {1: make_pdf(1), 100: make_pdf(100)}
        rows: list[list[Any]] = []
        base: dict[int, float] = {}
        rates: dict[tuple[str, int], float] = {}

        def add(what: str, pages: int, lat: list[float], rate: float | None = None) -> None:
            mean = statistics.mean(lat)
            rate = rate if rate is not None else 1 / mean
            rates[(what, pages)] = rate
            if what == "kyso in-process B-B":
                base[pages] = rate
            ratio = f"{rate / base[pages]:.2f}" if pages in base else "—"
            rows.append([what, pages, f"{pct(lat, 50) * 1000:.1f}", f"{pct(lat, 99) * 1000:.1f}", f"{rate:,.1f}", ratio])
            print(f"  {what:<32} {pages:>3} pages  p50 {pct(lat, 50) * 1000:7.1f} ms  {rate:8.1f}/s", flush=True)

        for pages, pdf in pdfs.items():
            for level in ("B-B", "B-LT"):
                opts = SignOptions(level=level)
                add(f"kyso in-process {level}", pages, timed(lambda: sign_pdf(inst, "hang", pdf, opts), args.n))
            add("pyHanko default (SimpleSigner)", pages, timed(pyhanko_default(pdf, pki), args.n))
            add("endesive 3", pages, timed(endesive_sign(pdf, pki), args.n))
            add("pyhanko CLI (process/signature)", pages, timed(pyhanko_cli(pdf, pki, work), args.cli_n))
        server = KysoServer(home, workers=args.workers, threads=args.threads)
        http = f"kyso HTTP {{}} ({args.workers}×{args.threads}, {args.clients} clients)"
        for pages, pdf in pdfs.items():
            for level in ("B-B", "B-LT"):
                n = args.http_n if pages == 1 else max(20, args.http_n // 5)
                lat, rate = http_run(server.url, token, pdf, level, n, args.clients)
                add(http.format(level), pages, lat, rate)
        server.stop()
        server = None
        if args.totp_clerks > args.clients:
            clerks = totp_clerks(inst, args.totp_clerks)
            server = KysoServer(home, args.workers, args.threads, KYSO_SIGNING_ACTIVATION="totp")
            lat, rate = http_totp_run(server.url, clerks, pdfs[1], args.clients)
            add(http.format("B-B") + " TOTP", 1, lat, rate)
        print()
        print(table(["signer", "pages", "p50 ms", "p99 ms", "signatures/s", "÷ kyso in-process B-B"], rows))
        print()
        for pages in pdfs:
            inproc = rates[("kyso in-process B-B", pages)] / rates[("kyso in-process B-LT", pages)]
            over_http = rates[(http.format("B-B"), pages)] / rates[(http.format("B-LT"), pages)]
            print(f"B-LT ÷ B-B cost, {pages} page(s): in-process {inproc:.2f}× · over HTTP {over_http:.2f}×")
        return 0
    finally:
        if server is not None:
            server.stop()
        cleanup(home)
        cleanup(work)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
