"""Errors of the HSM layer.

Every PKCS#11 exception is turned into one of these inside ``hsm/`` and nowhere else. They carry a
machine code and a message in Vietnamese and English; they carry no HTTP status (``web/`` maps codes
to statuses in one table).
"""
from __future__ import annotations


class HsmError(Exception):
    code = "hsm_error"
    vi = "Lỗi thiết bị HSM."
    en = "HSM error."

    def __init__(self, detail: str | None = None, *, vi: str | None = None, en: str | None = None):
        self.vi_message = vi or self.vi
        self.en_message = en or self.en
        self.detail = detail
        text = self.en_message if not detail else f"{self.en_message} ({detail})"
        super().__init__(text)

    @property
    def message(self) -> str:
        return f"{self.vi_message} / {self}"


class ModuleNotFound(HsmError):
    code = "hsm_module_not_found"
    vi = "Không nạp được thư viện PKCS#11."
    en = "The PKCS#11 module cannot be loaded"


class TokenNotFound(HsmError):
    code = "hsm_token_not_found"
    vi = "Không tìm thấy token HSM."
    en = "The HSM token was not found"


class PinIncorrect(HsmError):
    code = "hsm_pin_incorrect"
    vi = "Mã PIN của token HSM không đúng."
    en = "The HSM token PIN is wrong"


class PinMissing(HsmError):
    code = "hsm_pin_missing"
    vi = "Chưa cấu hình mã PIN của token HSM."
    en = "No HSM token PIN is configured (KYSO_PKCS11_PIN or KYSO_PKCS11_PIN_FILE)"


class KeyNotFound(HsmError):
    code = "hsm_key_not_found"
    vi = "Không tìm thấy khóa trong HSM."
    en = "No such key in the HSM"


class KeyExists(HsmError):
    code = "hsm_key_exists"
    vi = "Khóa với nhãn này đã tồn tại trong HSM."
    en = "A key with this label already exists in the HSM"


class UnsupportedAlgorithm(HsmError):
    code = "hsm_unsupported_algorithm"
    vi = "Thuật toán không được hỗ trợ."
    en = "Unsupported algorithm"


class KeyExportRefused(HsmError):
    code = "hsm_key_export_refused"
    vi = "Khóa bí mật không bao giờ rời khỏi HSM."
    en = "Private keys never leave the HSM"


class HsmUnavailable(HsmError):
    code = "hsm_unavailable"
    vi = "HSM không phản hồi."
    en = "The HSM is not available"
