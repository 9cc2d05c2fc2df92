"""Decree 30 appearances: rendered by poppler (pdftoppm), text read back by pdftotext (diacritics, widths)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from signer.appearance import text_width
from signer.service import SignOptions, sign_pdf
from tests.pdf_factory import make_pdf
from tests.sign_support import make_clerk, make_official, pdfsig_valid_count, qpdf_check, without_activation


@pytest.fixture(scope="module")
def inst(instance):  # noqa: ANN001, ANN201
    return without_activation(instance)


@pytest.fixture(scope="module")
def official(instance):  # noqa: ANN001, ANN201
    return make_official(instance)


@pytest.fixture(scope="module")
def clerk(instance):  # noqa: ANN001, ANN201
    return make_clerk(instance)


def render(pdf: Path, page: int = 1, dpi: int = 72) -> Image.Image:
    out = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", str(pdf),
                    str(out)], check=True, timeout=60)
    return Image.open(str(out) + ".png").convert("RGB")


def words(pdf: Path, page: int = 1) -> list[tuple[str, float, float, float, float]]:
    """pdftotext -bbox: (word, xMin, yMin, xMax, yMax), y from the top of the page."""
    html = subprocess.run(["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
                          capture_output=True, check=True, timeout=60).stdout.decode("utf-8")
    return [(w, float(a), float(b), float(c), float(d)) for a, b, c, d, w in
            re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', html)]


def text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True,
                          timeout=60).stdout.decode("utf-8")


def pixels(img: Image.Image) -> list[tuple[int, int, int]]:
    raw = img.convert("RGB").tobytes()
    return [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]  # type: ignore[misc]


def _count(img: Image.Image, box: tuple[int, int, int, int], pred) -> int:  # noqa: ANN001
    return sum(1 for px in pixels(img.crop(box)) if pred(px))


def is_blue(px) -> bool:  # noqa: ANN001
    r, g, b = px
    return b > 120 and r < 100 and g < 120


def is_red(px) -> bool:  # noqa: ANN001
    r, g, b = px
    return r > 150 and g < 90 and b < 90


def is_dark(px) -> bool:  # noqa: ANN001
    return sum(px) < 200


def _signed(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    total, valid = pdfsig_valid_count(path)
    assert total == valid and total >= 1
    assert qpdf_check(path).returncode == 0
    return path


def test_signer_appearance_image_between_title_and_name(inst, official, tmp_path: Path) -> None:  # noqa: ANN001
    box = (340.0, 80.0, 540.0, 200.0)
    pdf = _signed(tmp_path, "signer.pdf", sign_pdf(inst, official.username, make_pdf(2),
                                                    SignOptions(level="B-B", appearance="signer", page=2, box=box)))
    t = text(pdf)
    assert "TRƯỞNG PHÒNG" in t and "Nguyễn Thị Hằng" in t
    ws = words(pdf, page=2)
    page_h = 842
    # each stamp line carries /ActualText, so poppler reads it as one "word", spaces included
    name = [w for w in ws if w[0] == "Nguyễn Thị Hằng"]
    title = [w for w in ws if w[0] == "TRƯỞNG PHÒNG"]
    assert len(name) == 1 and len(title) == 1, ws
    # inside the box, title above name
    for _, x1, y1, x2, y2 in name + title:
        assert box[0] - 1 <= x1 and x2 <= box[2] + 1 and page_h - box[3] - 1 <= y1 and y2 <= page_h - box[1] + 1
    assert max(w[4] for w in title) < min(w[2] for w in name)
    # the line is as wide as the font says (11 pt bold), not twice as wide
    line_w = max(w[3] for w in name) - min(w[1] for w in name)
    expected = text_width("Nguyễn Thị Hằng", 11, bold=True)
    assert abs(line_w - expected) < 0.12 * expected, (line_w, expected)
    # the blue signature image is drawn between them, centred
    img = render(pdf, page=2)
    top = int(max(w[4] for w in title)) + 1
    bottom = int(min(w[2] for w in name)) - 1
    assert _count(img, (int(box[0]), top, int(box[2]), bottom), is_blue) > 150
    assert _count(img, (0, 0, img.width, top), is_blue) < 5  # nothing blue above the title
    assert _count(img, (0, 0, img.width, img.height), is_blue) == _count(img, (int(box[0]), top, int(box[2]), bottom), is_blue)


def test_attachment_appearance_text_top_right(inst, clerk, tmp_path: Path) -> None:  # noqa: ANN001
    pdf = _signed(tmp_path, "attachment.pdf", sign_pdf(
        inst, clerk.username, make_pdf(3), SignOptions(level="B-T", appearance="attachment", doc_number="125/QĐ-CAĐN")))
    ws = words(pdf, page=1)
    number = [w for w in ws if w[0] == "125/QĐ-CAĐN"]
    stamp = [w for w in ws if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", w[0])]
    assert len(number) == 1 and len(stamp) == 1, ws
    _, x1, y1, x2, y2 = stamp[0]
    # top right of page 1: right edge 20 pt from the page edge, near the top
    assert 595 - 20 - 4 <= x2 <= 595 - 20 + 1 and y1 < 60
    # 10 pt Liberation Serif: the time is as wide as the font says (~116 pt), not twice as wide
    expected = text_width(stamp[0][0], 10)
    assert abs((x2 - x1) - expected) < 0.1 * expected, (x2 - x1, expected)
    assert 8 <= y2 - y1 <= 13  # a 10 pt line
    assert number[0][3] <= x2 + 1 and number[0][4] <= y1 + 1  # number on the line above, right-aligned
    img = render(pdf)
    assert _count(img, (int(x1), int(y1), int(x2) + 1, int(y2) + 1), is_dark) > 30
    # nothing else visible on pages 2 and 3
    assert "125/QĐ-CAĐN" not in subprocess.run(["pdftotext", "-f", "2", "-l", "3", str(pdf), "-"],
                                              capture_output=True, timeout=60).stdout.decode()


@pytest.mark.parametrize("form", ["SAO Y", "SAO LỤC", "TRÍCH SAO"])
def test_copy_appearance(inst, clerk, tmp_path: Path, form: str) -> None:  # noqa: ANN001
    pdf = _signed(tmp_path, "copy.pdf", sign_pdf(inst, clerk.username, make_pdf(1),
                                                 SignOptions(level="B-B", appearance="copy", copy_form=form)))
    t = text(pdf)
    assert form in t and "Công an thành phố Đà Nẵng" in t
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", t)
    ws = words(pdf)
    first = [w for w in ws if w[0] == form]
    assert first and first[0][2] < 60  # top of the page


def test_seal_covers_left_third_of_the_officials_signature(inst, official, clerk, tmp_path: Path) -> None:  # noqa: ANN001
    box = (340.0, 80.0, 540.0, 200.0)
    signed = sign_pdf(inst, official.username, make_pdf(1), SignOptions(level="B-T", appearance="signer", box=box))
    sealed = sign_pdf(inst, clerk.username, signed, SignOptions(level="B-LT", appearance="seal"))
    pdf = _signed(tmp_path, "sealed.pdf", sealed)
    assert pdfsig_valid_count(pdf) == (2, 2)
    img = render(pdf)
    before = render(_signed(tmp_path, "signed.pdf", signed))
    w = before.width
    blue = [(i % w, i // w) for i, px in enumerate(pixels(before)) if is_blue(px)]
    xs = [x for x, _ in blue]
    sig_left, sig_right = min(xs), max(xs)
    red = [(i % w, i // w) for i, px in enumerate(pixels(img)) if is_red(px)]
    assert len(red) > 500
    rxs = [x for x, _ in red]
    third = sig_left + (sig_right - sig_left) / 3
    # the seal's right edge is about one third into the signature image; it reaches left of the image
    assert abs(max(rxs) - third) < 0.12 * (sig_right - sig_left) + 4, (max(rxs), third, sig_left, sig_right)
    assert min(rxs) < sig_left
    ys = [y for _, y in blue]
    rys = [y for _, y in red]
    assert min(rys) < (min(ys) + max(ys)) / 2 < max(rys)  # vertically over the signature


def test_none_appearance_draws_nothing(inst, official, tmp_path: Path) -> None:  # noqa: ANN001
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(make_pdf(1))
    pdf = _signed(tmp_path, "none.pdf", sign_pdf(inst, official.username, make_pdf(1),
                                                 SignOptions(level="B-B", appearance="none")))
    assert render(pdf).tobytes() == render(plain).tobytes()
