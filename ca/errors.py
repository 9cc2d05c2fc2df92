"""Domain errors. They carry a machine ``code``, a ``kind`` and a message in Vietnamese and English;
never an HTTP status: ``web/errors.py`` maps kinds (and a few codes) to statuses in one table.

Kinds: ``invalid`` (bad input), ``not_found``, ``conflict`` (state forbids it), ``forbidden`` (role or
ownership), ``unauthorized`` (who are you?), ``too_large``, ``unavailable`` (a dependency is down).
"""
from __future__ import annotations


class KysoError(Exception):
    code = "error"
    kind = "invalid"
    vi = "Yêu cầu không hợp lệ."
    en = "Invalid request."

    def __init__(self, en: str | None = None, vi: str | None = None, *, code: str | None = None,
                 kind: str | None = None):
        self.en_message = en or self.en
        self.vi_message = vi or self.vi
        if code:
            self.code = code
        if kind:
            self.kind = kind
        super().__init__(self.en_message)

    @property
    def message(self) -> str:
        return f"{self.vi_message} / {self.en_message}"


class InvalidInput(KysoError):
    code = "invalid_input"


class InvalidSubject(KysoError):
    code = "invalid_subject"
    vi = "Thông tin chủ thể không hợp lệ."
    en = "Invalid subject."


class InvalidCSR(KysoError):
    code = "invalid_csr"
    vi = "Yêu cầu cấp chứng thư (CSR) không hợp lệ."
    en = "Invalid certificate signing request."


class WeakKey(KysoError):
    code = "weak_key"
    vi = "Khóa hoặc thuật toán quá yếu hoặc không được phép."
    en = "The key or algorithm is too weak or not allowed."


class UnknownProfile(KysoError):
    code = "unknown_profile"
    vi = "Không có hồ sơ chứng thư này."
    en = "Unknown certificate profile."


class NotFound(KysoError):
    code = "not_found"
    kind = "not_found"
    vi = "Không tìm thấy."
    en = "Not found."


class Conflict(KysoError):
    code = "conflict"
    kind = "conflict"
    vi = "Trạng thái hiện tại không cho phép thao tác này."
    en = "The current state does not allow this."


class Forbidden(KysoError):
    code = "forbidden"
    kind = "forbidden"
    vi = "Bạn không có quyền thực hiện thao tác này."
    en = "You are not allowed to do this."


class Unauthorized(KysoError):
    code = "unauthorized"
    kind = "unauthorized"
    vi = "Cần đăng nhập hoặc mã truy cập hợp lệ."
    en = "Authentication required."


class TooLarge(KysoError):
    code = "too_large"
    kind = "too_large"
    vi = "Tệp quá lớn."
    en = "The file is too large."


class Unavailable(KysoError):
    code = "unavailable"
    kind = "unavailable"
    vi = "Dịch vụ tạm thời không sẵn sàng."
    en = "The service is temporarily unavailable."


class NotInitialised(Unavailable):
    code = "not_initialised"
    vi = "Chưa khởi tạo CA (chạy `kyso init`)."
    en = "The CA is not initialised (run `kyso init`)."
