"""Time: aware UTC inside, Asia/Ho_Chi_Minh (+07:00) for people (DESIGN rule 5)."""
from __future__ import annotations

import datetime as dt
from typing import Callable

VN = dt.timezone(dt.timedelta(hours=7), "ICT")
Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def to_vn(value: dt.datetime) -> dt.datetime:
    return value.astimezone(VN)


def iso_vn(value: dt.datetime) -> str:
    """ISO 8601 in Vietnam time, seconds precision: 2026-11-22T14:30:15+07:00 (Decree 30 stamps)."""
    return to_vn(value).replace(microsecond=0).isoformat()


def iso_utc(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
