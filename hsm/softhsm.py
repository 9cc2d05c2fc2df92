"""SoftHSM2 specifics: finding the library, writing the bundled configuration, creating the token.

Used only when kyso runs on SoftHSM2 (the default). With a real HSM the operator creates the token with the
vendor's tools and points ``KYSO_PKCS11_MODULE`` / ``KYSO_PKCS11_TOKEN`` at it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from hsm import errors

_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


def default_module() -> str:
    """The system's SoftHSM2 library (the first candidate that exists, else the Debian path)."""
    for path in _CANDIDATES:
        if os.path.isfile(path):
            return path
    return _CANDIDATES[0]


def write_config(template: str, conf_path: Path, token_dir: Path) -> Path:
    """Write a SoftHSM2 config from ``template`` (``@TOKENDIR@`` replaced), tokens under ``token_dir``."""
    token_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf_path.parent.mkdir(parents=True, exist_ok=True)
    conf_path.write_text(template.replace("@TOKENDIR@", str(token_dir)), encoding="utf-8")
    return conf_path


def _util() -> str:
    exe = shutil.which("softhsm2-util")
    if not exe:
        raise errors.ModuleNotFound("softhsm2-util",
                                    en="softhsm2-util is not installed (apt-get install softhsm2)",
                                    vi="Chưa cài softhsm2-util (apt-get install softhsm2).")
    return exe


def token_exists(conf_path: Path, label: str) -> bool:
    env = dict(os.environ, SOFTHSM2_CONF=str(conf_path))
    out = subprocess.run([_util(), "--show-slots"], env=env, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.strip().startswith("Label:") and line.split(":", 1)[1].strip() == label:
            return True
    return False


def create_token(conf_path: Path, label: str, pin: str, so_pin: str) -> None:
    """Initialise a fresh SoftHSM2 token. The PINs pass as arguments of a short-lived local process."""
    env = dict(os.environ, SOFTHSM2_CONF=str(conf_path))
    out = subprocess.run(
        [_util(), "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
        env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise errors.HsmError(out.stderr.strip() or out.stdout.strip(),
                              vi="Không tạo được token SoftHSM.", en="Could not create the SoftHSM token")
