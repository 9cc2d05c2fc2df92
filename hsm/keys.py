"""Private-key objects whose ``sign()`` runs on the token.

They subclass cryptography's ``RSAPrivateKey`` / ``EllipticCurvePrivateKey``, so the certificate, CRL and
OCSP builders (and anything else that calls ``key.sign(data, padding, algorithm)``) accept them. The data is
hashed here, outside the token, and the token signs the digest:

* PKCS#1 v1.5: ``CKM_RSA_PKCS`` over the DER DigestInfo;
* RSASSA-PSS: ``CKM_RSA_PKCS_PSS`` over the digest, with the hash, MGF1 and salt length given;
* ECDSA: ``CKM_ECDSA`` over the digest (SoftHSM 2.6.1 rejects ``CKM_ECDSA_SHA256``), r‖s re-encoded as DER.

Nothing here can export the private key: ``private_bytes()`` and ``private_numbers()`` refuse.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from pkcs11 import MGF, Mechanism

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from hsm import errors

if TYPE_CHECKING:  # pragma: no cover
    from hsm.keystore import KeyStore

# DER DigestInfo prefixes (RFC 8017 §9.2 note 1; NIST OIDs for SHA-3).
_DIGEST_INFO = {
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
    "sha3-256": bytes.fromhex("3031300d060960864801650304020805000420"),
    "sha3-384": bytes.fromhex("3041300d060960864801650304020905000430"),
    "sha3-512": bytes.fromhex("3051300d060960864801650304020a05000440"),
}
_PSS_HASH = {
    "sha224": (Mechanism.SHA224, MGF.SHA224),
    "sha256": (Mechanism.SHA256, MGF.SHA256),
    "sha384": (Mechanism.SHA384, MGF.SHA384),
    "sha512": (Mechanism.SHA512, MGF.SHA512),
}


_HASHLIB = {"sha224": "sha224", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512",
            "sha3-256": "sha3_256", "sha3-384": "sha3_384", "sha3-512": "sha3_512"}


def _digest(data: bytes, algorithm: Any) -> tuple[bytes, hashes.HashAlgorithm]:
    name = _HASHLIB.get(getattr(algorithm, "name", ""))
    if name is not None and not isinstance(algorithm, Prehashed):
        return hashlib.new(name, data).digest(), algorithm
    if isinstance(algorithm, Prehashed):
        alg = algorithm._algorithm  # noqa: SLF001 - cryptography exposes no public accessor
        if len(data) != alg.digest_size:
            raise ValueError("the prehashed digest has the wrong length")
        return data, alg
    if not isinstance(algorithm, hashes.HashAlgorithm):
        raise errors.UnsupportedAlgorithm(type(algorithm).__name__)
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize(), algorithm


class _HsmKey:
    """What RSA and EC token keys share. Identity is (store, label)."""

    _store: "KeyStore"
    _label: str

    @property
    def label(self) -> str:
        return self._label

    @property
    def store(self) -> "KeyStore":
        return self._store

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise errors.KeyExportRefused(self._label)

    def private_numbers(self) -> Any:
        raise errors.KeyExportRefused(self._label)

    def __copy__(self) -> "_HsmKey":
        return self

    def __deepcopy__(self, memo: dict) -> "_HsmKey":
        return self

    def __reduce__(self) -> Any:
        raise errors.KeyExportRefused(self._label)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} label={self._label!r} on {self._store.token_label!r}>"


class HsmRSAPrivateKey(_HsmKey, rsa.RSAPrivateKey):
    def __init__(self, store: "KeyStore", label: str, public: rsa.RSAPublicKey):
        self._store = store
        self._label = label
        self._public = public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    def decrypt(self, ciphertext: bytes, padding: Any) -> bytes:
        raise errors.UnsupportedAlgorithm("decrypt", en="Keys in kyso's HSM sign only; they do not decrypt",
                                          vi="Khóa trong HSM của kyso chỉ dùng để ký, không giải mã.")

    def sign(self, data: bytes, padding_: Any, algorithm: Any) -> bytes:
        digest, alg = _digest(data, algorithm)
        if isinstance(padding_, padding.PKCS1v15):
            prefix = _DIGEST_INFO.get(alg.name)
            if prefix is None:
                raise errors.UnsupportedAlgorithm(alg.name)
            return self._store.sign_raw(self._label, prefix + digest, Mechanism.RSA_PKCS)
        if isinstance(padding_, padding.PSS):
            if alg.name not in _PSS_HASH:
                raise errors.UnsupportedAlgorithm(f"PSS with {alg.name}")
            mech_hash, mgf = _PSS_HASH[alg.name]
            mgf_alg = getattr(padding_._mgf, "_algorithm", alg)  # noqa: SLF001
            if mgf_alg.name != alg.name:
                raise errors.UnsupportedAlgorithm("PSS with an MGF1 hash different from the message hash")
            salt = padding_._salt_length  # noqa: SLF001
            emlen = (self.key_size - 1 + 7) // 8
            if salt is padding.PSS.DIGEST_LENGTH:
                salt = alg.digest_size
            elif salt is padding.PSS.MAX_LENGTH:
                salt = emlen - alg.digest_size - 2
            elif not isinstance(salt, int):
                raise errors.UnsupportedAlgorithm("PSS salt length")
            return self._store.sign_raw(self._label, digest, Mechanism.RSA_PKCS_PSS, (mech_hash, mgf, salt))
        raise errors.UnsupportedAlgorithm(type(padding_).__name__)


class HsmECPrivateKey(_HsmKey, ec.EllipticCurvePrivateKey):
    def __init__(self, store: "KeyStore", label: str, public: ec.EllipticCurvePublicKey):
        self._store = store
        self._label = label
        self._public = public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.curve.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def exchange(self, algorithm: Any, peer_public_key: Any) -> bytes:
        raise errors.UnsupportedAlgorithm("ECDH", en="Keys in kyso's HSM sign only; no key agreement",
                                          vi="Khóa trong HSM của kyso chỉ dùng để ký.")

    def sign(self, data: bytes, signature_algorithm: Any) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise errors.UnsupportedAlgorithm(type(signature_algorithm).__name__)
        digest, _ = _digest(data, signature_algorithm.algorithm)
        raw = self._store.sign_raw(self._label, digest, Mechanism.ECDSA)
        half = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
