"""The fast signing path gives the same signatures as pyHanko's own path, and its caches follow the objects they
were built from.

* The CMS kyso assembles from pre-encoded pieces is byte for byte the CMS pyHanko assembles (RSA PKCS#1 v1.5 is
  deterministic, so a real HSM signature over the same digest must come out identical), with and without a
  timestamp token, for RSA and ECDSA signers; options the fast path does not cover go to pyHanko's path.
* Signer, timestamper and validation-material caches are per authority *object* (never ``id()``): a new
  authority gets its own entries, a dropped one's entries disappear, a new certificate gets a new signer.
"""
from __future__ import annotations

import asyncio
import gc
import hashlib
from pathlib import Path

import pytest
from asn1crypto import cms
from pyhanko.sign.signers.pdf_cms import Signer

from ca.authority import Authority
from ca.instance import Instance
from signer import ltv, policy, service, timestamping
from signer.hsm_signer import HsmSigner
from signer.service import SignOptions, sign_pdf
from tests.pdf_factory import make_pdf
from tests.sign_support import (make_clerk, make_official, openssl_cms_verify, pdfsig_valid_count, signatures,
                                without_activation)


def _identity(instance, username: str):  # noqa: ANN001, ANN202
    with instance.store.read() as s:
        return policy.resolve(s, instance.authority, policy.load_user(s, username), instance.authority.clock())


def _both(signer: HsmSigner, digest: bytes, **kw) -> tuple[bytes, bytes]:  # noqa: ANN003
    ours = asyncio.run(signer.async_sign(digest, "sha256", use_pades=True, **kw)).dump()
    theirs = asyncio.run(Signer.async_sign(signer, digest, "sha256", use_pades=True, **kw)).dump()
    return ours, theirs


def test_rsa_cms_is_pyhankos_byte_for_byte(instance) -> None:  # noqa: ANN001
    official = make_official(instance, image=False)
    signer, _ = service.hsm_signer(instance, _identity(instance, official.username))
    digest = hashlib.sha256(b"van ban so 12/2026").digest()
    ours, theirs = _both(signer, digest)
    assert ours == theirs
    assert signer._templates["sha256"] is not None  # the fast path was taken, not the fallback
    # with a timestamp token (dry run: both paths get the TSA's cached real token)
    ours, theirs = _both(signer, digest, dry_run=True, timestamper=timestamping.timestamper(instance.authority))
    assert ours == theirs
    info = cms.ContentInfo.load(ours)["content"]["signer_infos"][0]
    assert [a["type"].native for a in info["unsigned_attrs"]] == ["signature_time_stamp_token"]
    # the signer's certificate is embedded once, with the issuing and root CA certificates
    certs = cms.ContentInfo.load(ours)["content"]["certificates"]
    assert len(certs) == 3 and len({c.chosen.dump() for c in certs}) == 3


def test_ecdsa_signature_is_valid_and_shaped_like_pyhankos(instance, ca_files, tmp_path: Path) -> None:  # noqa: ANN001
    clerk = make_clerk(instance, seal=False)
    signer, _ = service.hsm_signer(instance, _identity(instance, clerk.username))
    digest = hashlib.sha256(b"con dau").digest()
    ours, theirs = _both(signer, digest, dry_run=True)  # ECDSA is randomised: compare the dry-run shape
    assert ours == theirs
    signed = sign_pdf(without_activation(instance), clerk.username, make_pdf(1), SignOptions(level="B-T"))
    path = tmp_path / "seal.pdf"
    path.write_bytes(signed)
    assert pdfsig_valid_count(path) == (1, 1)
    signed_bytes, cms_der = signatures(signed)[0]
    r = openssl_cms_verify(tmp_path, signed_bytes, cms_der, ca_files)
    assert r.returncode == 0, r.stderr


def test_options_outside_the_fast_path_use_pyhankos_assembly(instance) -> None:  # noqa: ANN001
    official = make_official(instance, image=False)
    signer, _ = service.hsm_signer(instance, _identity(instance, official.username))
    digest = hashlib.sha256(b"cms, not pdf").digest()
    # a generic (non-PAdES) CMS: pyHanko adds signing time and algorithm protection; the fast path must not answer
    ours = asyncio.run(signer.async_sign(digest, "sha256", use_pades=False)).dump()
    attrs = {a["type"].native for a in cms.ContentInfo.load(ours)["content"]["signer_infos"][0]["signed_attrs"]}
    assert "cms_algorithm_protection" in attrs


def test_signer_cache_follows_authority_objects_and_certificates(instance) -> None:  # noqa: ANN001
    official = make_official(instance, image=False)
    ident = _identity(instance, official.username)
    first, _ = service.hsm_signer(instance, ident)
    assert service.hsm_signer(instance, ident)[0] is first  # cached

    # another authority object over the same store and token: its own signer, timestamper and DSS material
    other_auth = Authority(instance.settings, instance.store, instance.keystore, clock=instance.authority.clock)
    other = Instance(instance.settings, instance.store, instance.keystore, other_auth)
    assert service.hsm_signer(other, ident)[0] is not first
    assert timestamping.timestamper(other_auth) is not timestamping.timestamper(instance.authority)
    assert timestamping.timestamper(other_auth) is timestamping.timestamper(other_auth)
    mat = ltv.material(other_auth, ident.certificate)
    assert ltv.material(other_auth, ident.certificate) is mat
    assert ltv.material(instance.authority, ident.certificate) is not mat

    # dropping that authority drops its entries (weak keys): nothing stale for an object born at the same id()
    caches = (service._SIGNERS, timestamping._STAMPERS, ltv._CACHE)
    assert all(other_auth in c for c in caches)
    del other, other_auth, mat
    gc.collect()
    reborn = Authority(instance.settings, instance.store, instance.keystore, clock=instance.authority.clock)
    assert not any(reborn in c for c in caches)

    # a newer certificate for the same official: the next signature embeds it, from a new signer object
    newer = instance.authority.issue(profile="official", keygen="rsa2048", owner=official.username,
                                     subject={"CN": "Nguyễn Thị Hằng", "C": "VN"})
    ident2 = _identity(instance, official.username)
    assert ident2.serial == newer.serial
    second, _ = service.hsm_signer(instance, ident2)
    assert second is not first
    signed = sign_pdf(without_activation(instance), official.username, make_pdf(1), SignOptions(level="B-LT"))
    sd = cms.ContentInfo.load(signatures(signed)[0][1])["content"]
    sid = sd["signer_infos"][0]["sid"].chosen
    assert format(sid["serial_number"].native, "x") == newer.serial.lower().lstrip("0")


@pytest.mark.parametrize("level", ["B-B", "B-LT"])
def test_signature_survives_a_second_signature(instance, tmp_path: Path, level: str) -> None:  # noqa: ANN001
    """The writer built on the checked reader (no second parse) still gives a proper incremental update."""
    official = make_official(instance, image=False)
    inst = without_activation(instance)
    once = sign_pdf(inst, official.username, make_pdf(3), SignOptions(level=level))
    twice = sign_pdf(inst, official.username, once, SignOptions(level=level))
    assert twice.startswith(once)
    path = tmp_path / "twice.pdf"
    path.write_bytes(twice)
    assert pdfsig_valid_count(path) == (2, 2)
