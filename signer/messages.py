"""What a verification says to people, Vietnamese first, English second. One table: code -> (vi, en)."""
from __future__ import annotations

from typing import Any

TEXT: dict[str, tuple[str, str]] = {
    # the verdict, one line per indication
    "passed": ("Chữ ký hợp lệ.", "The signature is valid."),
    "failed": ("Chữ ký KHÔNG hợp lệ.", "The signature is NOT valid."),
    "indeterminate": ("Chưa xác định được tính hợp lệ của chữ ký.", "The signature's validity cannot be established."),
    # integrity
    "intact": ("Tài liệu không bị thay đổi kể từ khi ký.", "The signed content has not changed since signing."),
    "HASH_FAILURE": ("Nội dung tài liệu đã bị thay đổi sau khi ký (giá trị băm không khớp).",
                     "The signed content was altered after signing (the hash does not match)."),
    "SIG_CRYPTO_FAILURE": ("Giá trị chữ ký số không đúng với khóa công khai của người ký.",
                           "The signature value does not verify with the signer's public key."),
    "FORMAT_FAILURE": ("Định dạng chữ ký không hợp lệ hoặc không được hỗ trợ: {detail}",
                       "The signature format is invalid or unsupported: {detail}"),
    "partial_coverage": ("Chữ ký chỉ bao phủ một phần tệp (vùng ByteRange bất thường).",
                         "The signature covers only part of the file (unusual ByteRange)."),
    # trust
    "trusted": ("Chứng thư số của người ký được cấp bởi tổ chức tin cậy: {anchor}.",
                "The signer's certificate chains to a trusted authority: {anchor}."),
    "NO_CERTIFICATE_CHAIN_FOUND": ("Chứng thư số của người ký không do tổ chức chứng thực tin cậy cấp.",
                                   "The signer's certificate was not issued by a trusted certification authority."),
    "NO_SIGNING_CERTIFICATE_FOUND": ("Không tìm thấy chứng thư số của người ký trong chữ ký.",
                                     "The signer's certificate is missing from the signature."),
    "OUT_OF_BOUNDS_NO_POE": ("Chứng thư số của người ký đã hết hạn ({not_after}) và không có dấu thời gian chứng minh "
                             "chữ ký được tạo trước đó.",
                             "The signer's certificate expired ({not_after}) and no timestamp proves the signature "
                             "was made before that."),
    "expired_with_poe": ("Chứng thư số đã hết hạn ({not_after}) nhưng dấu thời gian chứng minh chữ ký được tạo lúc "
                         "{poe}, khi chứng thư còn hiệu lực.",
                         "The certificate has expired ({not_after}), but a timestamp proves the signature existed at "
                         "{poe}, while it was valid."),
    "NOT_YET_VALID": ("Chứng thư số chưa có hiệu lực tại thời điểm ký.",
                      "The certificate was not yet valid at signing time."),
    "CHAIN_CONSTRAINTS_FAILURE": ("Chuỗi chứng thư không đáp ứng ràng buộc (mục đích sử dụng khóa, chính sách…): "
                                  "{detail}", "The certificate chain breaks a constraint (key usage, policy…): {detail}"),
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": ("Không kiểm tra được chuỗi chứng thư: {detail}",
                                          "The certificate chain could not be checked: {detail}"),
    "CRYPTO_CONSTRAINTS_FAILURE": ("Thuật toán mật mã đã dùng không còn được chấp nhận.",
                                   "A cryptographic algorithm used is no longer accepted."),
    # revocation
    "revocation_good": ("Chứng thư số chưa bị thu hồi (nguồn: {source}).",
                        "The certificate is not revoked (source: {source})."),
    "REVOKED_NO_POE": ("Chứng thư số của người ký đã bị thu hồi lúc {revoked_at} (lý do: {reason}) và không có dấu "
                       "thời gian chứng minh chữ ký được tạo trước thời điểm đó.",
                       "The signer's certificate was revoked at {revoked_at} (reason: {reason}) and no timestamp "
                       "proves the signature was made before then."),
    "revoked_after_poe": ("Chứng thư số bị thu hồi lúc {revoked_at}, sau thời điểm ký đã được dấu thời gian chứng minh "
                          "({poe}); chữ ký vẫn có giá trị.",
                          "The certificate was revoked at {revoked_at}, after the time-stamped signing time ({poe}); "
                          "the signature stands."),
    "REVOKED_CA_NO_POE": ("Chứng thư của tổ chức cấp (CA) đã bị thu hồi lúc {revoked_at}.",
                          "The issuing CA's certificate was revoked at {revoked_at}."),
    "TRY_LATER": ("Không có thông tin thu hồi cho chứng thư số này (không có CRL/OCSP kèm theo và không tra cứu trực "
                  "tuyến); hãy thử lại khi có thông tin.",
                  "No revocation information is available for this certificate (none embedded, online checking "
                  "is off); try again when it is."),
    # timestamps
    "timestamp_ok": ("Dấu thời gian hợp lệ: {time}, do {tsa} cấp.", "Valid timestamp: {time}, issued by {tsa}."),
    "timestamp_bad": ("Dấu thời gian kèm theo chữ ký không hợp lệ và không được dùng.",
                      "The signature's timestamp is not valid and was not used."),
    "no_timestamp": ("Không có dấu thời gian; thời điểm ký ({time}) do người ký tự khai.",
                     "No timestamp; the signing time ({time}) is the signer's own claim."),
    # modifications
    "mod_none": ("Không có thay đổi nào sau khi ký.", "No changes after signing."),
    "mod_lta": ("Sau khi ký chỉ bổ sung dữ liệu kiểm tra dài hạn (DSS, dấu thời gian tài liệu).",
                "After signing only long-term validation data was added (DSS, document timestamps)."),
    "mod_form_filling": ("Sau khi ký có điền biểu mẫu hoặc thêm chữ ký (được phép).",
                         "After signing, form fields were filled or signatures added (allowed)."),
    "mod_annotations": ("Sau khi ký có thêm ghi chú/chú thích.", "After signing, annotations were added."),
    "SIG_CONSTRAINTS_FAILURE": ("Tài liệu đã bị sửa đổi sau khi ký theo cách không được phép{docmdp}.",
                                "The document was changed after signing in a way that is not allowed{docmdp}."),
    "docmdp": (" (vượt quá quyền thay đổi mà chữ ký chứng nhận cho phép)",
                  " (beyond the changes the certifying signature permits)"),
    # document timestamps
    "doc_ts_ok": ("Dấu thời gian tài liệu hợp lệ: {time}, do {tsa} cấp.",
                  "Valid document timestamp: {time}, issued by {tsa}."),
}


def say(messages: dict[str, list[str]], code: str, **values: Any) -> None:
    vi, en = TEXT[code]
    vi_values = {k: (v[0] if isinstance(v, tuple) else v) for k, v in values.items()}
    en_values = {k: (v[1] if isinstance(v, tuple) else v) for k, v in values.items()}
    messages["vi"].append(vi.format(**vi_values))
    messages["en"].append(en.format(**en_values))


def empty() -> dict[str, list[str]]:
    return {"vi": [], "en": []}
