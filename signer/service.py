"""The signing service: what the API, the ``kyso sign`` command and the web pages call.

    sign_pdf(instance, username, pdf_bytes, options, otp=...)   -> signed PDF bytes
    sign_batch(instance, username, [pdf_bytes, ...], options, otp=..., progress=...) -> [signed PDF bytes, ...]
    set_image(instance, username, "signature" | "seal", png_bytes)

``options`` is a :class:`SignOptions` (build it from strings with :func:`options_from_form`). Every refusal is a
:class:`ca.errors.KysoError` (see :mod:`signer.errors`). Order of work, so that nothing is half-written:

1. every document is checked (PDF, size, encryption, pages, boxes, images, locks) and the certificate chosen and
   checked (:mod:`signer.policy`) — nothing is written yet;
2. activation: the TOTP code is checked and spent (committed: a code works once even if signing then fails);
3. the documents are signed in memory with the key in the HSM;
4. one transaction records every signature (``SignatureRecord`` + an audit event with both SHA-256 sums);
   only then are the signed bytes handed back.
"""
from __future__ import annotations

import hashlib
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from cryptography.hazmat.primitives import serialization
from sqlalchemy import insert

from ca.groupcommit import GroupCommitter
from ca.store.models import SignatureRecord
from signer import appearance as ap, errors, images, levels, pdfinput, placement, policy
from signer.hsm_signer import HsmSigner, hsm_key
from signer.ltv import as_asn1

MAX_BATCH = 500


@dataclass(frozen=True)
class SignOptions:
    level: str = levels.DEFAULT_LEVEL
    appearance: str = "none"
    page: int | None = None  # 1-based; default: last page (signer, seal), page 1 (attachment, copy)
    box: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2 in points
    reason: str | None = None
    location: str | None = None
    doc_number: str | None = None  # số và ký hiệu, for ``attachment``
    copy_form: str | None = None  # SAO Y | SAO LỤC | TRÍCH SAO, for ``copy``
    certify: bool = False  # certification signature (DocMDP, form filling and further signatures allowed)
    lock: bool = False  # lock the document: no change and no further signature after this one
    certificate: str | None = None  # serial of the certificate to use (default: the newest valid one)

    def checked(self) -> "SignOptions":
        level = levels.check_level(self.level)
        if self.appearance not in ap.APPEARANCES:
            raise errors.InvalidOption(f"appearance is one of {', '.join(ap.APPEARANCES)}",
                                       f"appearance là một trong: {', '.join(ap.APPEARANCES)}",
                                       code="invalid_appearance")
        for name in ("reason", "location", "doc_number", "copy_form"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > 200 or "\x00" in value):
                raise errors.InvalidOption(f"{name} must be text of at most 200 characters",
                                           f"{name} phải là văn bản tối đa 200 ký tự", code=f"invalid_{name}")
        if self.box is not None and self.appearance == "none":
            raise errors.InvalidOption("An invisible signature (appearance=none) takes no box",
                                       "Chữ ký ẩn (appearance=none) không cần vị trí", code="box_not_allowed")
        return SignOptions(**{**self.__dict__, "level": level})


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise errors.InvalidOption(f"{name} is true or false", f"{name} là true hoặc false", code=f"invalid_{name}")


def parse_box(value: Any) -> tuple[float, float, float, float] | None:
    if value in (None, ""):
        return None
    try:
        parts = value if isinstance(value, (list, tuple)) else str(value).replace(";", ",").split(",")
        nums = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        nums = ()
    if len(nums) != 4:
        raise errors.BoxOffPage("box is four numbers x1,y1,x2,y2 in points",
                                "box gồm bốn số x1,y1,x2,y2 (đơn vị point)", code="invalid_box")
    return nums  # type: ignore[return-value]


def options_from_form(form: Mapping[str, Any]) -> SignOptions:
    """SignOptions from request fields / command-line strings (API.md names)."""
    page = form.get("page")
    if page not in (None, ""):
        try:
            page = int(str(page).strip())
        except ValueError:
            raise errors.PageOutOfRange("page is a page number (1 = first page)",
                                        "page là số trang (1 = trang đầu)") from None
    else:
        page = None

    def text(name: str) -> str | None:
        v = form.get(name)
        return str(v).strip() or None if v is not None else None

    return SignOptions(level=text("level") or levels.DEFAULT_LEVEL, appearance=(text("appearance") or "none").lower(),
                       page=page, box=parse_box(form.get("box")), reason=text("reason"), location=text("location"),
                       doc_number=text("doc_number"), copy_form=(text("copy_form") or "").upper() or None,
                       certify=_flag(form.get("certify"), "certify"), lock=_flag(form.get("lock"), "lock"),
                       certificate=text("certificate")).checked()


# -- signer objects, cached per process ------------------------------------------------------------------
# Kept per authority object (weak keys: a new authority starts empty, a dead one's entries go with it, and an
# ``id()`` reused by another object can never find them), then per certificate (row id and DER). An entry is
# rebuilt when the key store or a CA certificate object of the authority is not the one it was built from.
@dataclass
class _SignerEntry:
    signer: HsmSigner
    cert_sizes: int
    keystore: Any
    chain: tuple  # the CA certificate objects the signer embeds
    reserved: dict[str, int]


_SIGNERS: "weakref.WeakKeyDictionary[Any, dict[tuple[int, bytes], _SignerEntry]]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _signer_entry(instance: Any, ident: policy.Identity) -> _SignerEntry:
    auth = instance.authority
    chain = (auth.ca_cert("issuing"), auth.ca_cert("root"))
    key = (ident.certificate_id, ident.der)
    with _LOCK:
        entries = _SIGNERS.get(auth)
        if entries is None:
            entries = _SIGNERS[auth] = {}
        hit = entries.get(key)
    if (hit is not None and hit.keystore is instance.keystore
            and all(a is b for a, b in zip(hit.chain, chain))):
        return hit
    cert = ident.certificate
    signer = HsmSigner(hsm_key(instance.keystore, ident.key_label), as_asn1(cert), [as_asn1(c) for c in chain])
    size = sum(len(c.public_bytes(serialization.Encoding.DER)) for c in [cert, *chain])
    entry = _SignerEntry(signer, size, instance.keystore, chain, {})
    with _LOCK:
        entries[key] = entry
    return entry


def hsm_signer(instance: Any, ident: policy.Identity) -> tuple[HsmSigner, int]:
    """(HsmSigner, DER size of the embedded certificates) for the identity's certificate; cached."""
    entry = _signer_entry(instance, ident)
    return entry.signer, entry.cert_sizes


def reserved_size(instance: Any, ident: policy.Identity, level: str, cert_sizes: int | None = None) -> int:
    entry = _signer_entry(instance, ident)
    size = entry.reserved.get(level)
    if size is None:
        size = entry.reserved[level] = levels.reserve(entry.cert_sizes, ident.certificate.public_key(), level,
                                                      instance.authority)
    return size


_COMMITTERS: "weakref.WeakKeyDictionary[Any, GroupCommitter]" = weakref.WeakKeyDictionary()


def committer(store: Any) -> GroupCommitter:
    """The signing records' group committer for ``store`` (one per store object and process): concurrent
    signatures share one transaction and one fsync; each caller still returns only once its own rows are
    committed."""
    with _LOCK:
        c = _COMMITTERS.get(store)
        if c is None:
            c = _COMMITTERS[store] = GroupCommitter(store)
    return c


# -- the service ----------------------------------------------------------------------------------------
def sign_pdf(instance: Any, username: str, pdf: bytes, options: SignOptions | None = None, *,
             otp: Any = None) -> bytes:
    """Sign one PDF as ``username`` (official or clerk). Returns the signed PDF; raises KysoError."""
    return sign_batch(instance, username, [pdf], options, otp=otp)[0]


def sign_batch(instance: Any, username: str, pdfs: Iterable[bytes], options: SignOptions | None = None, *,
               otp: Any = None, progress: Callable[[int], None] | None = None) -> list[bytes]:
    """Sign several PDFs with one activation. All or nothing: if one document is refused, none is signed or
    recorded. ``progress(n)`` is called with 0 once every check and the activation passed, then after each
    document with the number signed so far."""
    options = (options or SignOptions()).checked()
    pdfs = list(pdfs)
    if not pdfs:
        raise errors.InvalidOption("No PDF to sign", "Không có tệp PDF nào để ký", code="no_file")
    if len(pdfs) > MAX_BATCH:
        raise errors.InvalidOption(f"At most {MAX_BATCH} files per batch", f"Tối đa {MAX_BATCH} tệp mỗi lần ký",
                                   code="batch_too_large")
    settings, store, auth = instance.settings, instance.store, instance.authority
    docs = [pdfinput.load(pdf, settings.max_upload_bytes) for pdf in pdfs]
    now = auth.clock().replace(microsecond=0)
    with store.read() as s:
        ident = policy.resolve(s, auth, policy.load_signer(s, username), now, serial=options.certificate)
    specs = [placement.field_spec(doc, ident, options, now) for doc in docs]
    if settings.signing_activation != "none":  # committed before anything is signed (a code works once)
        committer(store).run(
            lambda s: policy.activate(s, settings, policy.load_user(s, username), otp, auth.clock))
    signer, _ = hsm_signer(instance, ident)
    reserved = reserved_size(instance, ident, options.level)
    cert = ident.certificate
    signed = []
    if progress is not None:
        progress(0)
    for i, (doc, spec) in enumerate(zip(docs, specs), start=1):
        signed.append(levels.sign(doc, spec, signer, cert, options.level, auth, now, reserved))
        if progress is not None:
            progress(i)
    record(instance, ident, [(d.sha256, out) for d, out in zip(docs, signed)], options.level, options.appearance,
           mode="hsm")
    return signed


_INSERT_RECORD = insert(SignatureRecord.__table__)  # a plain INSERT: the ORM unit of work cost more than the row


def record(instance: Any, ident: policy.Identity, results: list[tuple[str, bytes]], level: str, appearance: str,
           *, mode: str, before: Callable[[Any], None] | None = None) -> None:
    """One transaction: a SignatureRecord and an audit event per signed document (``before(session)`` runs
    first in the same transaction, e.g. to consume a two-step session). The transaction may be shared with
    concurrent signatures of this process (group commit, ``ca.groupcommit``); this returns only once it has
    committed, and raises if it did not."""
    auth = instance.authority
    sums = [(doc_sha, hashlib.sha256(out).hexdigest()) for doc_sha, out in results]

    def write(s: Any) -> None:  # re-runnable: the group committer may run it again alone
        if before is not None:
            before(s)
        for doc_sha, signed_sha in sums:
            s.execute(_INSERT_RECORD, {"user_id": ident.user_id, "certificate_id": ident.certificate_id,
                                       "document_sha256": doc_sha, "signed_sha256": signed_sha, "level": level,
                                       "appearance": appearance, "created_at": auth.clock()})
            auth.record(s, ident.username, "sign.pdf", doc_sha,
                        {"certificate": ident.serial, "level": level, "appearance": appearance,
                         "document_sha256": doc_sha, "signed_sha256": signed_sha, "key": mode})

    committer(instance.store).run(write)


def set_image(instance: Any, username: str, kind: str, png: bytes) -> dict:
    """Store the user's handwritten-signature (``signature``, officials) or agency seal (``seal``, clerks) PNG."""
    if kind not in ("signature", "seal"):
        raise errors.InvalidOption("kind is signature or seal", "kind là signature hoặc seal", code="invalid_kind")
    png = images.check_png(png)
    auth = instance.authority
    with instance.store.write() as s:
        user = policy.load_user(s, username)
        allowed = {"signature": "official", "seal": "clerk"}[kind]
        if user.role != allowed:
            raise errors.SignerNotAllowed(f"Only a user with the role {allowed} keeps a {kind} image",
                                          f"Chỉ người dùng vai trò {allowed} mới lưu ảnh {'chữ ký' if kind == 'signature' else 'con dấu'}")
        if kind == "signature":
            user.signature_image = png
        else:
            user.seal_image = png
        digest = hashlib.sha256(png).hexdigest()
        auth.record(s, username, f"user.{kind}_image", username, {"sha256": digest, "bytes": len(png)})
    return {"kind": kind, "sha256": digest, "bytes": len(png)}
