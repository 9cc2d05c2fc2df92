"""Public PKI endpoints (no login): CA certificates; CRLs, OCSP and TSA are added by ``web/pki_status.py``."""
from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response

from web.auth import instance, public

bp = Blueprint("pki", __name__)


def _der(role: str) -> Response:
    cert = instance().authority.ca_cert(role)
    resp = Response(cert.public_bytes(serialization.Encoding.DER), mimetype="application/pkix-cert")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


@bp.get("/pki/root.crt")
@public
def root_crt() -> Any:
    return _der("root")


@bp.get("/pki/issuing.crt")
@public
def issuing_crt() -> Any:
    return _der("issuing")


@bp.get("/pki/chain.pem")
@public
def chain_pem() -> Any:
    return Response(instance().authority.chain_pem(), mimetype="application/x-pem-file")
