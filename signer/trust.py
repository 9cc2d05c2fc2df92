"""Trust for verification: kyso's own CA certificates plus the roots an operator adds (``KYSO_EXTRA_ROOTS``,
PEM or DER files, e.g. the national root), and a validation context per verification.

A :class:`TrustSet` is built once per process and reused, with pyHanko's trust manager over the anchors (immutable,
built once); ``context()`` makes the (cheap, stateful) pyHanko ``ValidationContext`` each verification needs: its
certificate registry, revocation data and results are per document and never shared. Embedded CRLs/OCSP responses *about kyso's own certificates*
are never handed to pyHanko: kyso's revocation records answer for those (see :mod:`signer.registry`), so a
document carrying a 100,000-entry kyso CRL costs no CRL parsing here.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleTrustManager

from ca.authority import CA_ROLES
from ca.errors import InvalidInput
from signer import fastpdf


class BadTrustRoot(InvalidInput):
    code = "bad_trust_root"
    vi = "Không đọc được chứng thư gốc bổ sung (KYSO_EXTRA_ROOTS)."
    en = "An extra trust root (KYSO_EXTRA_ROOTS) cannot be read."


def load_certificates(path: Path) -> list[asn1_x509.Certificate]:
    """Every certificate in a PEM (one or more blocks) or DER file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadTrustRoot(f"Extra trust root {path} cannot be read: {exc.strerror}",
                           f"Không đọc được chứng thư gốc bổ sung {path}: {exc.strerror}") from None
    try:
        if pem.detect(data):
            certs = [asn1_x509.Certificate.load(der) for kind, _h, der in pem.unarmor(data, multiple=True)
                     if kind == "CERTIFICATE"]
        else:
            certs = [asn1_x509.Certificate.load(data)]
        for c in certs:
            c.native  # noqa: B018 - parse fully now, not in the middle of a verification
    except (ValueError, TypeError) as exc:
        raise BadTrustRoot(f"Extra trust root {path} is not a PEM or DER certificate ({exc})",
                           f"Chứng thư gốc bổ sung {path} không phải chứng thư PEM hoặc DER") from None
    if not certs:
        raise BadTrustRoot(f"Extra trust root {path} holds no certificate",
                           f"Tệp chứng thư gốc bổ sung {path} không chứa chứng thư nào")
    return certs


class _Lookup(dict):
    """A subject-name index that answers "none" for an unknown name without remembering it (pyHanko's
    ``defaultdict(list)`` would grow by one entry per foreign issuer name seen by a long-lived process)."""

    def __missing__(self, key: Any) -> list:
        return []


def _trust_manager(anchors: list[asn1_x509.Certificate]) -> SimpleTrustManager:
    """pyHanko's trust manager over ``anchors``, built once per process: it only holds the anchors (immutable)
    and their derived qualifiers, computed here so that later readers never race to fill them in. Same anchors,
    same order as ``ValidationContext(trust_roots=anchors)`` builds per call."""
    manager = SimpleTrustManager.build(trust_roots=list(anchors))
    for anchor in manager._roots:  # noqa: SLF001 - warm the lazily derived values
        anchor.trust_qualifiers  # noqa: B018
        anchor.authority.name.hashable  # noqa: B018
    manager._root_subject_map = _Lookup(manager._root_subject_map)  # noqa: SLF001
    return manager


@dataclass
class TrustSet:
    """kyso's CA certificates by role, and every trust anchor (kyso's root first, then extra roots)."""

    kyso: dict[str, asn1_x509.Certificate]
    extra_roots: list[asn1_x509.Certificate] = field(default_factory=list)
    # earlier generations of renewed roles (OCSP, TSA): their responses and tokens are still kyso's
    previous: list[tuple[str, asn1_x509.Certificate]] = field(default_factory=list)
    # the certificate ids the set was built from (``versions_of``), to notice a renewal
    versions: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        roles = list(self.kyso)
        self.kyso = dict(zip(roles, fastpdf.pin_certificates([self.kyso[r] for r in roles])))
        self.extra_roots = fastpdf.pin_certificates(self.extra_roots)
        self.anchors = [self.kyso["root"], *self.extra_roots]
        self.intermediates = [c for role, c in self.kyso.items() if role != "root"]
        self._kyso_names = {c.subject.dump() for role, c in self.kyso.items() if role in ("root", "issuing")}
        self._kyso_fps = {hashlib.sha256(c.dump()).digest(): role for role, c in self.previous}
        self._kyso_fps.update({hashlib.sha256(c.dump()).digest(): role for role, c in self.kyso.items()})
        self._trust_manager = _trust_manager(self.anchors)

    ROLES = CA_ROLES

    @classmethod
    def versions_of(cls, authority: Any) -> tuple[int, ...]:
        return tuple(authority.ca_id(role) for role in cls.ROLES)

    @classmethod
    def from_authority(cls, authority: Any, extra_roots: Iterable[Path] = ()) -> "TrustSet":
        from cryptography.hazmat.primitives import serialization

        kyso = {}
        for role in cls.ROLES:
            der = authority.ca_cert(role).public_bytes(serialization.Encoding.DER)
            kyso[role] = asn1_x509.Certificate.load(der)
        previous = [(role, asn1_x509.Certificate.load(der)) for role in authority.RENEWABLE
                    for der in authority.role_certificates(role)]
        extra = [c for p in extra_roots for c in load_certificates(p)]
        return cls(kyso, extra, previous, cls.versions_of(authority))

    def is_kyso_root(self, cert: asn1_x509.Certificate) -> bool:
        return self._kyso_fps.get(hashlib.sha256(cert.dump()).digest()) == "root"

    def kyso_role(self, cert: asn1_x509.Certificate) -> str | None:
        return self._kyso_fps.get(hashlib.sha256(cert.dump()).digest())

    def issued_by_kyso(self, issuer_name_der: bytes) -> bool:
        return issuer_name_der in self._kyso_names

    def foreign_revinfo(self, crls: Iterable[asn1_crl.CertificateList],
                        ocsps: Iterable[asn1_ocsp.OCSPResponse]) -> tuple[list, list]:
        """Embedded revocation data that is *not* about kyso's certificates (those come from kyso's records).
        Reading a CRL's issuer does not parse its entries (asn1crypto parses lazily)."""
        foreign_crls = []
        for c in crls:
            try:
                issuer = c["tbs_cert_list"]["issuer"].dump()
            except (ValueError, TypeError, KeyError):
                continue
            if not self.issued_by_kyso(issuer):
                foreign_crls.append(c)
        foreign_ocsps = []
        for o in ocsps:
            try:
                basic = o["response_bytes"]["response"].parsed
                certs = basic["certs"]
                responder_kyso = any(self.kyso_role(c) == "ocsp" for c in certs) if certs else False
            except (ValueError, TypeError, KeyError, AttributeError):
                continue
            if not responder_kyso:
                foreign_ocsps.append(o)
        return foreign_crls, foreign_ocsps

    def context(self, moment: dt.datetime, *, crls: list | None = None, ocsps: list | None = None,
                other_certs: Iterable[asn1_x509.Certificate] = (), fetch: bool = False,
                shared: bool = True) -> ValidationContext:
        """A fresh validation context at ``moment`` (soft-fail revocation: a missing CRL/OCSP is decided
        by kyso's own rules afterwards, a revoked status found in embedded data still counts). ``shared``: over
        the process's trust manager (else one built for this context, as pyHanko does by default)."""
        anchors: dict[str, Any] = {"trust_manager": self._trust_manager} if shared else \
            {"trust_roots": list(self.anchors)}
        kwargs: dict[str, Any] = dict(**anchors,
                                      other_certs=[*self.intermediates, *other_certs],
                                      crls=crls or [], ocsps=ocsps or [], revocation_mode="soft-fail")
        if fetch:
            # pyHanko cannot fetch and validate at a fixed moment at the same time
            kwargs["allow_fetching"] = True
        else:
            kwargs["moment"] = moment
        return ValidationContext(**kwargs)
