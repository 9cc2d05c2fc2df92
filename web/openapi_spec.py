"""The OpenAPI 3.1 description of kyso's JSON API, maintained by hand as data (API.md is the contract).

``tests/test_web_openapi.py`` fails when a route under ``/api/`` is registered in the app but missing here,
so a new endpoint is documented in the same change that adds it.
"""
from __future__ import annotations

from typing import Any

BEARER = [{"bearer": []}]
PUBLIC: list = []


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {"400": _error("Bad input"), "401": _error("No or invalid bearer token"),
          "403": _error("The caller's role does not allow this"), "404": _error("Not found")}
PDF = {"description": "The signed PDF", "content": {"application/pdf": {"schema": {"type": "string",
                                                                                    "format": "binary"}}}}
SERIAL = {"name": "serial", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-fA-F:]+$"},
          "description": "Certificate serial number, hexadecimal"}

SIGN_FIELDS = {
    "file": {"type": "string", "format": "binary", "description": "The PDF to sign"},
    "level": {"type": "string", "enum": ["B-B", "B-T", "B-LT", "B-LTA"], "default": "B-LT"},
    "appearance": {"type": "string", "enum": ["none", "signer", "seal", "attachment", "copy"]},
    "page": {"type": "integer", "minimum": 1},
    "box": {"type": "string", "description": "x1,y1,x2,y2 in PDF points", "example": "350,80,550,180"},
    "reason": {"type": "string"}, "location": {"type": "string"},
    "doc_number": {"type": "string", "description": "Số và ký hiệu văn bản (attachment appearance)"},
    "copy_form": {"type": "string", "enum": ["SAO Y", "SAO LỤC", "TRÍCH SAO"]},
    "certify": {"type": "string", "enum": ["true", "false"]},
    "otp": {"type": "string", "pattern": "^[0-9]{6}$", "description": "The user's current TOTP code"},
}


def _op(summary: str, *, tag: str, roles: str, security: list, responses: dict[str, Any],
        body: dict[str, Any] | None = None, params: list | None = None, summary_vi: str = "") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "description": (summary_vi + "\n\n" if summary_vi else "") +
                          f"Roles: {roles}.", "tags": [tag], "security": security,
                          "responses": dict(responses, **({} if security is PUBLIC else ERRORS))}
    if body:
        op["requestBody"] = body
    if params:
        op["parameters"] = params
    op["x-kyso-roles"] = roles
    return op


def _multipart(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"required": True, "content": {"multipart/form-data": {"schema": {"type": "object", "properties": props,
                                                                             "required": required}}}}


def _jsonbody(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


SUBJECT = {"type": "object", "properties": {k: {"type": "string"} for k in ("CN", "O", "L", "ST", "C", "title", "email")}
           | {"OU": {"type": "array", "items": {"type": "string"}},
              "uid": {"type": "array", "items": {"type": "string"}, "example": ["CCCD:048190000123"]}},
           "required": ["CN"]}
CERT = {"$ref": "#/components/schemas/Certificate"}

PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/health": {"get": _op(
        "Health of the HSM and the database", tag="service", roles="public", security=PUBLIC,
        summary_vi="Tình trạng HSM và cơ sở dữ liệu",
        responses={"200": _json({"type": "object", "properties": {"status": {"const": "ok"}, "hsm": {"type": "string"},
                                                                   "database": {"type": "string"}}}),
                   "503": _json({"type": "object"}, "A part is failing; it is named")})},
    "/api/v1/certificates": {
        "post": _op("Issue a certificate from a CSR or with a key generated in the HSM", tag="certificates",
                    roles="admin", security=BEARER, summary_vi="Cấp chứng thư số",
                    body=_jsonbody({"type": "object", "required": ["profile", "subject"], "properties": {
                        "profile": {"type": "string", "enum": ["official", "agency"]}, "subject": SUBJECT,
                        "csr": {"type": "string", "description": "PKCS#10, PEM"},
                        "keygen": {"type": "object", "properties": {"algorithm": {"type": "string", "enum": [
                            "rsa2048", "rsa3072", "rsa4096", "ec-p256", "ec-p384"]}}},
                        "owner": {"type": "string", "description": "kyso user owning an HSM-generated key"}}}),
                    responses={"201": _json({"type": "object", "properties": {
                        "serial": {"type": "string"}, "pem": {"type": "string"}, "not_before": {"type": "string"},
                        "not_after": {"type": "string"}, "status": {"type": "string"}}}, "Issued"),
                        "409": _error("Conflict"),
                        "413": _error("The CSR is over 64 KiB or the request body over 256 KiB")}),
        "get": _op("Search certificates", tag="certificates", roles="admin, auditor", security=BEARER,
                   summary_vi="Tìm chứng thư số",
                   params=[{"name": "status", "in": "query", "schema": {"enum": ["valid", "revoked", "expired"]}},
                           {"name": "q", "in": "query", "schema": {"type": "string"}},
                           {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                           {"name": "offset", "in": "query", "schema": {"type": "integer"}}],
                   responses={"200": _json({"type": "object", "properties": {
                       "certificates": {"type": "array", "items": CERT}, "count": {"type": "integer"}}})}),
    },
    "/api/v1/certificates/{serial}": {"get": _op(
        "One certificate", tag="certificates", roles="admin, auditor", security=BEARER, params=[SERIAL],
        summary_vi="Một chứng thư số", responses={"200": _json(CERT)})},
    "/api/v1/certificates/{serial}/revoke": {"post": _op(
        "Revoke a certificate", tag="certificates", roles="admin", security=BEARER, params=[SERIAL],
        summary_vi="Thu hồi chứng thư số",
        body=_jsonbody({"type": "object", "properties": {"reason": {"type": "string", "enum": [
            "unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation",
            "certificateHold", "privilegeWithdrawn"]}}}),
        responses={"200": _json({"type": "object", "properties": {"status": {"const": "revoked"},
                                                                   "revoked_at": {"type": "string"}}}),
                   "409": _error("Already revoked")})},
    "/api/v1/certificates/{serial}/release-hold": {"post": _op(
        "Lift a certificateHold revocation", tag="certificates", roles="admin", security=BEARER, params=[SERIAL],
        summary_vi="Gỡ tạm dừng (certificateHold) chứng thư số",
        responses={"200": _json({"type": "object", "properties": {"status": {"type": "string"}}}),
                   "409": _error("The certificate is not on hold")})},
    "/api/v1/sign/batch": {"post": _op(
        "Sign several PDFs with one activation (one OTP); all or nothing", tag="signing", roles="official, clerk",
        security=BEARER, summary_vi="Ký nhiều văn bản với một lần xác nhận",
        body=_multipart(dict(SIGN_FIELDS, file={"type": "array", "items": {"type": "string", "format": "binary"},
                                                "description": "Several parts named file"}), ["file"]),
        responses={"200": {"description": "ZIP with <name>-signed.pdf per file, in the order sent",
                           "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}})},
    "/api/v1/me/signature-image": {"post": _op(
        "Store my handwritten-signature image (PNG, transparent)", tag="signing", roles="official",
        security=BEARER, summary_vi="Lưu ảnh chữ ký tay của tôi",
        body=_multipart({"file": {"type": "string", "format": "binary"}}, ["file"]),
        responses={"200": _json({"type": "object", "properties": {"kind": {"type": "string"},
                                                                   "sha256": {"type": "string"},
                                                                   "bytes": {"type": "integer"}}})})},
    "/api/v1/me/seal-image": {"post": _op(
        "Store my agency's seal image (PNG, red, transparent)", tag="signing", roles="clerk", security=BEARER,
        summary_vi="Lưu ảnh con dấu của cơ quan",
        body=_multipart({"file": {"type": "string", "format": "binary"}}, ["file"]),
        responses={"200": _json({"type": "object", "properties": {"kind": {"type": "string"},
                                                                   "sha256": {"type": "string"},
                                                                   "bytes": {"type": "integer"}}})})},
    "/api/v1/sign": {"post": _op(
        "Sign a PDF (PAdES) with the caller's certificate", tag="signing", roles="official, clerk", security=BEARER,
        summary_vi="Ký số văn bản PDF", body=_multipart(SIGN_FIELDS, ["file"]),
        responses={"200": PDF, "413": _error("Too large"), "422": _error("The PDF cannot be signed")})},
    "/api/v1/sign/prepare": {"post": _op(
        "Hash-only signing, step 1: the digest to sign with a key outside kyso", tag="signing",
        roles="official, clerk", security=BEARER, summary_vi="Ký hai bước: bước 1, lấy giá trị băm",
        body=_multipart(dict(SIGN_FIELDS, certificate={"type": "string", "description": "Signer certificate, PEM"}),
                        ["file", "certificate"]),
        responses={"200": _json({"type": "object", "properties": {"id": {"type": "string"},
                                                                   "digest": {"type": "string"}}})})},
    "/api/v1/sign/complete": {"post": _op(
        "Hash-only signing, step 2: the signature value or CMS → the signed PDF", tag="signing",
        roles="official, clerk", security=BEARER, summary_vi="Ký hai bước: bước 2, hoàn tất",
        body=_jsonbody({"type": "object", "properties": {"id": {"type": "string"},
                                                         "signature": {"type": "string", "description": "base64"},
                                                         "cms": {"type": "string", "description": "base64"}}}),
        responses={"200": PDF})},
    "/api/v1/verify": {"post": _op(
        "Verify every signature of a PDF", tag="verification", roles="public", security=PUBLIC,
        summary_vi="Kiểm tra chữ ký số trong văn bản PDF",
        params=[{"name": "format", "in": "query", "schema": {"enum": ["json", "html", "xml"], "default": "json"},
                 "description": "json report, html report file, or the ETSI TS 119 102-2 XML report"}],
        body=_multipart({"file": {"type": "string", "format": "binary"}}, ["file"]),
        responses={"200": _json({"$ref": "#/components/schemas/VerificationReport"}),
                   "400": _error("Not a PDF or unreadable"), "413": _error("Too large")})},
    "/api/v1/audit": {"get": _op(
        "Audit events, newest first", tag="audit", roles="admin, auditor", security=BEARER,
        summary_vi="Nhật ký kiểm toán",
        params=[{"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
                {"name": "before", "in": "query", "schema": {"type": "integer"}}],
        responses={"200": _json({"type": "object", "properties": {"events": {"type": "array", "items": {
            "type": "object", "properties": {k: {"type": "string"} for k in ("time", "actor", "action", "target",
                                                                              "hash")}}}}})})},
    "/api/openapi.json": {"get": _op(
        "This document", tag="service", roles="public", security=PUBLIC, summary_vi="Tài liệu này",
        responses={"200": _json({"type": "object"})})},
}

SIGNATURE = {"type": "object", "properties": {
    "field": {"type": "string"}, "signer": {"type": "object"}, "issuer": {"type": "object"},
    "signing_time": {"type": ["string", "null"]},
    "timestamp": {"type": ["object", "null"], "properties": {"time": {"type": "string"}, "tsa": {"type": "string"},
                                                             "valid": {"type": "boolean"}}},
    "intact": {"type": "boolean"}, "trusted": {"type": "boolean"},
    "revocation": {"type": "object", "properties": {"status": {"enum": ["good", "revoked", "unknown"]},
                                                    "source": {"enum": ["crl", "ocsp", "none", "registry"],
                                                               "description": (
                                                                   "registry (an extension of API.md's crl|ocsp|none): "
                                                                   "kyso's own revocation records, the data its CRL "
                                                                   "and OCSP publish, read directly for certificates "
                                                                   "kyso issued")},
                                                    "embedded": {"type": "boolean"}}},
    "coverage": {"enum": ["entire_document", "entire_revision", "partial"]},
    "modifications": {"enum": ["none", "form_filling", "annotations", "other"]},
    "level": {"enum": ["B-B", "B-T", "B-LT", "B-LTA", "none"]},
    "indication": {"enum": ["TOTAL_PASSED", "INDETERMINATE", "TOTAL_FAILED"]},
    "sub_indication": {"type": ["string", "null"]},
    "messages": {"type": "object", "required": ["vi", "en"],
                 "properties": {"vi": {"type": "array", "items": {"type": "string"}},
                                "en": {"type": "array", "items": {"type": "string"}}}}},
    # API.md's contract: every key is always present (null where it does not apply)
    "required": ["field", "signer", "issuer", "signing_time", "timestamp", "intact", "trusted", "revocation",
                 "coverage", "modifications", "level", "indication", "sub_indication", "messages"]}
SIGNATURE["properties"]["signer"] = {"type": ["object", "null"], "required": ["cn", "o", "ou", "title", "uid"],
                                     "properties": {"uid": {"type": "array", "items": {"type": "string"}}}}
SIGNATURE["properties"]["timestamp"]["required"] = ["time", "tsa", "valid"]
SIGNATURE["properties"]["revocation"]["required"] = ["status", "source", "embedded"]

COMPONENTS = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                   "description": "An API token from `kyso token create NAME` or My account"}},
    "schemas": {
        "Error": {"type": "object", "required": ["error", "message"], "properties": {
            "error": {"type": "string", "description": "machine code, e.g. invalid_csr"},
            "message": {"type": "string", "description": "text for a person (Vietnamese or English)"},
            "message_vi": {"type": "string"}, "message_en": {"type": "string"}}},
        "Certificate": {"type": "object", "properties": {k: {"type": "string"} for k in (
            "serial", "profile", "subject_display", "not_before", "not_after", "status", "pem", "fingerprint_sha256",
            "key", "owner", "revoked_at", "revocation_reason")} | {"subject": SUBJECT},
            "required": ["serial", "pem", "not_before", "not_after", "status"]},
        "VerificationReport": {"type": "object", "required": ["document", "signatures"], "properties": {
            "document": {"type": "object", "required": ["sha256", "signature_count"],
                         "properties": {"sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                        "signature_count": {"type": "integer", "minimum": 0}}},
            "signatures": {"type": "array", "items": SIGNATURE}}},
    },
}


def document(base_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "kyso API", "version": "1",
                 "description": "Certificate authority on an HSM, PAdES signing and verification (ký số). "
                                "Errors: 4xx with {\"error\": code, \"message\": text}."},
        "servers": [{"url": base_url}],
        "paths": PATHS,
        "components": COMPONENTS,
    }
