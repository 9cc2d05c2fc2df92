"""RFC 3161 timestamps from kyso's own TSA, in-process (no HTTP to ourselves).

``KysoTimeStamper`` is a pyHanko ``TimeStamper`` whose requests go straight to ``ca.tsa.respond``. One per
authority per process, so pyHanko's dummy response (used to size the CMS) is made once.
"""
from __future__ import annotations

import asyncio
import importlib
import threading
from typing import Any

from asn1crypto import tsp
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from ca.errors import Unavailable

_STAMPERS: dict[int, "KysoTimeStamper"] = {}
_LOCK = threading.Lock()


def ca_module(name: str) -> Any:
    """``ca.<name>`` (tsa, ocsp, revocation), or Unavailable when this build does not have it."""
    try:
        return importlib.import_module(f"ca.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"ca.{name}":
            raise
        raise Unavailable(f"This kyso has no ca.{name} service: the level needs timestamps/revocation data",
                          f"Bản kyso này chưa có dịch vụ ca.{name} (cần cho mức chữ ký này)",
                          code="service_missing") from None


class KysoTimeStamper(TimeStamper):
    def __init__(self, authority: Any):
        super().__init__(include_nonce=True)
        self.authority = authority

    def respond(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        der = ca_module("tsa").respond(self.authority, req.dump())
        try:
            return tsp.TimeStampResp.load(der)
        except ValueError as exc:  # pragma: no cover - ca.tsa builds its own DER
            raise TimestampRequestError(f"TSA answer unreadable: {exc}") from None

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return self.respond(req)

    def token(self, message_digest: bytes, md_algorithm: str = "sha256") -> Any:
        """A timestamp token (CMS ContentInfo) over ``message_digest``, synchronously."""
        return asyncio.run(self.async_timestamp(message_digest, md_algorithm))


def timestamper(authority: Any) -> KysoTimeStamper:
    key = id(authority)
    stamper = _STAMPERS.get(key)
    if stamper is None or stamper.authority is not authority:
        with _LOCK:
            stamper = _STAMPERS[key] = KysoTimeStamper(authority)
    return stamper
