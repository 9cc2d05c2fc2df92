"""Certificate profiles, loaded from ``profiles.json`` (data, so formats can follow new rules without code).

``KYSO_PROFILES`` may point at an operator's own JSON file of the same shape.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ca.errors import UnknownProfile

_DEFAULT = Path(__file__).with_name("profiles.json")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    validity_days: int
    ca: bool
    key_usage: tuple[str, ...]
    allowed_subject: tuple[str, ...]
    required_subject: tuple[str, ...]
    issuer: str | None
    path_len: int | None = None
    key_usage_critical: bool = True
    eku: tuple[str, ...] = ()
    eku_critical: bool = False
    ocsp_nocheck: bool = False
    crl_dp: str | bool = False
    aia: str | bool = False
    ocsp: bool = False
    policies: bool = False
    freshest_crl: str | bool = False
    # ETSI EN 319 412 subject attributes derived from the request (see ca/names.py derive())
    subject_derived: dict[str, Any] = field(default_factory=dict)
    # "natural" | "legal": state the identifier semantics in qcStatements (ETSI EN 319 412-1 §5.1)
    qc_semantics: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProfileSet:
    policy_oid: str
    profiles: dict[str, Profile]
    rsa_min_bits: int
    ec_curves: tuple[str, ...]
    hashes: tuple[str, ...]
    end_entity: tuple[str, ...]
    rsa_max_bits: int = 8192

    def get(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise UnknownProfile(f"Unknown certificate profile {name!r} (known: {', '.join(self.end_entity)})",
                                 f"Không có hồ sơ chứng thư {name!r} (có: {', '.join(self.end_entity)})") from None

    def end_entity_profile(self, name: str) -> Profile:
        if name not in self.end_entity:
            raise UnknownProfile(f"Profile {name!r} cannot be requested (use one of {', '.join(self.end_entity)})",
                                 f"Không thể yêu cầu hồ sơ {name!r} (dùng: {', '.join(self.end_entity)})")
        return self.get(name)


def _profile(name: str, raw: dict[str, Any]) -> Profile:
    known = {f for f in Profile.__dataclass_fields__}
    args = {k: v for k, v in raw.items() if k in known}
    for key in ("key_usage", "allowed_subject", "required_subject", "eku"):
        if key in args:
            args[key] = tuple(args[key])
    extra = {k: v for k, v in raw.items() if k not in known}
    return Profile(name=name, extra=extra, **args)


@lru_cache(maxsize=4)
def load(path: str | None = None) -> ProfileSet:
    path = path or os.environ.get("KYSO_PROFILES") or str(_DEFAULT)
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    algs = data["allowed_algorithms"]
    return ProfileSet(
        policy_oid=data["policy_oid"],
        profiles={name: _profile(name, raw) for name, raw in data["profiles"].items()},
        rsa_min_bits=int(algs["rsa_min_bits"]),
        ec_curves=tuple(algs["ec_curves"]),
        hashes=tuple(algs["hashes"]),
        end_entity=tuple(data["end_entity_profiles"]),
        rsa_max_bits=int(algs.get("rsa_max_bits", 8192)),
    )
