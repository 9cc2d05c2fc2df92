"""Reading request bodies in the WSGI fast paths (``web.api.IssueFastPath``, ``web.pki_status.StatusFastPath``),
which run before Flask and so without its ``MAX_CONTENT_LENGTH`` guard: never more than a cap is read."""
from __future__ import annotations

from typing import Any

# A refused body up to this size is read and discarded, so the client gets the 4xx answer rather than a reset
# connection, and the connection can be reused; a larger one is left unread and the connection closed.
MAX_DRAIN = 8 * 1024 * 1024
_CHUNK = 64 * 1024


def content_length(environ: dict[str, Any]) -> int | None:
    """The declared ``Content-Length``; -1 when none is declared (e.g. chunked); ``None`` when it is not a
    non-negative number (``stream.read(-5)`` would read without a bound)."""
    value = environ.get("CONTENT_LENGTH")
    if not value:
        return -1
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


def read_capped(environ: dict[str, Any], limit: int) -> bytes | None:
    """The request body when it is at most ``limit`` bytes, else ``None``; at most ``limit + 1`` bytes are read.
    A ``Content-Length`` that is not a number reads as an empty body (the caller answers it as malformed)."""
    length = content_length(environ)
    if length is None:
        return b""
    if length > limit:
        return None
    stream = environ["wsgi.input"]
    data = stream.read(length) if length >= 0 else stream.read(limit + 1)
    return data if len(data) <= limit else None


def drain(environ: dict[str, Any], limit: int = MAX_DRAIN) -> bool:
    """Read and discard a refused body of a declared length up to ``limit``; ``False`` when it was left unread
    (no length, a bad one, or too large: the caller then closes the connection)."""
    length = content_length(environ)
    if length is None or not 0 <= length <= limit:
        return False
    stream = environ["wsgi.input"]
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(remaining, _CHUNK))
        if not chunk:
            break
        remaining -= len(chunk)
    return True
