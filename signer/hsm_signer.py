"""A pyHanko ``Signer`` whose private key stays in kyso's HSM.

The key object comes from :class:`hsm.KeyStore` (a cryptography ``RSAPrivateKey`` / ``EllipticCurvePrivateKey``
subclass whose ``sign()`` hashes outside and signs inside the token; SoftHSM rejects ``CKM_ECDSA_SHA256``, so
hashing outside matters). Our own class, so ``pyhanko[pkcs11]``'s python-pkcs11 pin does not bind us.

Speed:

* key objects are cached per key store and label (one lookup per process; the cache hangs off the key store
  object itself, so a new key store never sees another's keys);
* :func:`signature_size` gives the exact room the signature needs, so pyHanko makes no dummy signature;
* the CMS of a PAdES signature is assembled from DER pieces encoded once per signer (certificate set, signer
  identifier, algorithm identifiers, the signing-certificate-v2 and content-type attributes): pyHanko builds the
  same structure from asn1crypto objects and re-encodes every certificate on each signature (~11 ms). The pieces
  are checked once per signer against pyHanko's own encoding (:meth:`HsmSigner._template`); any difference, or
  any option the fast path does not cover, falls back to pyHanko's path.
"""
from __future__ import annotations

import hashlib
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

# key store -> {label: key}; weak, so a closed key store's keys go with it and an id() reuse cannot alias
_KEYS: "weakref.WeakKeyDictionary[Any, dict[str, Any]]" = weakref.WeakKeyDictionary()
_KEYS_LOCK = threading.Lock()


def hsm_key(keystore: Any, label: str) -> Any:
    """The HSM key object for ``label``, cached per key store object and label."""
    with _KEYS_LOCK:
        keys = _KEYS.get(keystore)
        if keys is None:
            keys = _KEYS[keystore] = {}
        key = keys.get(label)
    if key is None:
        key = keystore.private_key(label)
        with _KEYS_LOCK:
            key = keys.setdefault(label, key)
    return key


def signature_size(public_key: Any) -> int:
    """Largest DER size of a raw signature by this key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return (public_key.key_size + 7) // 8
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        n = (public_key.curve.key_size + 7) // 8
        return 2 * (n + 3) + 3  # SEQUENCE { INTEGER r, INTEGER s }, each possibly with a leading zero
    raise TypeError(type(public_key).__name__)


# -- DER ------------------------------------------------------------------------------------------------
def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _attribute(type_der: bytes, value_der: bytes) -> bytes:
    """Attribute ::= SEQUENCE { attrType OID, attrValues SET OF ANY } with one value."""
    return _tlv(0x30, type_der + _tlv(0x31, value_der))


_OID_MESSAGE_DIGEST = cms.CMSAttributeType("message_digest").dump()
_OID_TST = cms.CMSAttributeType("signature_time_stamp_token").dump()


@dataclass(frozen=True)
class _Template:
    """DER pieces of a PAdES CMS that do not change from one signature to the next (one signer, one digest)."""

    digest_algorithm: str
    content_type_attr: bytes  # content-type = data
    signing_cert_attr: bytes  # signing-certificate-v2 (ESS), over the signer's certificate
    signer_info_head: bytes  # version + sid + digestAlgorithm
    signature_algorithm: bytes
    signed_data_head: bytes  # version + digestAlgorithms + encapContentInfo + [0] certificates
    content_type_oid: bytes  # id-signedData

    def signed_attrs(self, data_digest: bytes) -> bytes:
        """SignedAttributes (SET OF, DER-sorted) as signed: tag 0x31."""
        md = _attribute(_OID_MESSAGE_DIGEST, _tlv(0x04, data_digest))
        return _tlv(0x31, b"".join(sorted((self.content_type_attr, md, self.signing_cert_attr))))

    def content_info(self, signed_attrs: bytes, signature: bytes, token: bytes | None) -> bytes:
        unsigned = b""
        if token is not None:
            unsigned = _tlv(0xA1, _attribute(_OID_TST, token))
        signer_info = _tlv(0x30, self.signer_info_head + b"\xa0" + signed_attrs[1:] + self.signature_algorithm
                           + _tlv(0x04, signature) + unsigned)
        signed_data = _tlv(0x30, self.signed_data_head + _tlv(0x31, signer_info))
        return _tlv(0x30, self.content_type_oid + _tlv(0xA0, signed_data))


class HsmSigner(Signer):
    """Signs CMS signed attributes with a key in the HSM (RSA PKCS#1 v1.5 or ECDSA, SHA-256 by default)."""

    def __init__(self, key: Any, signing_cert: asn1_x509.Certificate, chain: list[asn1_x509.Certificate],
                 *, embed_roots: bool = True):
        # the chain only: pyHanko always adds the signer's certificate itself (it was embedded twice before)
        registry = SimpleCertificateStore.from_certs(chain)
        super().__init__(signing_cert=signing_cert, cert_registry=registry, embed_roots=embed_roots)
        self.key = key
        self._templates: dict[str, _Template | None] = {}
        self._mechanisms: dict[str | None, Any] = {}

    def get_signature_mechanism_for_digest(self, digest_algorithm: str | None) -> Any:
        """pyHanko's choice for this certificate and digest, made once (it is asked three times per signature);
        callers only read it."""
        mech = self._mechanisms.get(digest_algorithm)
        if mech is None:
            mech = self._mechanisms[digest_algorithm] = super().get_signature_mechanism_for_digest(digest_algorithm)
        return mech

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

    # -- the CMS, from pre-encoded pieces ------------------------------------------------------------
    async def async_sign(self, data_digest: bytes, digest_algorithm: str, dry_run: bool = False,
                         use_pades: bool = False, timestamper: Any = None, signed_attr_settings: Any = None,
                         is_pdf_sig: bool = True, encap_content_info: Any = None) -> cms.ContentInfo:
        template = None
        if (use_pades and is_pdf_sig and encap_content_info is None and self.signed_attr_prov_spec is None
                and self.unsigned_attr_prov_spec is None and not self.attribute_certs
                and (signed_attr_settings is None or signed_attr_settings.cades_signed_attrs is None)):
            template = await self._template(digest_algorithm.lower())
        if template is None:  # anything the fast path does not cover: pyHanko's own assembly
            return await super().async_sign(
                data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades, timestamper=timestamper,
                signed_attr_settings=signed_attr_settings, is_pdf_sig=is_pdf_sig,
                encap_content_info=encap_content_info)
        return cms.ContentInfo.load(await self._fast_cms(template, data_digest, dry_run, timestamper))

    async def _fast_cms(self, template: _Template, data_digest: bytes, dry_run: bool, timestamper: Any) -> bytes:
        md = template.digest_algorithm
        signed_attrs = template.signed_attrs(data_digest)
        signature = await self.async_sign_raw(signed_attrs, md, dry_run)
        token = None
        if timestamper is not None:  # as pyHanko's TSTProvider: a timestamp over the signature value
            if dry_run:
                tst = await timestamper.async_dummy_response(md)
            else:
                h = hashes.Hash(get_pyca_cryptography_hash(md))
                h.update(signature)
                tst = await timestamper.async_timestamp(h.finalize(), md)
            token = tst.dump()
        return template.content_info(signed_attrs, signature, token)

    async def _template(self, digest_algorithm: str) -> _Template | None:
        """The pre-encoded pieces for ``digest_algorithm``, built and checked once; None if they do not
        reproduce pyHanko's own CMS byte for byte (then pyHanko's path is used). Two threads building at once
        build the same thing: the dict keeps one."""
        try:
            return self._templates[digest_algorithm]
        except KeyError:
            pass
        template = await self._build_template(digest_algorithm)
        return self._templates.setdefault(digest_algorithm, template)

    async def _build_template(self, md: str) -> _Template | None:
        try:
            get_pyca_cryptography_hash(md)
        except (ValueError, KeyError, NotImplementedError):
            return None
        cert = self.signing_cert
        digest_alg = algos.DigestAlgorithm({"algorithm": md}).dump()
        sid = cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": cert.issuer, "serial_number": cert.serial_number})}).dump()
        certs = {cms.CertificateChoices(name="certificate", value=c) for c in self.cert_registry
                 if self.embed_roots or c.self_signed == "no"}
        certs.add(cms.CertificateChoices(name="certificate", value=cert))
        cert_set = cms.CertificateSet(list(certs)).dump()
        template = _Template(
            digest_algorithm=md,
            content_type_attr=simple_cms_attribute("content_type", "data").dump(),
            signing_cert_attr=simple_cms_attribute("signing_certificate_v2", as_signing_certificate_v2(cert)).dump(),
            signer_info_head=cms.CMSVersion("v1").dump() + sid + digest_alg,
            signature_algorithm=self.get_signature_mechanism_for_digest(md).dump(),
            signed_data_head=(cms.CMSVersion("v1").dump() + _tlv(0x31, digest_alg)
                              + cms.EncapsulatedContentInfo({"content_type": "data"}).dump()
                              + b"\xa0" + cert_set[1:]),
            content_type_oid=cms.ContentType("signed_data").dump())
        # the check: pyHanko's own assembly of a dry-run signature over a fixed digest, byte for byte
        digest = hashlib.new(md, b"kyso template check").digest()
        ours = await self._fast_cms(template, digest, True, None)
        theirs = (await Signer.async_sign(self, digest, md, dry_run=True, use_pades=True)).dump()
        return template if ours == theirs else None
