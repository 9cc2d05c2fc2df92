"""The KeyStore: keys generated and used inside a PKCS#11 token.

Concurrency model (see docs/architecture.md):

* python-pkcs11 calls ``C_Initialize(NULL)``. For SoftHSM2 that means "no locking": two threads inside
  the module at once corrupt its state and crash the process. python-pkcs11 also releases the GIL
  around ``C_Sign``, so Python gives no protection. Every PKCS#11 call made here therefore holds one
  process-wide lock (:data:`_P11_LOCK`).
* Parallelism comes from processes: gunicorn workers each load and initialise the module *after* fork
  (nothing here touches PKCS#11 at import time, and a fork hook drops inherited state so the child
  initialises afresh).
* One logged-in session per (module, token) per process is opened lazily and reused; key handles are
  cached by label, so a signature costs one ``C_SignInit`` + ``C_Sign``.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11x
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hsm import errors
from hsm.keys import HsmECPrivateKey, HsmRSAPrivateKey

# name -> (family, size-or-curve)
ALGORITHMS: dict[str, tuple[str, Any]] = {
    "rsa2048": ("rsa", 2048),
    "rsa3072": ("rsa", 3072),
    "rsa4096": ("rsa", 4096),
    "ec-p256": ("ec", "secp256r1"),
    "ec-p384": ("ec", "secp384r1"),
}

_P11_LOCK = threading.RLock()
# module path -> process-local state
_LIBS: dict[str, Any] = {}
_SESSIONS: dict[tuple[str, str], "_SessionState"] = {}
_PID = os.getpid()


def _after_fork_in_child() -> None:
    """A forked child must not use the parent's PKCS#11 state (PKCS#11 v2.40 §6.7.1)."""
    global _P11_LOCK, _PID
    _P11_LOCK = threading.RLock()
    _SESSIONS.clear()
    for lib in list(_LIBS.values()):
        try:
            lib.reinitialize()
        except Exception:  # noqa: BLE001 - the child re-initialises lazily below anyway
            pass
    _PID = os.getpid()


os.register_at_fork(after_in_child=_after_fork_in_child)


@dataclass(frozen=True)
class KeyInfo:
    label: str
    key_id: str
    algorithm: str
    sensitive: bool
    always_sensitive: bool
    extractable: bool
    never_extractable: bool


class _SessionState:
    def __init__(self, session: Any, pin_digest: str):
        self.session = session
        self.pin_digest = pin_digest
        self.keys: dict[str, Any] = {}
        self.publics: dict[str, Any] = {}


def _translate(exc: BaseException) -> errors.HsmError:
    if isinstance(exc, errors.HsmError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, (p11x.PinIncorrect, p11x.PinInvalid, p11x.PinLenRange)):
        return errors.PinIncorrect()
    if isinstance(exc, p11x.PinLocked):
        return errors.PinIncorrect("PIN locked", vi="Mã PIN của token HSM đã bị khóa.", en="The HSM token PIN is locked")
    if isinstance(exc, (p11x.NoSuchToken, p11x.TokenNotPresent, p11x.TokenNotRecognised, p11x.SlotIDInvalid)):
        return errors.TokenNotFound(name)
    if isinstance(exc, (p11x.NoSuchKey,)):
        return errors.KeyNotFound()
    if isinstance(exc, (p11x.MechanismInvalid, p11x.MechanismParamInvalid, p11x.KeySizeRange, p11x.DomainParamsInvalid)):
        return errors.UnsupportedAlgorithm(name)
    if isinstance(exc, (p11x.DeviceRemoved, p11x.DeviceError, p11x.DeviceMemory, p11x.GeneralError)):
        return errors.HsmUnavailable(name)
    return errors.HsmError(name)


class KeyStore:
    """Keys inside one token of one PKCS#11 module.

    ``softhsm_conf``: when given, ``SOFTHSM2_CONF`` is set to it before the module is initialised in
    this process (SoftHSM reads it once, at ``C_Initialize``).
    """

    def __init__(self, module: str, token_label: str, pin: str | None, *, softhsm_conf: str | None = None):
        self.module = module
        self.token_label = token_label
        self._pin = pin
        self._pin_digest = hashlib.sha256(pin.encode()).hexdigest() if pin is not None else None
        self._session_key = (module, token_label)
        self.softhsm_conf = softhsm_conf

    def __repr__(self) -> str:  # never shows the PIN
        return f"KeyStore(module={self.module!r}, token={self.token_label!r})"

    # -- plumbing ---------------------------------------------------------------------------------
    def _lib(self) -> Any:
        lib = _LIBS.get(self.module)
        if lib is not None:
            return lib
        if not os.path.isfile(self.module):
            raise errors.ModuleNotFound(self.module)
        if self.softhsm_conf:
            os.environ["SOFTHSM2_CONF"] = str(self.softhsm_conf)
        try:
            lib = pkcs11.lib(self.module)
        except Exception as exc:  # python-pkcs11 raises a bare PKCS11Error/RuntimeError here
            raise errors.ModuleNotFound(f"{self.module}: {exc}") from None
        _LIBS[self.module] = lib
        return lib

    def _state(self) -> _SessionState:
        if self._pin is None:
            raise errors.PinMissing()
        pin_digest = self._pin_digest
        key = self._session_key
        state = _SESSIONS.get(key)
        if state is not None:
            # PKCS#11 login is per application: a session already logged in would accept any PIN
            # (C_Login answers USER_ALREADY_LOGGED_IN without checking). Never let a different PIN ride on it.
            if not secrets.compare_digest(state.pin_digest, pin_digest):
                raise errors.PinIncorrect("another PIN is already logged in to this token in this process")
            return state
        with self._login_lock():
            session = self._open_session()
        state = _SessionState(session, pin_digest)
        _SESSIONS[key] = state
        return state

    @contextmanager
    def _login_lock(self) -> Iterator[None]:
        """Processes of this host open and log in to the token one at a time (``flock`` on a file beside the
        SoftHSM config). SoftHSM2's file store rewrites ``token.object`` at ``C_Login``; another process reading
        it at that instant saw no token at all (issue 8, tests/test_multinode_hsm.py)."""
        if not self.softhsm_conf:
            yield
            return
        path = f"{self.softhsm_conf}.login.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            yield  # read-only home: no cross-process lock, the retries below still apply
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _open_session(self) -> Any:
        """Find the token and open a logged-in session. A token that seems absent, or a general error, may be
        this process's stale view of a file token another process was rewriting: re-initialise the module
        (dropping this process's sessions of it) and look again, a few times, before calling it missing."""
        for attempt in range(4):
            lib = self._lib()
            try:
                token = lib.get_token(token_label=self.token_label)
                return token.open(rw=True, user_pin=self._pin)
            except p11x.MultipleTokensReturned:
                raise errors.TokenNotFound(f"several tokens are labelled {self.token_label!r}") from None
            except (p11x.NoSuchToken, p11x.TokenNotPresent, p11x.TokenNotRecognised, p11x.GeneralError,
                    p11x.UserPinNotInitialized) as exc:
                # UserPinNotInitialized: SoftHSM read token.object half-rewritten by another process's C_Login and
                # kept that view (seen once under `kyso serve`: every later request of that worker failed).
                if attempt == 3:
                    if isinstance(exc, p11x.NoSuchToken):
                        raise errors.TokenNotFound(self.token_label) from None
                    raise _translate(exc) from None
                self._reinitialise(lib)
                time.sleep(0.05 * (attempt + 1))
            except p11x.PKCS11Error as exc:
                raise _translate(exc) from None
        raise errors.HsmUnavailable()  # pragma: no cover - the loop returns or raises

    def _reinitialise(self, lib: Any) -> None:
        for key in [k for k in _SESSIONS if k[0] == self.module]:
            _SESSIONS.pop(key, None)
        try:
            lib.reinitialize()
        except Exception:  # noqa: BLE001 - a module that cannot even finalise: load it afresh next time
            _LIBS.pop(self.module, None)

    def _call(self, fn: Callable[[_SessionState], Any]) -> Any:
        """Run ``fn`` on this process's session, under the process-wide PKCS#11 lock.

        A session that died (token removed and re-inserted, module reset) is reopened once.
        """
        with _P11_LOCK:
            for attempt in (0, 1):
                state = self._state()
                try:
                    return fn(state)
                except errors.HsmError:
                    raise
                except (p11x.TokenNotPresent, p11x.TokenNotRecognised, p11x.DeviceRemoved) as exc:
                    if attempt:  # a stale view of a file token rewritten by another process: reload once
                        raise _translate(exc) from None
                    self._reinitialise(self._lib())
                except (p11x.SessionHandleInvalid, p11x.SessionClosed, p11x.UserNotLoggedIn,
                        p11x.ObjectHandleInvalid) as exc:
                    _SESSIONS.pop((self.module, self.token_label), None)
                    if attempt:
                        raise _translate(exc) from None
                except p11x.PKCS11Error as exc:
                    raise _translate(exc) from None
            raise errors.HsmUnavailable()  # pragma: no cover - loop always returns or raises

    @staticmethod
    def _find_private(state: _SessionState, label: str) -> Any:
        key = state.keys.get(label)
        if key is None:
            try:
                key = state.session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            except p11x.NoSuchKey:
                raise errors.KeyNotFound(label) from None
            except p11x.MultipleObjectsReturned:
                raise errors.HsmError(f"several private keys are labelled {label!r}") from None
            state.keys[label] = key
        return key

    # -- public API -------------------------------------------------------------------------------
    def health(self) -> None:
        """Raise an :class:`~hsm.errors.HsmError` unless the token answers a logged-in request."""
        self._call(lambda st: st.session.generate_random(64))

    def generate(self, label: str, algorithm: str) -> HsmRSAPrivateKey | HsmECPrivateKey:
        """Generate a key pair inside the token: private half sensitive, never extractable."""
        if algorithm not in ALGORITHMS:
            raise errors.UnsupportedAlgorithm(
                algorithm, en=f"Unsupported algorithm {algorithm!r} (use one of {', '.join(ALGORITHMS)})")
        if not label or len(label) > 128:
            raise errors.HsmError("bad label", vi="Nhãn khóa không hợp lệ.", en="Invalid key label")
        family, size = ALGORITHMS[algorithm]
        key_id = secrets.token_bytes(16)
        private_template = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
            Attribute.DECRYPT: False,
            Attribute.UNWRAP: False,
            Attribute.DERIVE: False,
        }
        public_template = {Attribute.TOKEN: True, Attribute.VERIFY: True, Attribute.ENCRYPT: False,
                           Attribute.WRAP: False}
        caps = MechanismFlag.SIGN | MechanismFlag.VERIFY

        def run(st: _SessionState) -> None:
            existing = list(st.session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                                                    Attribute.LABEL: label}))
            if existing:
                raise errors.KeyExists(label)
            if family == "rsa":
                public_template[Attribute.PUBLIC_EXPONENT] = b"\x01\x00\x01"
                st.session.generate_keypair(KeyType.RSA, size, store=True, label=label, id=key_id,
                                            capabilities=caps, public_template=public_template,
                                            private_template=private_template)
            else:
                params = st.session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(size)}, local=True)
                params.generate_keypair(store=True, label=label, id=key_id, capabilities=caps,
                                        public_template=public_template, private_template=private_template)

        self._call(run)
        return self.private_key(label)

    def private_key(self, label: str) -> HsmRSAPrivateKey | HsmECPrivateKey:
        """A private-key object that cryptography's builders accept; signing runs on the token."""
        public = self.public_key(label)
        if isinstance(public, rsa.RSAPublicKey):
            return HsmRSAPrivateKey(self, label, public)
        if isinstance(public, ec.EllipticCurvePublicKey):
            return HsmECPrivateKey(self, label, public)
        raise errors.UnsupportedAlgorithm(type(public).__name__)

    def public_key(self, label: str) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        def run(st: _SessionState) -> Any:
            cached = st.publics.get(label)
            if cached is not None:
                return cached
            self._find_private(st, label)  # the pair must have its private half here
            try:
                pub = st.session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=label)
            except p11x.NoSuchKey:
                raise errors.KeyNotFound(f"{label} (public half)") from None
            if pub.key_type == KeyType.RSA:
                n = int.from_bytes(pub[Attribute.MODULUS], "big")
                e = int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big")
                public = rsa.RSAPublicNumbers(e, n).public_key()
            elif pub.key_type == KeyType.EC:
                public = serialization.load_der_public_key(encode_ec_public_key(pub))
            else:
                raise errors.UnsupportedAlgorithm(str(pub.key_type))
            st.publics[label] = public
            return public

        return self._call(run)

    def list_keys(self) -> list[KeyInfo]:
        def run(st: _SessionState) -> list[KeyInfo]:
            out = []
            for obj in st.session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
                attrs = obj.get_attributes([Attribute.LABEL, Attribute.ID, Attribute.SENSITIVE,
                                            Attribute.ALWAYS_SENSITIVE, Attribute.EXTRACTABLE,
                                            Attribute.NEVER_EXTRACTABLE])
                out.append(KeyInfo(
                    label=attrs[Attribute.LABEL],
                    key_id=bytes(attrs[Attribute.ID]).hex(),
                    algorithm=_algorithm_name(obj),
                    sensitive=bool(attrs[Attribute.SENSITIVE]),
                    always_sensitive=bool(attrs[Attribute.ALWAYS_SENSITIVE]),
                    extractable=bool(attrs[Attribute.EXTRACTABLE]),
                    never_extractable=bool(attrs[Attribute.NEVER_EXTRACTABLE]),
                ))
            return sorted(out, key=lambda k: k.label)

        return self._call(run)

    def key_info(self, label: str) -> KeyInfo:
        for info in self.list_keys():
            if info.label == label:
                return info
        raise errors.KeyNotFound(label)

    def exists(self, label: str) -> bool:
        try:
            self._call(lambda st: self._find_private(st, label))
            return True
        except errors.KeyNotFound:
            return False

    def delete(self, label: str) -> None:
        def run(st: _SessionState) -> None:
            found = False
            for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                for obj in list(st.session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label})):
                    obj.destroy()
                    found = True
            st.keys.pop(label, None)
            st.publics.pop(label, None)
            if not found:
                raise errors.KeyNotFound(label)

        self._call(run)

    def sign_raw(self, label: str, data: bytes, mechanism: Mechanism, param: Any = None) -> bytes:
        """One C_Sign with the private key ``label``. Used by the key objects in :mod:`hsm.keys`."""
        # Hot path: session open, PIN matches, key handle cached -> one C_Sign under the lock.
        with _P11_LOCK:
            state = _SESSIONS.get(self._session_key)
            if state is not None and state.pin_digest == self._pin_digest:
                key = state.keys.get(label)
                if key is not None:
                    try:
                        return key.sign(data, mechanism=mechanism, mechanism_param=param)
                    except p11x.PKCS11Error:
                        pass  # fall through to the general path, which reopens or translates

        def run(st: _SessionState) -> bytes:
            key = self._find_private(st, label)
            return key.sign(data, mechanism=mechanism, mechanism_param=param)

        return self._call(run)


def _algorithm_name(obj: Any) -> str:
    if obj.key_type == KeyType.RSA:
        return f"rsa{len(obj[Attribute.MODULUS]) * 8}" if _has(obj, Attribute.MODULUS) else "rsa"
    if obj.key_type == KeyType.EC:
        params = bytes(obj[Attribute.EC_PARAMS])
        for name, (family, curve) in ALGORITHMS.items():
            if family == "ec" and encode_named_curve_parameters(curve) == params:
                return name
        return "ec"
    return str(obj.key_type)


def _has(obj: Any, attr: Attribute) -> bool:
    try:
        obj[attr]
        return True
    except p11x.PKCS11Error:
        return False


def fingerprint(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()
