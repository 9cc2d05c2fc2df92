"""Small helpers the page modules share: the roles of people who log in, and a domain error's text in the
reader's language."""
from __future__ import annotations

from typing import Any

from web.security import current_language

ALL_ROLES = ("admin", "official", "clerk", "auditor")


def message(exc: Any) -> str:
    """The text of a domain error in the reader's language."""
    if hasattr(exc, "vi_message"):
        return exc.en_message if current_language() == "en" else exc.vi_message
    return str(exc)
