"""The authority: the CA hierarchy in the HSM, and issuance.

``Authority`` is built once per process (per gunicorn worker) and caches the CA certificates and HSM key
objects; every state change is written (and audited) in one database transaction before it returns.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm as CryptoUnsupported
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ca import audit, names
from ca.certbuilder import CertificateTemplate, build_certificate, check_public_key, new_serial, serial_hex
from ca.errors import (Conflict, InvalidCSR, InvalidInput, NotFound, NotInitialised, TooLarge, Unavailable,
                       WeakKey)
from ca.groupcommit import GroupCommitter
from ca.profiles import Profile, ProfileSet, load as load_profiles
from ca.store import Store
from ca.store.models import Certificate, HsmKey, Setting, User
from ca.store.prepared import RawTransaction, insert_into
from ca.timeutil import Clock, utcnow

CA_ROLES = ("root", "issuing", "ocsp", "tsa")
KEYGEN_ALGORITHMS = ("rsa2048", "rsa3072", "rsa4096", "ec-p256", "ec-p384")
_INSERT_CERT = insert_into(Certificate.__table__, skip=("id",), returning=Certificate.__table__.c.id)
_INSERT_KEY = insert_into(HsmKey.__table__, skip=("id",))
_SHA_OK = {"sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512"}


@dataclass(frozen=True)
class Issued:
    serial: str
    pem: str
    not_before: dt.datetime
    not_after: dt.datetime
    status: str
    key_label: str | None
    certificate_id: int


def cert_status(row: Certificate, now: dt.datetime) -> str:
    if row.revoked:
        return "revoked"
    if row.not_after < now:
        return "expired"
    if row.not_before > now:
        return "not_yet_valid"
    return "valid"


MAX_CSR_BYTES = 64 * 1024


def parse_csr(data: Any, hashes_allowed: tuple[str, ...] | set[str] = tuple(_SHA_OK)) -> x509.CertificateSigningRequest:
    """A PKCS#10 request (PEM or DER) whose signature is checked as proof of possession of its private key.
    Refused: unreadable, larger than 64 KiB, signed with a hash not in ``hashes_allowed`` (e.g. SHA-1), or whose
    signature does not verify (tampered)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    if not isinstance(data, bytes):
        raise InvalidCSR("csr must be a PEM text", "csr phải là văn bản PEM")
    if len(data) > MAX_CSR_BYTES:
        raise TooLarge("The CSR is larger than 64 KiB", "CSR lớn hơn 64 KiB", code="csr_too_large")
    try:
        if b"-----BEGIN" in data:
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
    except (ValueError, TypeError):
        raise InvalidCSR("The CSR cannot be read (PEM or DER PKCS#10 expected)",
                         "Không đọc được CSR (cần PKCS#10 dạng PEM hoặc DER)") from None
    try:
        alg = csr.signature_hash_algorithm
    except CryptoUnsupported:
        alg = None
    if alg is None or alg.name not in hashes_allowed:
        name = getattr(alg, "name", None) or "an algorithm kyso does not accept"
        raise WeakKey(f"The CSR is signed with {name}; SHA-256 or stronger is required",
                      f"CSR được ký bằng {name}; cần SHA-256 hoặc mạnh hơn")
    try:
        ok = csr.is_signature_valid
    except (CryptoUnsupported, ValueError):
        ok = False
    if not ok:
        raise InvalidCSR("The CSR's signature is invalid: no proof of possession of the private key",
                         "Chữ ký trên CSR không hợp lệ: không chứng minh được việc nắm giữ khóa bí mật")
    return csr


class Authority:
    def __init__(self, settings: Any, store: Store, keystore: Any, *, clock: Clock = utcnow,
                 profiles: ProfileSet | None = None):
        self.settings = settings
        self.store = store
        self.keystore = keystore
        self.clock = clock
        self.profiles = profiles or load_profiles()
        self._certs: dict[str, tuple[int, x509.Certificate, str, float]] = {}  # …, reload after (monotonic)
        self._keys: dict[str, Any] = {}
        self._templates: dict[tuple[str, int], CertificateTemplate] = {}
        self._committer = GroupCommitter(store, raw=True)

    # -- CA material --------------------------------------------------------------------------------
    def is_initialised(self) -> bool:
        with self.store.read() as s:
            return s.get(Setting, "ca.issuing") is not None

    def _load_ca(self, role: str, *, fresh: bool = False) -> tuple[int, x509.Certificate, str]:
        """(certificate id, certificate, key label) of a CA role, cached per process. The role's setting is read
        again every ``ca_reload_seconds`` (one primary-key read), so a renewal made by another process or node
        (``renew``) is picked up; when the role moved, the cached key goes too. ``fresh``: check now."""
        cached = self._certs.get(role)
        now = time.monotonic()
        if cached is not None and now < cached[3] and not fresh:
            return cached[:3]
        try:
            with self.store.read() as s:
                setting = s.get(Setting, f"ca.{role}")
                if setting is None:
                    raise NotInitialised()
                cert_id = int(setting.value)
                if cached is not None and cached[0] == cert_id:
                    entry = cached[:3]
                else:
                    row = s.get(Certificate, cert_id)
                    entry = (row.id, x509.load_der_x509_certificate(row.der), row.key_label)
                    self._keys.pop(role, None)
        except Unavailable as exc:
            if cached is None or isinstance(exc, NotInitialised):
                raise
            # The database is down: keep what this process knows (the TSA, for one, needs only the HSM) and
            # look again shortly.
            self._certs[role] = (*cached[:3], now + min(5, self.settings.ca_reload_seconds))
            return cached[:3]
        self._certs[role] = (*entry, now + self.settings.ca_reload_seconds)
        return entry

    def ca_cert(self, role: str) -> x509.Certificate:
        return self._load_ca(role)[1]

    def ca_id(self, role: str) -> int:
        return self._load_ca(role)[0]

    def ca_key(self, role: str) -> Any:
        key = self._keys.get(role)
        if key is None:
            key = self.keystore.private_key(self._load_ca(role)[2])
            self._keys[role] = key
        return key

    def role_state(self, role: str, build: Any) -> Any:
        """Per-process state derived from a CA role's certificate and key (``build(self)``, which stores the
        role's ``cert_id`` on it), built on first use and again when the role was renewed."""
        key = f"_state_{role}"
        state = self.__dict__.get(key)
        if state is None or state.cert_id != self.ca_id(role):
            state = build(self)
            self.__dict__[key] = state
        return state

    def role_certificates(self, role: str) -> list[bytes]:
        """Every certificate (DER) that has held a CA role, current and renewed ones, oldest first."""
        with self.store.read() as s:
            return list(s.execute(select(Certificate.der).where(Certificate.role == role)
                                  .order_by(Certificate.id)).scalars())

    def audit_key(self) -> Any:
        key = self._keys.get("audit")
        if key is None:
            with self.store.read() as s:
                setting = s.get(Setting, "audit.key_label")
                label = setting.value if setting else None
            if label is None:
                return None
            key = self.keystore.private_key(label)
            self._keys["audit"] = key
        return key

    def chain_pem(self) -> str:
        return "".join(self.ca_cert(r).public_bytes(serialization.Encoding.PEM).decode() for r in ("issuing", "root"))

    def record(self, session: Session | RawTransaction, actor: str, action: str, target: str | None = None,
               details: dict | None = None) -> None:
        """Append an audit event in the transaction of ``session`` (an ORM Session or a RawTransaction);
        checkpoints are signed by the HSM audit key."""
        audit.append(session, actor, action, target, details, clock=self.clock, signer=self.audit_key())

    # -- initialisation -----------------------------------------------------------------------------
    def initialise(self, *, org: str, admin_user: str, admin_password: str, province: str | None = None,
                   issuing_algorithm: str = "rsa3072", root_algorithm: str = "rsa4096",
                   responder_algorithm: str = "ec-p256", actor: str = "cli") -> dict[str, str]:
        """Create the hierarchy (every key in the HSM), the database, and the first admin. Refuses to
        overwrite an existing CA. If anything fails, the keys generated so far are destroyed again."""
        from ca.users import check_password_strength, create_user, validate_username

        self.store.migrate()
        if self.is_initialised():
            raise Conflict("A CA already exists here; kyso init never overwrites it",
                           "Đã có CA ở đây; kyso init không bao giờ ghi đè", code="already_initialised")
        validate_username(admin_user)
        check_password_strength(admin_password)
        org = names._clean("O", org)
        now = self.clock().replace(microsecond=0)
        suffix = now.strftime("%Y%m%d") + "-" + secrets.token_hex(3)
        base = {"C": "VN", "O": org}
        if province:
            base["ST"] = province
        plan = [
            ("root", root_algorithm, dict(base, CN=f"Root CA chuyên dùng {org}"[:64])),
            ("issuing", issuing_algorithm, dict(base, CN=f"CA ký số chuyên dùng {org}"[:64])),
            ("ocsp", responder_algorithm, {"C": "VN", "O": org, "CN": f"OCSP {org}"[:64]}),
            ("tsa", responder_algorithm, {"C": "VN", "O": org, "CN": f"TSA {org}"[:64]}),
        ]
        generated: list[str] = []
        try:
            certs: dict[str, tuple[x509.Certificate, str, dict]] = {}
            for role, algorithm, subject in plan:
                label = f"kyso-{role}-{suffix}"
                key = self.keystore.generate(label, algorithm)
                generated.append(label)
                profile = self.profiles.get(role)
                issuer_cert, issuer_key = (None, key) if profile.issuer is None else (
                    certs[profile.issuer][0], self.keystore.private_key(certs[profile.issuer][1]))
                cert = build_certificate(profile=profile, profiles=self.profiles, subject=names.to_name(subject),
                                         public_key=key.public_key(), issuer_cert=issuer_cert,
                                         issuer_key=issuer_key, serial=new_serial(), not_before=now,
                                         base_url=self.settings.base_url)
                certs[role] = (cert, label, subject)
            audit_label = f"kyso-audit-{suffix}"
            audit_key = self.keystore.generate(audit_label, "ec-p256")
            generated.append(audit_label)
            with self.store.write() as s:
                if s.get(Setting, "ca.issuing") is not None:
                    raise Conflict("Another process initialised the CA at the same time",
                                   "Một tiến trình khác vừa khởi tạo CA", code="already_initialised")
                audit.ensure_head(s)
                ids: dict[str, int] = {}
                for role, _alg, _subject in plan:
                    cert, label, subject = certs[role]
                    issuer_role = self.profiles.get(role).issuer
                    row = self._store_cert(s, cert, role=role, profile=role, subject=subject, key_label=label,
                                           issuer_id=ids.get(issuer_role) if issuer_role else None, owner_id=None)
                    ids[role] = row.id
                    s.add(Setting(key=f"ca.{role}", value=row.id))
                    s.add(HsmKey(label=label, algorithm=dict((r, a) for r, a, _ in plan)[role], purpose=role,
                                 public_key_der=_spki(cert.public_key()), created_at=now))
                s.add(HsmKey(label=audit_label, algorithm="ec-p256", purpose="audit",
                             public_key_der=_spki(audit_key.public_key()), created_at=now))
                s.add(Setting(key="audit.key_label", value=audit_label))
                s.add(Setting(key="instance.org", value=org))
                s.flush()
                create_user(s, admin_user, "admin", admin_password, full_name="Quản trị viên", org=org,
                            clock=self.clock)
                audit.append(s, actor, "ca.init", certs["issuing"][0].subject.rfc4514_string(),
                             {"org": org, "root": serial_hex(certs["root"][0].serial_number),
                              "issuing": serial_hex(certs["issuing"][0].serial_number), "admin": admin_user},
                             clock=self.clock, signer=audit_key)
                audit.append(s, actor, "user.add", admin_user, {"role": "admin"}, clock=self.clock,
                             signer=audit_key)
                audit.checkpoint_now(s, audit_key, clock=self.clock)
        except BaseException:
            for label in generated:
                try:
                    self.keystore.delete(label)
                except Exception:  # noqa: BLE001 - best effort clean-up; the original error matters
                    pass
            raise
        self._certs.clear()
        self._keys.clear()
        return {role: serial_hex(certs[role][0].serial_number) for role in certs}

    # -- renewal of the responder certificates ------------------------------------------------------
    RENEWABLE = ("ocsp", "tsa")
    RENEW_AT = 0.8  # of a CA certificate's lifetime
    _HOW_TO_RENEW = {"root": "a new root at a key ceremony (docs/operations.md)",
                     "issuing": "the issuing-CA rollover procedure (docs/operations.md)",
                     "ocsp": "kyso ca renew ocsp", "tsa": "kyso ca renew tsa"}

    def ca_status(self) -> list[dict[str, Any]]:
        """Each CA role's current certificate: validity, share of its lifetime used, and ``state`` — ``ok``,
        ``renew`` (past ``RENEW_AT`` of its lifetime) or ``expired`` — with how to renew it."""
        now = self.clock()
        out = []
        for role in CA_ROLES:
            cert = self._load_ca(role, fresh=True)[1]  # even if another process renewed it a moment ago
            start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
            used = (now - start) / (end - start)
            state = "expired" if now >= end else "renew" if used >= self.RENEW_AT else "ok"
            out.append({"role": role, "serial": serial_hex(cert.serial_number),
                        "subject": cert.subject.rfc4514_string(), "not_before": start.isoformat(),
                        "not_after": end.isoformat(),
                        "renew_from": (start + (end - start) * self.RENEW_AT).isoformat(),
                        "used_percent": round(max(0.0, used) * 100, 1), "state": state,
                        "renew_with": self._HOW_TO_RENEW[role]})
        return out

    def renew(self, role: str, *, actor: str, algorithm: str | None = None) -> dict[str, Any]:
        """A new key in the HSM (new label) and a new certificate from the issuing CA for the OCSP responder or the
        TSA, with the same subject, made current for the role. The old certificate and key are kept: responses and
        timestamp tokens they signed stay verifiable. Running processes switch within ``ca_reload_seconds``."""
        if role not in self.RENEWABLE:
            raise InvalidInput(f"Only the {' and '.join(self.RENEWABLE)} certificates are renewed this way "
                               f"(the root and issuing CAs need a key ceremony: docs/operations.md)",
                               f"Chỉ gia hạn được chứng thư {' và '.join(self.RENEWABLE)} theo cách này "
                               f"(CA gốc và CA cấp phát cần nghi thức khóa: docs/operations.md)",
                               code="not_renewable")
        old_id, old_cert, old_label = self._load_ca(role, fresh=True)
        profile = self.profiles.get(role)
        issuer_role = profile.issuer or "issuing"
        with self.store.read() as s:
            old = s.get(Certificate, old_id)
            subject = dict(old.subject)
            if algorithm is None:
                algorithm = s.execute(select(HsmKey.algorithm).where(HsmKey.label == old_label)
                                      ).scalar_one_or_none() or "ec-p256"
        now = self.clock().replace(microsecond=0)
        label = f"kyso-{role}-{now.strftime('%Y%m%d')}-{secrets.token_hex(3)}"
        key = self.keystore.generate(label, algorithm)
        try:
            cert = build_certificate(profile=profile, profiles=self.profiles, subject=names.to_name(subject),
                                     public_key=key.public_key(), issuer_cert=self.ca_cert(issuer_role),
                                     issuer_key=self.ca_key(issuer_role), serial=new_serial(), not_before=now,
                                     base_url=self.settings.base_url)
            with self.store.write() as s:
                setting = s.get(Setting, f"ca.{role}", with_for_update=True)
                row = self._store_cert(s, cert, role=role, profile=role, subject=subject, key_label=label,
                                       issuer_id=self.ca_id(issuer_role), owner_id=None)
                s.add(HsmKey(label=label, algorithm=algorithm, purpose=role, public_key_der=_spki(cert.public_key()),
                             created_at=now))
                previous = setting.value
                setting.value = row.id
                details = {"serial": row.serial, "previous": serial_hex(old_cert.serial_number), "label": label,
                           "algorithm": algorithm, "not_after": cert.not_valid_after_utc.isoformat()}
                if int(previous) != old_id:  # another node renewed meanwhile: this one wins, both stay valid
                    details["replaced_concurrent"] = int(previous)
                self.record(s, actor, "ca.renew", role, details)
        except BaseException:
            try:
                self.keystore.delete(label)
            except Exception:  # noqa: BLE001 - best effort clean-up; the original error matters
                pass
            raise
        self._certs.pop(role, None)
        self._keys.pop(role, None)
        return {"role": role, **details}

    # -- issuance -----------------------------------------------------------------------------------
    def _store_cert(self, s: Session, cert: x509.Certificate, *, role: str, profile: str, subject: dict,
                    key_label: str | None, issuer_id: int | None, owner_id: int | None) -> Certificate:
        der = cert.public_bytes(serialization.Encoding.DER)
        row = Certificate(serial=serial_hex(cert.serial_number), issuer_id=issuer_id, role=role, profile=profile,
                          subject_cn=subject.get("CN", ""), subject=subject, not_before=cert.not_valid_before_utc,
                          not_after=cert.not_valid_after_utc, der=der, fingerprint=hashlib.sha256(der).hexdigest(),
                          key_label=key_label, owner_id=owner_id, created_at=self.clock(), revoked=False)
        s.add(row)
        s.flush()  # the UNIQUE(serial) constraint speaks here
        return row

    def _template(self, profile: Profile) -> CertificateTemplate:
        issuer_id, issuer_cert, _ = self._load_ca("issuing")
        key = (profile.name, issuer_id)
        template = self._templates.get(key)
        if template is None or template.profile is not profile:
            template = CertificateTemplate(profile, self.profiles, issuer_cert, self.settings.base_url)
            self._templates[key] = template
        return template

    def _owner_id(self, owner: str) -> int:
        with self.store.read() as s:
            owner_id = s.execute(select(User.id).where(User.username == owner)).scalar_one_or_none()
        if owner_id is None:
            raise NotFound(f"No user {owner!r} to own this certificate",
                           f"Không có người dùng {owner!r} để sở hữu chứng thư", code="user_not_found")
        return owner_id

    def issue(self, *, profile: str, subject: Any, csr: bytes | str | None = None, keygen: str | None = None,
              owner: str | None = None, actor: str = "system") -> Issued:
        """Issue an end-entity certificate from a CSR (proof of possession checked) or with a key generated
        in the HSM. The subject is the approved JSON subject, never copied from the CSR.

        Everything that can be refused is checked before anything is generated or written. The certificate row,
        the HSM key's row and the audit event are written in one transaction, shared with concurrent issuances of
        this process (group commit, ``ca/groupcommit.py``); this returns only after that transaction committed."""
        prof = self.profiles.end_entity_profile(profile)
        subj = names.for_profile(subject, prof)
        if (csr is None) == (keygen is None):
            raise InvalidInput("Give either a CSR or a key-generation request, not both",
                               "Cần cung cấp CSR hoặc yêu cầu sinh khóa (chỉ một trong hai)", code="csr_or_keygen")
        if keygen is not None and owner is None:
            raise InvalidInput("A key generated in the HSM needs an owner (a kyso user)",
                               "Khóa sinh trong HSM cần có người sở hữu (người dùng kyso)", code="owner_required")
        if keygen is not None and keygen not in KEYGEN_ALGORITHMS:
            raise WeakKey(f"Unknown key algorithm {keygen!r} ({', '.join(KEYGEN_ALGORITHMS)})",
                          f"Thuật toán khóa không hợp lệ {keygen!r} ({', '.join(KEYGEN_ALGORITHMS)})")
        if owner is not None and not isinstance(owner, str):
            raise InvalidInput("owner must be a user name", "owner phải là tên người dùng", code="invalid_owner")
        if csr is not None:
            public_key = parse_csr(csr, self.profiles.hashes).public_key()
            algorithm = check_public_key(public_key, self.profiles)
        template = self._template(prof)
        issuer_id = self.ca_id("issuing")
        issuer_key = self.ca_key("issuing")
        owner_id = self._owner_id(owner) if owner is not None else None
        name = names.to_name(subj)
        key_label = None
        if keygen is not None:
            algorithm = keygen
            key_label = f"ee-{owner}-{secrets.token_hex(6)}"
            public_key = self.keystore.generate(key_label, keygen).public_key()
        spki = _spki(public_key)
        audit_details = {"profile": profile, "subject": names.display(subj), "owner": owner,
                         "key": "hsm" if key_label else "csr", "algorithm": algorithm}
        try:
            for attempt in range(3):
                now = self.clock().replace(microsecond=0)
                cert = template.build(subject=name, public_key=public_key, issuer_key=issuer_key,
                                      serial=new_serial(), not_before=now, email=subj.get("email"))
                der = cert.public_bytes(serialization.Encoding.DER)
                serial = serial_hex(cert.serial_number)

                row = {"serial": serial, "issuer_id": issuer_id, "role": "end-entity", "profile": profile,
                       "subject_cn": subj.get("CN", ""), "subject": subj, "not_before": cert.not_valid_before_utc,
                       "not_after": cert.not_valid_after_utc, "der": der,
                       "fingerprint": hashlib.sha256(der).hexdigest(), "key_label": key_label,
                       "owner_id": owner_id, "created_at": now, "revoked": False}

                def write(tx: RawTransaction, row: dict = row) -> int:
                    row_id = tx.one(_INSERT_CERT, row)[0]
                    if key_label:
                        tx.execute(_INSERT_KEY, {"label": key_label, "algorithm": algorithm, "purpose": "signing",
                                                 "owner_id": owner_id, "public_key_der": spki,
                                                 "created_at": now}).close()
                    self.record(tx, actor, "cert.issue", row["serial"], audit_details)
                    return row_id

                try:
                    row_id = self._committer.run(write)
                    break
                except IntegrityError:
                    if attempt == 2:
                        raise
                    continue  # a serial collision (2^-150): draw again
        except BaseException:
            if key_label:
                try:
                    self.keystore.delete(key_label)
                except Exception:  # noqa: BLE001 - best effort; the original error is the one to report
                    pass
            raise
        return Issued(serial=serial, pem=_pem(der), not_before=cert.not_valid_before_utc,
                      not_after=cert.not_valid_after_utc, status="valid", key_label=key_label, certificate_id=row_id)

    # -- queries ------------------------------------------------------------------------------------
    def get(self, serial: str) -> Certificate:
        serial = normalise_serial(serial)
        with self.store.read() as s:
            row = s.execute(select(Certificate).where(Certificate.serial == serial)
                            .options(selectinload(Certificate.owner), selectinload(Certificate.revocation))
                            ).scalar_one_or_none()
            if row is None:
                raise NotFound(f"No certificate with serial {serial}", f"Không có chứng thư số hiệu {serial}",
                               code="certificate_not_found")
            return row

    def search(self, *, status: str | None = None, q: str | None = None, limit: int = 100,
               offset: int = 0, owner_id: int | None = None) -> list[Certificate]:
        if status not in (None, "", "valid", "revoked", "expired"):
            raise InvalidInput("status is one of valid, revoked, expired", "status là valid, revoked hoặc expired",
                               code="invalid_status")
        now = self.clock()
        stmt = (select(Certificate).order_by(Certificate.id.desc())
                .options(selectinload(Certificate.owner), selectinload(Certificate.revocation)))
        if status == "revoked":
            stmt = stmt.where(Certificate.revoked.is_(True))
        elif status == "expired":
            stmt = stmt.where(Certificate.revoked.is_(False), Certificate.not_after < now)
        elif status == "valid":
            stmt = stmt.where(Certificate.revoked.is_(False), Certificate.not_after >= now)
        if owner_id is not None:
            stmt = stmt.where(Certificate.owner_id == owner_id)
        if q:
            like = f"%{q.strip().lower()}%"
            stmt = stmt.where(or_(func.lower(Certificate.subject_cn).like(like), Certificate.serial.like(like)))
        with self.store.read() as s:
            return list(s.execute(stmt.limit(max(1, min(limit, 1000))).offset(max(0, offset))).scalars())


def normalise_serial(serial: str) -> str:
    s = (serial or "").strip().lower().replace(":", "")
    if s.startswith("0x"):
        s = s[2:]
    s = s.lstrip("0") or "0"
    if not all(c in "0123456789abcdef" for c in s) or len(s) > 40:
        raise InvalidInput(f"Invalid serial number {serial!r} (hexadecimal expected)",
                           f"Số hiệu không hợp lệ {serial!r} (cần dạng thập lục phân)", code="invalid_serial")
    return s


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate_json(row: Certificate, now: dt.datetime) -> dict:
    from ca.timeutil import iso_utc

    cert_pem = x509.load_der_x509_certificate(row.der).public_bytes(serialization.Encoding.PEM).decode()
    out = {"serial": row.serial, "profile": row.profile, "subject": row.subject, "subject_display": names.display(row.subject),
           "not_before": iso_utc(row.not_before), "not_after": iso_utc(row.not_after),
           "status": cert_status(row, now), "pem": cert_pem, "fingerprint_sha256": row.fingerprint,
           "key": "hsm" if row.key_label else "external", "owner": row.owner.username if row.owner else None}
    rev = row.revocation
    if rev is not None and row.revoked:
        out["revoked_at"] = iso_utc(rev.revoked_at)
        out["revocation_reason"] = rev.reason
    return out
