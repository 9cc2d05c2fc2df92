"""Decree 30/2020/NĐ-CP, Article 5: an electronic administrative document has legal value when it carries the
digital signature of the competent *person* and the digital signature of the *agency* (its seal).

Who is who, per valid signature (indication TOTAL_PASSED; a failing signature counts for nothing):
* a certificate kyso issued says it directly: profile ``official`` (a person) or ``agency`` (a legal person);
* a foreign certificate is judged by its subject as Vietnamese CAs write it (REFERENCE.md): a personal
  identifier (``CCCD:``/``CMND:``) or a title (T) marks a person; a tax or budget code (``MST:``/``MNS:``)
  without a personal identifier marks an agency. Anything else is reported as "unknown".
"""
from __future__ import annotations

from typing import Any

from signer.messages import empty

_PERSON_IDS = ("CCCD:", "CMND:")
_AGENCY_IDS = ("MST:", "MNS:")


def role_of(signer: dict[str, Any] | None) -> str:
    if not signer:
        return "unknown"
    profile = signer.get("profile")
    if profile == "official":
        return "individual"
    if profile == "agency":
        return "agency"
    uids = [str(u) for u in signer.get("uid") or []]
    if any(u.startswith(_PERSON_IDS) for u in uids) or signer.get("title"):
        return "individual"
    if any(u.startswith(_AGENCY_IDS) for u in uids):
        return "agency"
    return "unknown"


def check(signatures: list[dict[str, Any]]) -> dict[str, Any]:
    individuals, agencies = [], []
    for sig in signatures:
        if sig.get("indication") != "TOTAL_PASSED":
            continue
        role = role_of(sig.get("signer"))
        name = (sig.get("signer") or {}).get("cn") or "?"
        if role == "individual":
            individuals.append(name)
        elif role == "agency":
            agencies.append(name)
    ok = bool(individuals and agencies)
    messages = empty()
    if ok:
        messages["vi"].append("Đủ chữ ký số của người có thẩm quyền và của cơ quan, tổ chức (Điều 5 Nghị định 30/2020/NĐ-CP).")
        messages["en"].append("Signed by both the competent person and the agency (Decree 30/2020, Article 5).")
    else:
        if not individuals:
            messages["vi"].append("Thiếu chữ ký số hợp lệ của người có thẩm quyền.")
            messages["en"].append("No valid signature of the competent person.")
        if not agencies:
            messages["vi"].append("Thiếu chữ ký số hợp lệ của cơ quan, tổ chức.")
            messages["en"].append("No valid signature of the agency.")
        messages["vi"].append("Văn bản điện tử chưa đủ điều kiện có giá trị pháp lý theo Điều 5 Nghị định 30/2020/NĐ-CP.")
        messages["en"].append("The document does not meet Decree 30/2020 Article 5 for legal validity.")
    return {"satisfied": ok, "individual": bool(individuals), "agency": bool(agencies),
            "individual_signers": individuals, "agency_signers": agencies, "messages": messages}
