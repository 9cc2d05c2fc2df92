"""A small picture of a PDF page for placing a signature: poppler's ``pdftoppm -png -r 50`` and ``pdfinfo``
(page size in points), run on a temporary copy with a time limit. No PDF parsing happens in this process."""
from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ca.errors import InvalidInput, Unavailable

DPI = 50
TIMEOUT = 20


@dataclass(frozen=True)
class PagePicture:
    png: bytes
    width_pt: float
    height_pt: float
    pages: int


def _run(args: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, timeout=TIMEOUT, check=False)
    except FileNotFoundError:
        raise Unavailable("poppler-utils (pdftoppm) is not installed", "Chưa cài poppler-utils (pdftoppm)",
                          code="preview_unavailable") from None
    except subprocess.TimeoutExpired:
        raise InvalidInput("The PDF took too long to render", "Tệp PDF hiển thị quá lâu",
                           code="preview_timeout") from None


def render_page(data: bytes, page: int = 1) -> PagePicture:
    if not data.startswith(b"%PDF-"):
        raise InvalidInput("This file is not a PDF", "Tệp này không phải PDF", code="not_pdf")
    with tempfile.TemporaryDirectory(prefix="kyso-preview-") as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        info = _run(["pdfinfo", "-f", str(page), "-l", str(page), str(src)])
        text = info.stdout.decode("utf-8", "replace")
        size = re.search(rf"Page\s+{page} size:\s+([\d.]+) x ([\d.]+) pts", text)
        pages = re.search(r"^Pages:\s+(\d+)", text, re.M)
        if info.returncode != 0 or size is None or pages is None:
            raise InvalidInput("The PDF cannot be read (damaged, encrypted or no such page)",
                               "Không đọc được tệp PDF (hỏng, được mã hóa hoặc không có trang này)",
                               code="pdf_unreadable")
        out = Path(tmp) / "page"
        render = _run(["pdftoppm", "-png", "-r", str(DPI), "-f", str(page), "-l", str(page), "-singlefile",
                       str(src), str(out)])
        png = out.with_suffix(".png")
        if render.returncode != 0 or not png.exists():
            raise InvalidInput("The PDF page cannot be rendered", "Không hiển thị được trang PDF",
                               code="pdf_unreadable")
        return PagePicture(png.read_bytes(), float(size.group(1)), float(size.group(2)), int(pages.group(1)))
