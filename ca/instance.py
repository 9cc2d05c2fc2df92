"""An instance of kyso: settings + store + key store + authority. The composition both roots share
(the app factory and the ``kyso`` command), and the on-disk set-up that ``kyso init`` performs."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ca.authority import Authority
from ca.settings import Settings
from ca.store import Store
from ca.timeutil import Clock, utcnow

_TEMPLATE_FALLBACK = """directories.tokendir = @TOKENDIR@
objectstore.backend = file
log.level = ERROR
slots.removable = false
"""


def _softhsm_template() -> str:
    repo_conf = Path(__file__).resolve().parent.parent / "softhsm.conf"
    if repo_conf.is_file():
        return repo_conf.read_text(encoding="utf-8")
    return _TEMPLATE_FALLBACK


def _write_secret(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value + "\n")


@dataclass
class Instance:
    settings: Settings
    store: Store
    keystore: Any
    authority: Authority

    def initialise(self, **kwargs: Any) -> dict[str, str]:
        """``kyso init``: the CA hierarchy in the HSM, the database and the first admin (``Authority.initialise``),
        then the first full CRL, delta CRL and ARL. Returns the CA certificates' serials by role."""
        from ca.revocation import after_init

        serials = self.authority.initialise(**kwargs)
        after_init(self)
        return serials

    @classmethod
    def open(cls, settings: Settings | None = None, *, clock: Clock = utcnow) -> "Instance":
        settings = settings or Settings.from_env()
        store = Store(settings.database_url)
        keystore = settings.keystore()
        return cls(settings, store, keystore, Authority(settings, store, keystore, clock=clock))


def prepare_home(settings: Settings) -> Settings:
    """Create ``$KYSO_HOME`` and, on the bundled SoftHSM, its config, PINs (0600) and token.
    Returns settings with the PIN and secret key filled in. Idempotent."""
    from hsm import softhsm

    home = settings.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    for sub in ("crl", "logs"):
        (home / sub).mkdir(exist_ok=True)
    if not settings.secret_key and not settings.secret_key_file.exists():
        _write_secret(settings.secret_key_file, secrets.token_urlsafe(48))
    pin = settings.pin
    if settings.bundled_softhsm:
        if not settings.softhsm_conf.exists():
            softhsm.write_config(_softhsm_template(), settings.softhsm_conf, home / "tokens")
        if pin is None:
            pin = secrets.token_urlsafe(18)
            _write_secret(settings.pin_file, pin)
        if not softhsm.token_exists(settings.softhsm_conf, settings.token_label):
            if not settings.so_pin_file.exists():
                _write_secret(settings.so_pin_file, secrets.token_urlsafe(18))
            so_pin = settings.so_pin_file.read_text(encoding="utf-8").strip()
            softhsm.create_token(settings.softhsm_conf, settings.token_label, pin, so_pin)
    secret_key = settings.secret_key or settings.secret_key_file.read_text(encoding="utf-8").strip()
    return replace(settings, pin=pin, secret_key=secret_key)
