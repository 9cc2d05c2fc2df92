"""Subjects: validation of the JSON form (API.md) and conversion to an X.509 Name.

Order of RDNs follows Vietnamese CA practice (REFERENCE.md): C, ST, L, O, OU…, T (title), CN, UID…
Identifiers go in UID (0.9.2342.19200300.100.1.1) with a prefix: CCCD:<12 digits>, CMND:<9 or 12 digits>,
MST:<10 digits>[-<3 digits>], MNS:<7 digits>. Email goes in subjectAltName (rfc822Name), not the subject.

ETSI EN 319 412 attributes are *derived* by the profile (``subject_derived`` in profiles.json), never typed
in: a natural person gets surname/givenName (split from CN unless given) and serialNumber with semantics
(e.g. ``PNOVN-<CCCD>``); a legal person gets organizationIdentifier (e.g. ``VATVN-<MST>``). See docs/ca.md.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from ca.errors import InvalidSubject

UID_PATTERNS = {
    "CCCD": re.compile(r"^\d{12}$"),
    "CMND": re.compile(r"^(\d{9}|\d{12})$"),
    "MST": re.compile(r"^\d{10}(-\d{3})?$"),
    "MNS": re.compile(r"^\d{7}$"),
}
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
# RFC 5280 upper bounds
_MAX = {"CN": 64, "O": 64, "OU": 64, "L": 128, "ST": 128, "title": 64, "givenName": 64, "surname": 64,
        "serialNumber": 64, "organizationIdentifier": 64}
_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER,
    "title": NameOID.TITLE,
    "surname": NameOID.SURNAME,
    "givenName": NameOID.GIVEN_NAME,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "CN": NameOID.COMMON_NAME,
    "uid": NameOID.USER_ID,
}
ORDER = ("C", "ST", "L", "O", "OU", "organizationIdentifier", "title", "surname", "givenName", "serialNumber", "CN",
         "uid")
# attributes a request may carry; serialNumber and organizationIdentifier are derived by the profile only
KNOWN = (set(ORDER) - {"serialNumber", "organizationIdentifier"}) | {"email"}
DERIVED = ("serialNumber", "organizationIdentifier")


def _clean(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidSubject(f"Subject field {field} must be text", f"Trường {field} phải là chuỗi ký tự")
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        raise InvalidSubject(f"Subject field {field} is empty", f"Trường {field} đang để trống")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        raise InvalidSubject(f"Subject field {field} contains control characters",
                             f"Trường {field} chứa ký tự điều khiển")
    limit = _MAX.get(field)
    if limit and len(value) > limit:
        raise InvalidSubject(f"Subject field {field} is longer than {limit} characters",
                             f"Trường {field} dài quá {limit} ký tự")
    return value


def _as_list(field: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise InvalidSubject(f"Subject field {field} must be text or a list of text",
                             f"Trường {field} phải là chuỗi hoặc danh sách chuỗi")
    return [_clean(field, v) for v in value]


def validate_uid(value: str) -> str:
    prefix, sep, rest = value.partition(":")
    pattern = UID_PATTERNS.get(prefix)
    if not sep or pattern is None:
        raise InvalidSubject(
            f"Identifier {value!r} must start with one of {', '.join(p + ':' for p in UID_PATTERNS)}",
            f"Mã định danh {value!r} phải bắt đầu bằng một trong {', '.join(p + ':' for p in UID_PATTERNS)}")
    if not pattern.match(rest):
        what = {"CCCD": "12 digits", "CMND": "9 or 12 digits", "MST": "10 digits, optionally -3 digits",
                "MNS": "7 digits"}[prefix]
        vi = {"CCCD": "12 chữ số", "CMND": "9 hoặc 12 chữ số", "MST": "10 chữ số, có thể thêm -3 chữ số",
              "MNS": "7 chữ số"}[prefix]
        raise InvalidSubject(f"Identifier {value!r} is invalid: {prefix} takes {what}",
                             f"Mã định danh {value!r} không hợp lệ: {prefix} gồm {vi}")
    return value


def normalise_subject(subject: Any, allowed: list[str], required: list[str]) -> dict[str, Any]:
    """Validate a JSON subject against a profile; return the canonical dict (lists for OU and uid)."""
    if not isinstance(subject, dict):
        raise InvalidSubject("The subject must be a JSON object", "Chủ thể phải là một đối tượng JSON")
    out: dict[str, Any] = {}
    for key, value in subject.items():
        if key not in KNOWN:
            raise InvalidSubject(f"Unknown subject attribute {key!r}", f"Thuộc tính chủ thể không xác định: {key!r}")
        if value in (None, "", []):
            continue
        if key not in allowed:
            raise InvalidSubject(f"This profile does not allow the subject attribute {key!r}",
                                 f"Hồ sơ chứng thư này không cho phép thuộc tính {key!r}")
        if key in ("OU", "uid"):
            values = _as_list(key, value)
            if key == "uid":
                values = [validate_uid(v) for v in values]
            out[key] = values
        elif key == "email":
            email = _clean(key, value)
            if not _EMAIL.match(email):
                raise InvalidSubject(f"Invalid email address {email!r}", f"Địa chỉ thư điện tử không hợp lệ: {email!r}")
            out[key] = email
        else:
            out[key] = _clean(key, value)
    if "C" in allowed and "C" not in out:
        out["C"] = "VN"
    if "C" in out:
        out["C"] = out["C"].upper()
        if not re.fullmatch(r"[A-Z]{2}", out["C"]):
            raise InvalidSubject("C must be a two-letter country code", "C phải là mã quốc gia 2 chữ cái")
    missing = [k for k in required if k not in out]
    if missing:
        raise InvalidSubject(f"Missing subject attributes: {', '.join(missing)}",
                             f"Thiếu thuộc tính chủ thể: {', '.join(missing)}")
    return out


def derive(subject: dict[str, Any], rules: dict[str, Any]) -> dict[str, Any]:
    """Add the attributes a profile derives (``subject_derived`` in profiles.json) to a normalised subject.

    * ``person_name``: surname = the first word of CN (họ), givenName = the rest (tên đệm + tên), unless the
      request gave them;
    * ``serialNumber`` / ``organizationIdentifier``: ``{"CCCD": "PNOVN-", …}`` — the first UID prefix present,
      in that order, gives the value ``<semantics prefix><identifier>`` (ETSI EN 319 412-1 §5.1.3/§5.1.4).
    """
    out = dict(subject)
    if rules.get("person_name") and "CN" in out and "surname" not in out and "givenName" not in out:
        words = out["CN"].split()
        if len(words) > 1:
            out["surname"], out["givenName"] = words[0], " ".join(words[1:])
        else:
            out["givenName"] = out["CN"]
    uids = {}
    for uid in out.get("uid", []):
        prefix, _, rest = uid.partition(":")
        uids.setdefault(prefix, rest)
    for attr in DERIVED:
        mapping = rules.get(attr) or {}
        for scheme, semantics in mapping.items():
            if scheme in uids:
                out[attr] = _clean(attr, semantics + uids[scheme])
                break
    return out


def for_profile(subject: Any, profile: Any) -> dict[str, Any]:
    """Validate a request's subject against a profile and add what the profile derives."""
    out = normalise_subject(subject, list(profile.allowed_subject), [])
    out = derive(out, profile.subject_derived)
    missing = [k for k in profile.required_subject if k not in out]
    if missing:
        hints = []
        for attr in missing:
            schemes = list((profile.subject_derived.get(attr) or {}).keys())
            hints.append(f"{attr} (from uid {' or '.join(s + ':…' for s in schemes)})" if schemes else attr)
        raise InvalidSubject(f"Missing subject attributes: {', '.join(hints)}",
                             f"Thiếu thuộc tính chủ thể: {', '.join(hints)}")
    return out


def to_name(subject: dict[str, Any]) -> x509.Name:
    rdns = []
    for key in ORDER:
        value = subject.get(key)
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(_OIDS[key], v)]))
    return x509.Name(rdns)


_REVERSE = {oid.dotted_string: key for key, oid in _OIDS.items()}


def from_name(name: x509.Name) -> dict[str, Any]:
    """The JSON form of an X.509 Name (multi-valued attributes as lists)."""
    out: dict[str, Any] = {}
    for attr in name:
        key = _REVERSE.get(attr.oid.dotted_string)
        if key is None:
            key = attr.oid.dotted_string
        if key in ("OU", "uid"):
            out.setdefault(key, []).append(attr.value)
        else:
            out[key] = attr.value
    return out


def display(subject: dict[str, Any]) -> str:
    """People-facing order, as Vietnamese CAs print it: C=…, ST=…, L=…, O=…, OU=…, T=…, CN=…, UID=…"""
    labels = {"title": "T", "uid": "UID", "surname": "SN", "givenName": "GN", "serialNumber": "SERIALNUMBER",
              "organizationIdentifier": "organizationIdentifier"}
    parts = []
    for key in ORDER:
        value = subject.get(key)
        for v in value if isinstance(value, list) else ([value] if value else []):
            parts.append(f"{labels.get(key, key)}={v}")
    return ", ".join(parts)
