"""The Vietnamese catalogue covers every message of the web code and templates, and the compiled catalogue
the app loads is the one built from it."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "web" / "translations" / "vi" / "LC_MESSAGES"


def test_every_message_is_translated_to_vietnamese(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).with_name("pybabel")), "extract", "-F",
                    str(ROOT / "web/translations/babel.cfg"), "-k", "_l", "-o", str(pot), str(ROOT / "web")],
                   check=True, capture_output=True)
    wanted = {m.id for m in read_po(pot.open("rb")) if m.id}
    assert len(wanted) > 150
    po = read_po((CATALOGUE / "messages.po").open("rb"), locale="vi")
    have = {m.id: m for m in po if m.id}
    missing = sorted(wanted - set(have))
    assert not missing, f"not in messages.po (run pybabel update, translate): {missing}"
    untranslated = sorted(i for i in wanted if not have[i].string or have[i].fuzzy)
    assert not untranslated, f"untranslated or fuzzy: {untranslated}"


def test_compiled_catalogue_matches_the_source() -> None:
    po = {m.id: m.string for m in read_po((CATALOGUE / "messages.po").open("rb"), locale="vi") if m.id}
    mo = {m.id: m.string for m in read_mo(io.BytesIO((CATALOGUE / "messages.mo").read_bytes())) if m.id}
    assert po == mo, "messages.mo is stale: run pybabel compile -d web/translations"


def test_vietnamese_text_keeps_its_diacritics(client) -> None:  # noqa: ANN001
    page = client.get("/verify").get_data(as_text=True)
    assert "Kiểm tra văn bản đã ký" in page and "charset=utf-8" in client.get("/").headers["Content-Type"]
