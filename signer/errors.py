"""Domain errors of the signing service (codes, kinds, Vietnamese and English messages; no HTTP status)."""
from __future__ import annotations

from ca.errors import Conflict, Forbidden, InvalidInput, KysoError, NotFound, TooLarge


class NotAPdf(InvalidInput):
    code = "not_a_pdf"
    vi = "Tệp tải lên không phải là tệp PDF."
    en = "The uploaded file is not a PDF."


class BrokenPdf(InvalidInput):
    code = "broken_pdf"
    vi = "Tệp PDF bị hỏng, không đọc được."
    en = "The PDF is damaged and cannot be read."


class EncryptedPdf(InvalidInput):
    code = "encrypted_pdf"
    vi = "Tệp PDF đã được mã hóa hoặc đặt mật khẩu; hãy gửi bản không mã hóa."
    en = "The PDF is encrypted or password-protected; send an unencrypted copy."


class PdfTooLarge(TooLarge):
    code = "pdf_too_large"


class PageOutOfRange(InvalidInput):
    code = "page_out_of_range"
    vi = "Số trang không tồn tại trong tài liệu."
    en = "The page number is outside the document."


class BoxOffPage(InvalidInput):
    code = "box_off_page"
    vi = "Vị trí chữ ký nằm ngoài trang."
    en = "The signature box is outside the page."


class InvalidOption(InvalidInput):
    code = "invalid_sign_option"


class MissingImage(Conflict):
    code = "missing_signature_image"
    vi = "Chưa có ảnh chữ ký (hoặc ảnh con dấu) để tạo hình thức hiển thị này."
    en = "No signature (or seal) image is on file for this appearance."


class InvalidImage(InvalidInput):
    code = "invalid_image"
    vi = "Ảnh phải là tệp PNG hợp lệ."
    en = "The image must be a valid PNG file."


class NoSigningCertificate(NotFound):
    code = "no_signing_certificate"
    vi = "Không có chứng thư số hợp lệ để ký."
    en = "No valid signing certificate is available."


class SignerNotAllowed(Forbidden):
    code = "signer_not_allowed"


class CertificateRevoked(Forbidden):
    code = "certificate_revoked"
    vi = "Chứng thư số của người ký đã bị thu hồi; không được phép ký."
    en = "The signer's certificate is revoked; signing is refused."


class CertificateExpired(Forbidden):
    code = "certificate_expired"
    vi = "Chứng thư số của người ký đã hết hạn hoặc chưa có hiệu lực; không được phép ký."
    en = "The signer's certificate has expired or is not yet valid; signing is refused."


class DocumentLocked(Conflict):
    code = "document_locked"
    vi = "Tài liệu đã bị khóa bởi một chữ ký trước; không thể ký thêm."
    en = "An earlier signature locked the document; no further signature is allowed."


class PendingNotFound(NotFound):
    code = "pending_signature_not_found"
    vi = "Không tìm thấy phiên ký hai bước (sai mã hoặc đã hết hạn)."
    en = "No such two-step signing session (wrong id or expired)."


class BadExternalSignature(InvalidInput):
    code = "invalid_signature_value"
    vi = "Giá trị chữ ký gửi lên không khớp với chứng thư số và dữ liệu cần ký."
    en = "The signature value does not match the certificate and the data to sign."


class SigningFailed(KysoError):
    code = "signing_failed"
    kind = "unprocessable"
    vi = "Không ký được tài liệu này."
    en = "The document could not be signed."
