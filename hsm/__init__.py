"""HSM access over PKCS#11. The only package that imports ``pkcs11``.

Public names: :class:`KeyStore`, the error classes, and :data:`ALGORITHMS`.
"""
from hsm.errors import (
    HsmError,
    HsmUnavailable,
    KeyExists,
    KeyNotFound,
    ModuleNotFound,
    PinIncorrect,
    TokenNotFound,
    UnsupportedAlgorithm,
)
from hsm.keystore import ALGORITHMS, KeyInfo, KeyStore

__all__ = [
    "ALGORITHMS",
    "HsmError",
    "HsmUnavailable",
    "KeyExists",
    "KeyInfo",
    "KeyNotFound",
    "KeyStore",
    "ModuleNotFound",
    "PinIncorrect",
    "TokenNotFound",
    "UnsupportedAlgorithm",
]
