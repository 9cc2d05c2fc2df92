"""Shared set-up for the revocation benchmarks (``crl``, ``ocsp``, ``tsa``): a fresh kyso instance in a temp
``KYSO_HOME``, bulk revocations, a running ``kyso serve``, an openssl software CA as the peer, and ``wrk``."""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ADMIN_PASSWORD = "quan-tri-vien-1"
KYSO = str(Path(sys.executable).with_name("kyso"))


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]])


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_") and k != "SOFTHSM2_CONF"}
    env.update({"KYSO_HOME": str(home), "KYSO_SIGNING_ACTIVATION": "none", **extra})  # extra may override
    return env


def new_instance(home: Path) -> Any:
    """An initialised instance (SoftHSM token, CA hierarchy, first CRLs) in ``home``."""
    for key in [k for k in os.environ if k.startswith("KYSO_") or k == "SOFTHSM2_CONF"]:
        del os.environ[key]
    os.environ["KYSO_HOME"] = str(home)
    from ca.instance import Instance, prepare_home
    from ca.settings import Settings

    inst = Instance.open(prepare_home(Settings.from_env()))
    inst.initialise(org="Bộ Công an", admin_user="admin", admin_password=ADMIN_PASSWORD)
    return inst


def bulk_revoked(inst: Any, count: int, *, reason: str = "keyCompromise", chunk: int = 100_000) -> list[int]:
    """``count`` certificate rows of the issuing CA, all revoked, written straight into the SQLite tables
    (benchmark data: the certificates' DER is a placeholder; the revocation rows hold what ``revoke`` writes)."""
    import json

    from ca.certbuilder import new_serial
    from ca.crl_der import encode_entry

    auth = inst.authority
    assert auth.store.is_sqlite, "the bulk loader writes SQLite directly"
    issuer_id = auth.ca_id("issuing")
    now = auth.clock().replace(microsecond=0)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.000000")
    later = (now + dt.timedelta(days=365)).strftime("%Y-%m-%d %H:%M:%S.000000")
    subject = json.dumps({"CN": "Nguyễn Văn A"}, ensure_ascii=False)
    serials: list[int] = []
    raw = auth.store.engine.raw_connection()
    try:
        cur = raw.cursor()
        done = 0
        while done < count:
            n = min(chunk, count - done)
            batch = [new_serial() for _ in range(n)]
            cur.execute("BEGIN IMMEDIATE")
            first = (cur.execute("SELECT coalesce(max(id), 0) FROM certificates").fetchone()[0]) + 1
            cur.executemany(
                "INSERT INTO certificates (id, serial, issuer_id, role, profile, subject_cn, subject, not_before, "
                "not_after, der, fingerprint, created_at, revoked) VALUES (?, ?, ?, 'end-entity', 'official', "
                "'Nguyễn Văn A', ?, ?, ?, x'3000', ?, ?, 1)",
                [(first + i, format(sv, "x"), issuer_id, subject, stamp, later, format(sv, "064x")[-64:], stamp)
                 for i, sv in enumerate(batch)])
            cur.executemany(
                "INSERT INTO revocations (certificate_id, issuer_id, serial, revoked_at, reason, changed_at_crl, "
                "released, updated_at, entry_der) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?)",
                [(first + i, issuer_id, format(sv, "x"), stamp, reason, stamp, encode_entry(sv, now, reason))
                 for i, sv in enumerate(batch)])
            cur.execute("COMMIT")
            serials += batch
            done += n
    finally:
        raw.close()
    return serials


def free_port() -> int:
    from tests.support import free_port as _free_port

    return _free_port()


def KysoServer(home: Path, workers: int = 2, threads: int = 1, **env: str) -> Any:  # noqa: N802 - a constructor
    """``kyso serve`` on a free local port with the benchmarks' environment for ``home`` (``env_for``) plus ``env``:
    the tests' :class:`tests.support.LiveServer`, the one implementation of start, wait for health, and stop."""
    from tests.support import LiveServer

    return LiveServer(env_for(home, **env), workers, threads)


def wrk(url: str, body: bytes, content_type: str, *, seconds: int, connections: int, threads: int = 2,
        workdir: Path) -> float:
    """Requests per second of ``wrk`` POSTing ``body`` to ``url``; non-2xx answers make it fail."""
    script = workdir / f"wrk-{abs(hash((url, body))) % 10**8}.lua"
    escaped = "".join(f"\\{b}" for b in body)
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
        f'wrk.body = "{escaped}"\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("non2xx=%d errors=%d\\n", summary.errors.status, '
        "summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))\n"
        "end\n")
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "-s", str(script),
                          url], capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    bad = re.search(r"non2xx=(\d+) errors=(\d+)", out.stdout)
    if not m or not bad:
        raise RuntimeError(f"wrk failed: {out.stdout}{out.stderr}")
    if int(bad.group(1)):
        raise RuntimeError(f"wrk saw {bad.group(1)} non-2xx answers from {url}")
    return float(m.group(1))


def openssl_ca(workdir: Path, curve: bool = True) -> dict[str, Path]:
    """A software CA for the openssl peers: CA (RSA-3072, like kyso's issuing CA), OCSP and TSA (EC P-256)."""
    d = workdir / "openssl-ca"
    d.mkdir(parents=True, exist_ok=True)
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:3072", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
        "-subj", "/C=VN/O=Peer/CN=Peer CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, eku in (("ocsp", "OCSPSigning"), ("tsa", "critical,timeStamping")):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/C=VN/O=Peer/CN=Peer {name}")
        ext = d / f"{name}.ext"
        ext.write_text(f"extendedKeyUsage={eku}\nkeyUsage=critical,digitalSignature\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "365", "-extfile", str(ext))
    return {"dir": d, "ca": d / "ca.pem", "ca_key": d / "ca.key", "ocsp": d / "ocsp.pem", "ocsp_key": d / "ocsp.key",
            "tsa": d / "tsa.pem", "tsa_key": d / "tsa.key"}


def index_lines(serials: list[int], revoked: set[int], when: dt.datetime) -> str:
    """An ``openssl ca`` index.txt: V (valid) or R (revoked) lines."""
    exp = (when + dt.timedelta(days=365)).strftime("%y%m%d%H%M%SZ")
    rev = when.strftime("%y%m%d%H%M%SZ")
    out = []
    for s in serials:
        serial = format(s, "X")
        if len(serial) % 2:
            serial = "0" + serial
        if s in revoked:
            out.append(f"R\t{exp}\t{rev},keyCompromise\t{serial}\tunknown\t/CN=x{serial}\n")
        else:
            out.append(f"V\t{exp}\t\t{serial}\tunknown\t/CN=x{serial}\n")
    return "".join(out)


def temp_home(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
