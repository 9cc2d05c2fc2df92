"""RFC 3161 timestamps from kyso's own TSA, in-process (no HTTP to ourselves).

``KysoTimeStamper`` is a pyHanko ``TimeStamper`` whose requests go straight to ``ca.tsa.respond``. One per
authority per process (kept in a weak-key dictionary on the authority object, never keyed by ``id()``), so
pyHanko's dummy response (used to size the CMS) is made once.
"""
from __future__ import annotations

import asyncio
import importlib
import threading
import weakref
from typing import Any

from asn1crypto import tsp
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from ca.errors import Unavailable

_STAMPERS: "weakref.WeakKeyDictionary[Any, KysoTimeStamper]" = weakref.WeakKeyDictionary()
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
        self._authority = weakref.ref(authority)  # the stamper lives in a weak dict keyed by this authority

    @property
    def authority(self) -> Any:
        authority = self._authority()
        if authority is None:  # pragma: no cover - the stamper outlived its authority
            raise Unavailable("The authority of this timestamper is gone", "Dịch vụ cấp dấu thời gian không còn",
                              code="service_missing")
        return authority

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
    with _LOCK:
        stamper = _STAMPERS.get(authority)
        if stamper is None:
            stamper = _STAMPERS[authority] = KysoTimeStamper(authority)
    return stamper
