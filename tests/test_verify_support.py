"""Signed PDFs for the verification tests, made with pyHanko directly (no signing service needed):

* an official's own key held by the test (a software key standing for a USB token), certificate issued by kyso
  from a CSR (``authority.issue(profile="official", csr=…)``);
* timestamps from kyso's TSA in-process (``ca.tsa.respond``);
* B-LT/B-LTA validation data: kyso's current CRL, embedded by pyHanko;
* a foreign CA made here with ``cryptography`` (not trusted by kyso).

No tests in this module; the fixtures live in the test modules that use them.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ca.authority import Authority
from tests.conftest import AGENCY_SUBJECT, OFFICIAL_SUBJECT


def simple_pdf(text: str = "Cong van so 123/CAĐN", pages: int = 1) -> bytes:
    """A small, valid PDF written by hand (correct xref offsets)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    font_num = 3 + 2 * pages
    for i in range(pages):
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {4 + 2 * i} 0 R "
                    f"/Resources << /Font << /F1 {font_num} 0 R >> >> >>".encode())
        content = f"BT /F1 14 Tf 72 760 Td ({text} - trang {i + 1}) Tj ET".encode("latin-1", "replace")
        objs.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


@dataclasses.dataclass
class Holder:
    """A signer: software key + certificate + chain (asn1crypto for pyHanko, cryptography for checks)."""

    key: Any
    cert: x509.Certificate
    chain: list[x509.Certificate]
    serial_hex: str

    def pyhanko_signer(self) -> signers.SimpleSigner:
        der_key = self.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        a_cert = asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))
        chain = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in self.chain]
        return signers.SimpleSigner(signing_cert=a_cert, signing_key=asn1_keys.PrivateKeyInfo.load(der_key),
                                    cert_registry=SimpleCertificateStore.from_certs([a_cert, *chain]))


def csr_for(key: Any, cn: str) -> str:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def kyso_holder(authority: Authority, profile: str = "official", subject: dict | None = None,
                clock: Any = None) -> Holder:
    """A key held by the test and a certificate kyso issued for it from a CSR (optionally at another time)."""
    subject = subject or (OFFICIAL_SUBJECT if profile == "official" else AGENCY_SUBJECT)
    key = ec.generate_private_key(ec.SECP256R1())
    auth = authority if clock is None else at_time(authority, clock)
    issued = auth.issue(profile=profile, subject=subject, csr=csr_for(key, subject["CN"]), actor="tests")
    cert = x509.load_pem_x509_certificate(issued.pem.encode())
    return Holder(key, cert, [authority.ca_cert("issuing"), authority.ca_cert("root")], issued.serial)


def at_time(authority: Authority, when: Any) -> Authority:
    """The same CA (store, HSM, certificates) whose clock reads ``when`` (a datetime or a callable)."""
    clock = when if callable(when) else (lambda: when)
    other = Authority(authority.settings, authority.store, authority.keystore, clock=clock,
                      profiles=authority.profiles)
    other._certs = authority._certs  # noqa: SLF001 - same CA material, no reload
    other._keys = authority._keys  # noqa: SLF001
    return other


class KysoTSA(TimeStamper):
    """kyso's TSA, in-process (``ca.tsa.respond``)."""

    def __init__(self, authority: Authority):
        super().__init__(include_nonce=True)
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        from ca import tsa

        return tsp.TimeStampResp.load(tsa.respond(self.authority, req.dump()))


def kyso_crls(authority: Authority) -> list[asn1_crl.CertificateList]:
    from ca import revocation

    return [asn1_crl.CertificateList.load(revocation.current_crl(authority, role, delta))
            for role, delta in (("issuing", False), ("issuing", True), ("root", False))]


def sign(pdf: bytes, holder: Holder, authority: Authority, *, level: str = "B-B", field: str = "Signature1",
         certify: bool = False, docmdp: Any = None, subfilter: Any = None, tsa_clock: Any = None) -> bytes:
    """Sign ``pdf`` at a PAdES level (B-B, B-T, B-LT, B-LTA) with pyHanko (``tsa_clock``: the TSA's time, when
    a test needs the timestamp a little in the past; nothing is written with that clock)."""
    tsa = None
    if level != "B-B":
        tsa = KysoTSA(authority if tsa_clock is None else at_time(authority, tsa_clock))
    vc = None
    if level in ("B-LT", "B-LTA"):
        root = asn1_x509.Certificate.load(authority.ca_cert("root").public_bytes(serialization.Encoding.DER))
        vc = ValidationContext(trust_roots=[root], crls=kyso_crls(authority), allow_fetching=False,
                               revocation_mode="hard-fail")
    meta = signers.PdfSignatureMetadata(
        field_name=field, md_algorithm="sha256",
        subfilter=subfilter or fields.SigSeedSubFilter.PADES,
        certify=certify, docmdp_permissions=docmdp or fields.MDPPerm.FILL_FORMS,
        embed_validation_info=vc is not None, validation_context=vc, use_pades_lta=level == "B-LTA",
        reason="Ký duyệt văn bản", location="Đà Nẵng")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = signers.PdfSigner(meta, holder.pyhanko_signer(), timestamper=tsa).sign_pdf(writer)
    return out.getvalue()


def foreign_holder(cn: str = "Trần Văn Nam") -> tuple[Holder, x509.Certificate]:
    """A CA kyso does not know (made here with cryptography) and a signer under it. Returns (holder, root)."""
    now = dt.datetime.now(dt.timezone.utc)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                           x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tổ chức không được tin cậy"),
                           x509.NameAttribute(NameOID.COMMON_NAME, "Foreign Root CA")])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.USER_ID, "CCCD:001190000999")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(root_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    return Holder(key, cert, [root], format(cert.serial_number, "x")), root


def cms_of(pdf: bytes, index: int = 0) -> bytes:
    """The DER CMS of the ``index``-th signature (for `openssl cms -verify`)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    emb = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures[index]
    return emb.signed_data_content_info.dump() if hasattr(emb, "signed_data_content_info") else \
        emb.sig_object["/Contents"]


def signed_content(pdf: bytes, index: int = 0) -> bytes:
    """The bytes a signature's /ByteRange covers."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    emb = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures[index]
    br = list(emb.sig_object["/ByteRange"])
    return b"".join(pdf[br[i]:br[i] + br[i + 1]] for i in range(0, len(br), 2))


def add_annotation(w: IncrementalPdfFileWriter) -> None:
    """A change after signing: a text annotation ("Ghi chú thêm sau khi ký") on page 1, in ``w``'s revision."""
    page = w.root["/Pages"]["/Kids"][0].get_object()
    annot = w.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Annot"),
        generic.NameObject("/Subtype"): generic.NameObject("/Text"),
        generic.NameObject("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in (100, 100, 120, 120)]),
        generic.NameObject("/Contents"): generic.TextStringObject("Ghi chú thêm sau khi ký"),
    }))
    page["/Annots"] = generic.ArrayObject([annot])
    w.update_container(page)
