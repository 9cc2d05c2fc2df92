"""Validation data embedded in a PDF: the DSS (PAdES B-LT/B-LTA) and Adobe's revocation-info attribute in the
CMS, and what that data says about one certificate (without building any revocation data ourselves)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.sign.general import find_unique_cms_attribute
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError


@dataclass
class EmbeddedData:
    certs: list[asn1_x509.Certificate] = field(default_factory=list)
    crls: list[asn1_crl.CertificateList] = field(default_factory=list)
    ocsps: list[asn1_ocsp.OCSPResponse] = field(default_factory=list)

    @property
    def has_revinfo(self) -> bool:
        return bool(self.crls or self.ocsps)


def read_dss(reader: Any) -> tuple[EmbeddedData, bool]:
    """The DSS content and whether a DSS exists at all."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return EmbeddedData(), False
    out = EmbeddedData()
    for ref in dss.certs.values():
        out.certs.append(asn1_x509.Certificate.load(ref.get_object().read_data(DecodePurpose.CERTIFICATE)))
    for ref in dss.crls:
        out.crls.append(asn1_crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL)))
    for ref in dss.ocsps:
        out.ocsps.append(asn1_ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE)))
    return out, True


def read_cms_revinfo(signer_info: Any) -> EmbeddedData:
    """Adobe's ``adbe-revocationInfoArchival`` signed attribute (CRLs/OCSP put in the CMS at signing)."""
    try:
        archival = find_unique_cms_attribute(signer_info["signed_attrs"], "adobe_revocation_info_archival")
    except Exception:  # noqa: BLE001 - absent or ambiguous: no embedded data
        return EmbeddedData()
    crls = list(archival["crl"]) if archival["crl"] else []
    ocsps = list(archival["ocsp"]) if archival["ocsp"] else []
    return EmbeddedData(crls=crls, ocsps=ocsps)


def status_in(cert: asn1_x509.Certificate, crls: list, ocsps: list) -> tuple[str, str] | None:
    """What the given revocation data says about ``cert``: (good|revoked, crl|ocsp), or None if nothing
    covers it. Signatures on this data are pyHanko's to check; a revoked answer found here was also seen
    by pyHanko's path validation (soft-fail mode still fails on a revoked status)."""
    issuer = cert.issuer.dump()
    serial = cert.serial_number
    issuer_hash = hashlib.sha1(issuer).digest()
    for resp in ocsps:
        try:
            if resp["response_status"].native != "successful":
                continue
            basic = resp["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                cid = single["cert_id"]
                if cid["serial_number"].native == serial and cid["issuer_name_hash"].native == issuer_hash:
                    state = single["cert_status"].name
                    return ("revoked" if state == "revoked" else "good" if state == "good" else "unknown"), "ocsp"
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    for c in crls:
        try:
            tbs = c["tbs_cert_list"]
            if tbs["issuer"].dump() != issuer:
                continue
            for entry in tbs["revoked_certificates"]:
                if entry["user_certificate"].native == serial:
                    return "revoked", "crl"
            return "good", "crl"
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return None
