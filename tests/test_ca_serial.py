"""Serial numbers (DESIGN rule 6): random, positive, ≥ 64 bits of entropy, < 2^159, unique — and the database
itself refuses a repeated one."""
from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ca.certbuilder import new_serial, serial_hex
from ca.store.models import Certificate
from tests.conftest import OFFICIAL_SUBJECT

SAMPLES = 20_000


def test_serials_are_positive_bounded_fixed_width_and_unique() -> None:
    serials = [new_serial() for _ in range(SAMPLES)]
    assert all(0 < s < 2 ** 159 for s in serials)
    # fixed width: every serial has the same bit length, so DER never adds or drops a leading byte (≤ 20 octets)
    assert {s.bit_length() for s in serials} == {151}
    assert len(set(serials)) == SAMPLES
    # ≥ 64 bits of entropy: even the low 64 bits alone never repeat in 20,000 draws (a repeat has p ≈ 1e-11)
    assert len({s & (2 ** 64 - 1) for s in serials}) == SAMPLES


def test_every_random_bit_varies_like_a_fair_coin() -> None:
    """150 random bits: each one is set in about half the draws (± 14 standard deviations, so a failure means
    a stuck or biased bit, not bad luck)."""
    serials = [new_serial() for _ in range(SAMPLES)]
    for bit in range(150):
        ones = sum((s >> bit) & 1 for s in serials)
        assert abs(ones - SAMPLES / 2) < 1000, (bit, ones)


def test_issued_serials_match_the_store_and_der_is_at_most_20_octets(instance) -> None:  # noqa: ANN001
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
           .public_bytes(serialization.Encoding.PEM))
    seen = set()
    for _ in range(5):
        issued = instance.authority.issue(profile="official", subject=OFFICIAL_SUBJECT, csr=csr, actor="tests")
        cert = x509.load_pem_x509_certificate(issued.pem.encode())
        assert serial_hex(cert.serial_number) == issued.serial
        assert 0 < cert.serial_number < 2 ** 159
        assert len(cert.serial_number.to_bytes(20, "big").lstrip(b"\0")) <= 20
        seen.add(issued.serial)
    assert len(seen) == 5


def test_the_database_refuses_a_repeated_serial(instance) -> None:  # noqa: ANN001
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    issued = instance.authority.issue(profile="official", subject=OFFICIAL_SUBJECT, actor="tests",
                                      csr=csr.public_bytes(serialization.Encoding.PEM))
    with instance.store.read() as s:
        existing = s.execute(select(Certificate).where(Certificate.serial == issued.serial)).scalar_one()
    forged_der = existing.der + b"\0"  # another fingerprint, so only the serial repeats
    row = {c.name: getattr(existing, c.key) for c in Certificate.__table__.columns if c.name != "id"}
    row.update(der=forged_der, fingerprint=hashlib.sha256(forged_der).hexdigest())
    with pytest.raises(IntegrityError) as caught:
        with instance.store.write() as s:
            s.connection().execute(insert(Certificate.__table__), row)  # plain SQL: no application check on the way
    assert "certificates.serial" in str(caught.value.orig)  # SQLite names the UNIQUE column that refused it
    with instance.store.read() as s:
        assert len(s.execute(select(Certificate.id).where(Certificate.serial == existing.serial)).all()) == 1
