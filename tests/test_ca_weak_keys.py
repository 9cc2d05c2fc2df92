"""Known-weak RSA keys are refused before issuance (ca/weakkeys.py, Boulder's goodkey practice): primes close enough
for Fermat, a small prime factor, the ROCA structure (CVE-2017-15361), and exponents outside CA/B Forum BR §6.1.6.
Each key here is real — built from its primes, signing its own CSR, so the proof of possession passes — and the
badkeys command-line tool, run separately on the CSR, agrees that it is weak. REST issuance answers 400 weak_key
naming the weakness, and nothing is stored."""
from __future__ import annotations

import json
import math
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import gmpy2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import OFFICIAL_SUBJECT
from tests.support import auth
from tests.test_ca_bad_input import counts, csr_pem

# ROCA: Infineon's RSALib primes are p = k·M + (65537^a mod M); badkeys' detector tests n modulo this M (the
# product of the small primes the fingerprint uses, from the ROCA paper's reference code).
ROCA_M = 0x924cba6ae99dfa084537facc54948df0c23da044d8cabe0edd75bc6


def _prime(bits: int) -> int:
    """A random prime of ``bits`` bits whose top two bits are set, so two of them make a modulus of 2·bits bits."""
    return int(gmpy2.next_prime(secrets.randbits(bits) | (3 << (bits - 2))))


def _key(p: int, q: int, e: int = 65537) -> rsa.RSAPrivateKey:
    lam = math.lcm(p - 1, q - 1)
    d = pow(e, -1, lam)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                                    rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def _coprime_prime(bits: int, e: int, make: Any = None) -> int:
    while True:
        p = make() if make else _prime(bits)
        if math.gcd(e, p - 1) == 1:
            return p


def _roca_prime() -> int:
    """p = k·M + (65537^a mod M), with k drawn so that p lies in [¾·2^1024, 2^1024): two of them make 2048 bits."""
    low, high = (3 << 1022) // ROCA_M + 1, (1 << 1024) // ROCA_M - 1
    while True:
        p = (low + secrets.randbelow(high - low)) * ROCA_M + pow(65537, secrets.randbits(60), ROCA_M)
        if gmpy2.is_prime(p):
            return p


def weak_keys() -> dict[str, tuple[rsa.RSAPrivateKey, str, str]]:
    """name → (key, the words kyso's refusal must contain, the badkeys check that flags it); every modulus has
    exactly 2048 bits, so only the weakness can be the reason for a refusal."""
    p = _coprime_prime(1024, 65537)
    close = _coprime_prime(0, 65537, lambda: int(gmpy2.next_prime(p + secrets.randbits(500))))
    big_e = (1 << 256) + 1
    while True:
        a, b = _prime(1024), _prime(1024)
        if math.gcd(big_e, (a - 1) * (b - 1)) == 1:
            break
        big_e += 2
    keys = {
        "Fermat": (_key(p, close), "Fermat", "fermat"),
        "small factor": (_key(65521, _coprime_prime(2032, 65537)), "small prime factor", "smallfactors"),
        "ROCA": (_key(_coprime_prime(0, 65537, _roca_prime), _coprime_prime(0, 65537, _roca_prime)), "ROCA", "roca"),
        "exponent of 257 bits": (_key(a, b, big_e), "odd number from 65537 to 2^256", "rsawarnings"),
    }
    assert {k.key_size for k, _, _ in keys.values()} == {2048}
    return keys


def test_badkeys_agrees_the_fixtures_are_weak(tmp_path: Path) -> None:
    """The independent judge: the badkeys command flags each fixture CSR with the expected check (its blocklist
    check needs downloaded data, so the checks are named; the exponent is one of its warnings)."""
    checks = "fermat,roca,rsainvalid,rsapoly,sharedprimes,smalld,smallfactors,rsawarnings"
    for name, (key, _, expected) in weak_keys().items():
        path = tmp_path / f"{name.replace(' ', '-')}.csr"
        path.write_text(csr_pem(key), encoding="utf-8")
        out = subprocess.run([str(Path(sys.executable).parent / "badkeys"), "-c", checks, "-j", str(path)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, (name, out.stderr)
        results = json.loads(out.stdout.splitlines()[0])["results"]
        assert expected in results, (name, results.keys())


def test_weak_rsa_keys_are_refused_and_nothing_is_stored(client, admin_token, instance) -> None:  # noqa: ANN001
    before = counts(instance)
    for name, (key, words, _) in weak_keys().items():
        body = {"profile": "official", "subject": OFFICIAL_SUBJECT, "csr": csr_pem(key)}
        resp = client.post("/api/v1/certificates", json=body, headers=auth(admin_token))
        answer = resp.get_json()
        assert resp.status_code == 400 and answer["error"] == "weak_key", (name, answer)
        assert words in answer["message_en"], (name, answer["message_en"])
        assert answer["message_vi"] and answer["message_vi"] != answer["message_en"]
    assert counts(instance) == before
    # a sound RSA key of the same size still passes
    ok = client.post("/api/v1/certificates", headers=auth(admin_token),
                     json={"profile": "official", "subject": OFFICIAL_SUBJECT,
                           "csr": csr_pem(rsa.generate_private_key(65537, 2048))})
    assert ok.status_code == 201, ok.get_json()


def test_an_oversized_modulus_is_refused_before_any_arithmetic(instance) -> None:  # noqa: ANN001
    from ca.certbuilder import check_public_key
    from ca.errors import WeakKey

    public = rsa.RSAPublicNumbers(65537, (1 << 8199) | secrets.randbits(8199) | 1).public_key()  # 8200 bits
    with pytest.raises(WeakKey, match="at most 8192 bits"):
        check_public_key(public, instance.authority.profiles)
