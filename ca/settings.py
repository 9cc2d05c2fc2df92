"""One typed settings object, read from the environment (``KYSO_*``; see API.md).

Secrets (the token PIN, the web secret key) come from the environment or a ``*_FILE``; otherwise from
the files that ``kyso init`` writes (0600) under ``$KYSO_HOME``. They are never logged: ``repr()`` hides them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from hsm.softhsm import default_module


class SettingsError(ValueError):
    code = "bad_settings"


def _secret(env: Mapping[str, str], name: str, fallback: Path | None) -> str | None:
    if env.get(name):
        return env[name]
    file = env.get(f"{name}_FILE")
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"{name}_FILE cannot be read: {exc.strerror}") from None
    if fallback is not None and fallback.is_file():
        return fallback.read_text(encoding="utf-8").strip()
    return None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from None


def _oid(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    parts = raw.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > 2:
        raise SettingsError(f"{name} must be a dotted object identifier like 2.16.704.1.1.1.2.1, not {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    base_url: str
    pkcs11_module: str
    token_label: str
    pin: str | None = field(repr=False)
    softhsm_conf: Path
    bundled_softhsm: bool
    signing_activation: str = "totp"
    secret_key: str | None = field(default=None, repr=False)
    max_upload_bytes: int = 50 * 1024 * 1024
    verify_timeout_s: int = 10
    crl_validity_hours: int = 24
    delta_crl_validity_hours: int = 1
    ocsp_validity_minutes: int = 60
    tsa_policy_oid: str = "2.16.704.1.1.1.2.1"  # placeholder until the CP/CPS assigns one (docs/revocation.md)
    fetch_revocation: bool = False
    extra_roots: tuple[Path, ...] = ()
    production: bool = False
    # reverse proxies in front of kyso whose X-Forwarded-For/-Proto/-Host are believed (0: none, headers ignored)
    trusted_proxies: int = 0
    # how soon a running process notices that a CA role (OCSP, TSA) was renewed by another process or node
    ca_reload_seconds: int = 60

    @property
    def pin_file(self) -> Path:
        return self.home / "token.pin"

    @property
    def so_pin_file(self) -> Path:
        return self.home / "token.so-pin"

    @property
    def secret_key_file(self) -> Path:
        return self.home / "secret.key"

    @property
    def crl_dir(self) -> Path:
        return self.home / "crl"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        home = Path(env.get("KYSO_HOME") or "./var").resolve()
        db = env.get("KYSO_DATABASE_URL") or f"sqlite:///{home / 'kyso.db'}"
        base = (env.get("KYSO_BASE_URL") or "http://127.0.0.1:8080").rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise SettingsError(f"KYSO_BASE_URL must start with http:// or https://, not {base!r}")
        conf_env = env.get("SOFTHSM2_CONF")
        bundled = not conf_env
        softhsm_conf = Path(conf_env) if conf_env else home / "softhsm2.conf"
        activation = (env.get("KYSO_SIGNING_ACTIVATION") or "totp").lower()
        if activation not in ("totp", "none"):
            raise SettingsError(f"KYSO_SIGNING_ACTIVATION must be 'totp' or 'none', not {activation!r}")
        roots = tuple(Path(p) for p in (env.get("KYSO_EXTRA_ROOTS") or "").split(os.pathsep) if p)
        return cls(
            home=home,
            database_url=db,
            base_url=base,
            pkcs11_module=env.get("KYSO_PKCS11_MODULE") or default_module(),
            token_label=env.get("KYSO_PKCS11_TOKEN") or "kyso",
            pin=_secret(env, "KYSO_PKCS11_PIN", home / "token.pin"),
            softhsm_conf=softhsm_conf,
            bundled_softhsm=bundled,
            signing_activation=activation,
            secret_key=_secret(env, "KYSO_SECRET_KEY", home / "secret.key"),
            max_upload_bytes=_int(env, "KYSO_MAX_UPLOAD_MB", 50) * 1024 * 1024,
            verify_timeout_s=_int(env, "KYSO_VERIFY_TIMEOUT", 10),
            crl_validity_hours=_int(env, "KYSO_CRL_VALIDITY_HOURS", 24),
            delta_crl_validity_hours=_int(env, "KYSO_DELTA_CRL_VALIDITY_HOURS", 1),
            ocsp_validity_minutes=_int(env, "KYSO_OCSP_VALIDITY_MINUTES", 60),
            tsa_policy_oid=_oid(env, "KYSO_TSA_POLICY_OID", "2.16.704.1.1.1.2.1"),
            fetch_revocation=(env.get("KYSO_FETCH_REVOCATION") or "").lower() in ("1", "true", "yes"),
            extra_roots=roots,
            production=(env.get("KYSO_ENV") or "").lower() == "production",
            trusted_proxies=_int(env, "KYSO_TRUSTED_PROXIES", 0),
            ca_reload_seconds=_int(env, "KYSO_CA_RELOAD_SECONDS", 60),
        )

    def keystore(self):
        """The KeyStore these settings describe (nothing touches the token until it is used)."""
        from hsm import KeyStore

        return KeyStore(self.pkcs11_module, self.token_label, self.pin,
                        softhsm_conf=str(self.softhsm_conf))
