"""A pyHanko ``Signer`` whose private key stays in kyso's HSM.

The key object comes from :class:`hsm.KeyStore` (a cryptography ``RSAPrivateKey`` / ``EllipticCurvePrivateKey``
subclass whose ``sign()`` hashes outside and signs inside the token; SoftHSM rejects ``CKM_ECDSA_SHA256``, so
hashing outside matters). Our own class, so ``pyhanko[pkcs11]``'s python-pkcs11 pin does not bind us.

Speed: key objects are cached per key label (one lookup per process), and :func:`container_size` gives the
exact room the CMS needs, so pyHanko does not build a dummy signature to estimate it.
"""
from __future__ import annotations

import threading
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

_KEYS: dict[tuple[int, str], Any] = {}
_KEYS_LOCK = threading.Lock()


def hsm_key(keystore: Any, label: str) -> Any:
    """The HSM key object for ``label``, cached per keystore and label."""
    k = (id(keystore), label)
    key = _KEYS.get(k)
    if key is None:
        key = keystore.private_key(label)
        with _KEYS_LOCK:
            _KEYS[k] = key
    return key


def signature_size(public_key: Any) -> int:
    """Largest DER size of a raw signature by this key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return (public_key.key_size + 7) // 8
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        n = (public_key.curve.key_size + 7) // 8
        return 2 * (n + 3) + 3  # SEQUENCE { INTEGER r, INTEGER s }, each possibly with a leading zero
    raise TypeError(type(public_key).__name__)


class HsmSigner(Signer):
    """Signs CMS signed attributes with a key in the HSM (RSA PKCS#1 v1.5 or ECDSA, SHA-256 by default)."""

    def __init__(self, key: Any, signing_cert: asn1_x509.Certificate, chain: list[asn1_x509.Certificate],
                 *, embed_roots: bool = True):
        registry = SimpleCertificateStore.from_certs([signing_cert, *chain])
        super().__init__(signing_cert=signing_cert, cert_registry=registry, embed_roots=embed_roots)
        self.key = key

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return bytes(signature_size(self.key.public_key()))
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        algo = mechanism.signature_algo
        hash_algo: hashes.HashAlgorithm = get_pyca_cryptography_hash(digest_algorithm)
        if algo == "rsassa_pkcs1v15":
            return self.key.sign(data, padding.PKCS1v15(), hash_algo)
        if algo == "rsassa_pss":
            pss, pss_hash = process_pss_params(mechanism["parameters"])
            return self.key.sign(data, pss, pss_hash)
        if algo == "ecdsa":
            return self.key.sign(data, ec.ECDSA(hash_algo))
        raise ValueError(f"unsupported signature mechanism {algo}")
