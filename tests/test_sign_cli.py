"""`kyso sign` on the command line: batch, progress bar, one activation, one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

from tests.pdf_factory import make_pdf
from tests.sign_support import make_clerk, make_official, pdfsig_valid_count
from tests.support import run_kyso


def test_kyso_sign_batch_with_progress_and_totp(instance, kyso_env, tmp_path: Path) -> None:  # noqa: ANN001
    clerk = make_clerk(instance)
    files = []
    for i in range(3):
        p = tmp_path / f"phu-luc-{i}.pdf"
        p.write_bytes(make_pdf(i + 1))
        files.append(str(p))
    out = tmp_path / "out"
    r = run_kyso("sign", *files, "--as", clerk.username, "--level", "B-LT", "--appearance", "attachment",
                 "--doc-number", "88/CAĐN-PV01", "--otp", clerk.otp(instance), "-o", str(out), env=kyso_env)
    assert r.returncode == 0, r.stderr
    assert "3/3" in r.stderr and "ký số" in r.stderr  # the tqdm bar
    for i in range(3):
        signed = out / f"phu-luc-{i}-signed.pdf"
        assert pdfsig_valid_count(signed) == (1, 1)
    # reused code: refused, one line, nothing written
    again = tmp_path / "again"
    r = run_kyso("sign", files[0], "--as", clerk.username, "--otp", _last(instance, clerk),
                 "-o", str(again), env=kyso_env)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "TOTP" in r.stderr
    assert not again.exists()


def _last(instance, clerk) -> str:  # noqa: ANN001
    from sqlalchemy import select

    from ca.store.models import User

    with instance.store.read() as s:
        step = s.execute(select(User.totp_last_step).where(User.username == clerk.username)).scalar_one()
    return clerk.totp.generate_otp(step)


def test_kyso_sign_errors_are_one_line(instance, kyso_env, tmp_path: Path) -> None:  # noqa: ANN001
    off = make_official(instance)
    bad = tmp_path / "khong-phai.pdf"
    bad.write_text("đây không phải PDF", encoding="utf-8")
    env = dict(kyso_env, KYSO_SIGNING_ACTIVATION="none")
    r = run_kyso("sign", str(bad), "--as", off.username, "-o", str(tmp_path / "o"), env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "not a PDF" in r.stderr
    good = tmp_path / "ok.pdf"
    good.write_bytes(make_pdf(1))
    r = run_kyso("sign", str(good), "--as", off.username, "--appearance", "signer", "--page", "5",
                 "-o", str(tmp_path / "o"), env=env)
    assert r.returncode == 2 and "page" in r.stderr.lower() and "Traceback" not in r.stderr
    r = run_kyso("sign", str(good), "--as", off.username, "--level", "B-B", "--json", "-o", str(tmp_path / "o"), env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["signed"] == [str(tmp_path / "o" / "ok-signed.pdf")]
