"""`kyso verify FILE.pdf [--json]`: the API's report on the command line; exit 0 only when every signature passes."""
from __future__ import annotations

import json

from tests.support import run_kyso
from tests.test_verify_support import foreign_holder, kyso_holder, sign, simple_pdf


def test_kyso_verify(instance, kyso_env, tmp_path):
    good = tmp_path / "hop-le.pdf"
    good.write_bytes(sign(simple_pdf(), kyso_holder(instance.authority), instance.authority, level="B-T"))
    proc = run_kyso("verify", str(good), "--json", "--html", str(tmp_path / "r.html"), "--xml",
                    str(tmp_path / "r.xml"), env=kyso_env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["signatures"][0]["indication"] == "TOTAL_PASSED"
    assert report["signatures"][0]["signer"]["cn"] == "Nguyễn Thị Hằng"
    assert "Nguyễn Thị Hằng" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "total-passed" in (tmp_path / "r.xml").read_text(encoding="utf-8")
    text = run_kyso("verify", str(good), env=kyso_env)
    assert text.returncode == 0 and "Chữ ký hợp lệ." in text.stdout and "TOTAL_PASSED" in text.stdout

    foreign = tmp_path / "nuoc-ngoai.pdf"
    foreign.write_bytes(sign(simple_pdf(), foreign_holder()[0], instance.authority, level="B-B"))
    proc = run_kyso("verify", str(foreign), "--json", env=kyso_env)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["signatures"][0]["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"

    unsigned = tmp_path / "chua-ky.pdf"
    unsigned.write_bytes(simple_pdf())
    assert run_kyso("verify", str(unsigned), env=kyso_env).returncode == 1

    junk = tmp_path / "khong-phai-pdf.pdf"
    junk.write_text("xin chào", encoding="utf-8")
    proc = run_kyso("verify", str(junk), env=kyso_env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "PDF" in proc.stderr
