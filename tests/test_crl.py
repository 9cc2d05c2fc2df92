"""CRLs as relying parties meet them: served over HTTP with caching headers, judged by openssl and pkilint,
numbers that only go up (across processes), delta CRLs, lazy re-issue before nextUpdate."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca import crl as crl_mod
from ca import revocation
from tests.support import run_kyso
from tests.test_revocation import issue, served_crl

LINT_CRL = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "lint_crl")


def _number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def _pem(crl: x509.CertificateRevocationList, path: Path) -> Path:
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return path


def _openssl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)


def test_full_crl_and_arl_fields_and_outside_judges(instance, client, ca_files, tmp_path) -> None:  # noqa: ANN001
    serial = issue(instance, "Võ Thị Sáu")
    revocation.revoke(instance.authority, serial, "keyCompromise", actor="tests")
    settings = instance.settings
    for path, role, kind in (("/pki/issuing.crl", "issuing", "CRL"), ("/pki/root.crl", "root", "ARL")):
        crl = served_crl(client, path)
        ca = instance.authority.ca_cert(role)
        assert crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        assert crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ski
        assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(hours=settings.crl_validity_hours)
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
        assert idp.critical
        # the issuing CA's certificates name their CRL; the root has none, so the ARL names no point either
        assert idp.value.full_name == ([x509.UniformResourceIdentifier(f"{settings.base_url}{path}")]
                                       if role == "issuing" else None)
        assert idp.value.only_contains_ca_certs is (role == "root")
        assert idp.value.only_contains_user_certs is (role == "issuing")
        pem = _pem(crl, tmp_path / f"{role}.crl.pem")
        checked = _openssl("crl", "-in", str(pem), "-CAfile", str(ca_files["chain"]), "-noout", "-verify")
        assert checked.returncode == 0 and "verify OK" in checked.stderr + checked.stdout, checked.stderr
        lint = subprocess.run([LINT_CRL, "lint", "-s", "INFO", "-t", kind, "-p", "PKIX", str(pem)],
                              capture_output=True, text=True, timeout=60)
        assert lint.returncode == 0 and lint.stdout.strip() == "", lint.stdout + lint.stderr
    issuing = served_crl(client)
    fresh = issuing.extensions.get_extension_for_class(x509.FreshestCRL).value
    assert fresh[0].full_name[0].value == f"{settings.base_url}/pki/issuing-delta.crl"
    assert issuing.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None


def test_openssl_verify_crl_check_rejects_revoked_and_accepts_good(instance, client, ca_files, tmp_path) -> None:  # noqa: ANN001
    revoked, good = issue(instance, "Hoàng Văn Bình"), issue(instance, "Đặng Thu Thảo")
    revocation.revoke(instance.authority, revoked, "privilegeWithdrawn", actor="tests")
    bundle = tmp_path / "trust.pem"
    bundle.write_bytes(ca_files["chain"].read_bytes()
                       + served_crl(client).public_bytes(serialization.Encoding.PEM)
                       + served_crl(client, "/pki/root.crl").public_bytes(serialization.Encoding.PEM))
    for serial, expect_ok in ((revoked, False), (good, True)):
        cert = tmp_path / f"{serial}.pem"
        cert.write_bytes(x509.load_der_x509_certificate(instance.authority.get(serial).der)
                         .public_bytes(serialization.Encoding.PEM))
        out = _openssl("verify", "-crl_check_all", "-CAfile", str(bundle), str(cert))
        if expect_ok:
            assert out.returncode == 0 and ": OK" in out.stdout, out.stdout + out.stderr
        else:
            assert out.returncode != 0 and "error 23" in out.stdout + out.stderr
            assert "certificate revoked" in out.stdout + out.stderr


def test_delta_crl_lists_changes_since_its_base(instance, client, ca_files, tmp_path) -> None:  # noqa: ANN001
    base = crl_mod.issue(instance.authority, "issuing")
    revoked, held = issue(instance, "Bùi Quang Huy"), issue(instance, "Ngô Thị Lan")
    revocation.revoke(instance.authority, held, "certificateHold", actor="tests")
    base = crl_mod.issue(instance.authority, "issuing")  # lists the hold
    assert x509.load_der_x509_crl(base.der).get_revoked_certificate_by_serial_number(int(held, 16)) is not None
    # a batch of changes without publishing: the delta against the base carries exactly them
    revocation.revoke(instance.authority, revoked, "keyCompromise", actor="tests", publish=False)
    revocation.release_hold(instance.authority, held, actor="tests", publish=False)
    resp = client.get("/pki/issuing-delta.crl")
    assert resp.status_code == 200 and resp.mimetype == "application/pkix-crl"
    delta = x509.load_der_x509_crl(resp.data)
    assert delta.is_signature_valid(instance.authority.ca_cert("issuing").public_key())
    indicator = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert indicator.critical and indicator.value.crl_number == base.number
    assert _number(delta) > base.number
    assert delta.next_update_utc - delta.last_update_utc == \
        dt.timedelta(hours=instance.settings.delta_crl_validity_hours)
    reasons = {e.serial_number: e.extensions.get_extension_for_class(x509.CRLReason).value.reason for e in delta}
    assert reasons == {int(revoked, 16): x509.ReasonFlags.key_compromise,
                       int(held, 16): x509.ReasonFlags.remove_from_crl}
    # openssl combines base and delta: the newly revoked certificate fails, the released one passes
    pem = _pem(delta, tmp_path / "delta.pem")
    lint = subprocess.run([LINT_CRL, "lint", "-s", "INFO", "-t", "CRL", "-p", "PKIX", str(pem)],
                          capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0 and lint.stdout.strip() == "", lint.stdout
    bundle = tmp_path / "trust.pem"
    bundle.write_bytes(ca_files["chain"].read_bytes() + x509.load_der_x509_crl(base.der).public_bytes(
        serialization.Encoding.PEM) + pem.read_bytes())
    for serial, expect_ok in ((revoked, False), (held, True)):
        cert = tmp_path / f"{serial}.pem"
        cert.write_bytes(x509.load_der_x509_certificate(instance.authority.get(serial).der)
                         .public_bytes(serialization.Encoding.PEM))
        out = _openssl("verify", "-crl_check", "-use_deltas", "-CAfile", str(bundle), str(cert))
        assert (out.returncode == 0) is expect_ok, out.stdout + out.stderr
        if not expect_ok:
            assert "certificate revoked" in out.stdout + out.stderr
    # the full CRL still shows the hold (it predates the release) until re-issued
    crl_mod.publish_all(instance.authority)
    full = served_crl(client)
    assert full.get_revoked_certificate_by_serial_number(int(held, 16)) is None
    assert full.get_revoked_certificate_by_serial_number(int(revoked, 16)) is not None


def test_http_caching_headers_and_conditional_get(instance, client) -> None:  # noqa: ANN001
    crl_mod.publish_all(instance.authority)
    first = client.get("/pki/issuing.crl")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag and modified and "max-age" in first.headers["Cache-Control"]
    number = _number(x509.load_der_x509_crl(first.data))
    assert str(number) in etag
    again = client.get("/pki/issuing.crl", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/pki/issuing.crl", headers={"If-Modified-Since": modified}).status_code == 304
    crl_mod.issue(instance.authority, "issuing")  # a newer CRL: the old tag no longer matches
    newer = client.get("/pki/issuing.crl", headers={"If-None-Match": etag})
    assert newer.status_code == 200 and _number(x509.load_der_x509_crl(newer.data)) > number
    assert client.get("/pki/root-delta.crl").status_code == 404
    # the files on disk follow the newest CRL
    on_disk = x509.load_der_x509_crl((instance.settings.crl_dir / "issuing.crl").read_bytes())
    assert _number(on_disk) == _number(x509.load_der_x509_crl(newer.data))


def test_crl_numbers_only_go_up_across_processes(instance, kyso_env) -> None:  # noqa: ANN001
    seen = [crl_mod.issue(instance.authority, "issuing").number]
    for _ in range(2):
        out = json.loads(run_kyso("crl", "publish", "--json", env=kyso_env, check=True).stdout)
        numbers = {p["file"]: p["number"] for p in out}
        assert numbers["issuing.crl"] < numbers["issuing-delta.crl"]  # one sequence for full and delta
        seen += [numbers["issuing.crl"], numbers["issuing-delta.crl"]]
        seen.append(crl_mod.issue(instance.authority, "issuing").number)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    # a fresh process (a "restart") serving the current CRL finds the newest, never an older number
    show = json.loads(run_kyso("crl", "show", "--json", env=kyso_env, check=True).stdout)
    assert {p["file"]: p["number"] for p in show}["issuing.crl"] == seen[-1]


def test_lazy_reissue_near_next_update(instance, settings) -> None:  # noqa: ANN001
    from ca.instance import Instance

    current = crl_mod.current(instance.authority, "issuing")
    assert crl_mod.current(instance.authority, "issuing").number == current.number  # fresh: served as is
    # the same CA seen by a process whose clock is 20 h later (last quarter of a 24 h CRL): re-issued
    later = current.this_update + dt.timedelta(hours=settings.crl_validity_hours * 0.8)
    shifted = Instance.open(settings, clock=lambda: later)
    try:
        renewed = crl_mod.current(shifted.authority, "issuing")
        assert renewed.number > current.number and renewed.this_update == later.replace(microsecond=0)
        parsed = x509.load_der_x509_crl(revocation.current_crl(shifted.authority, "issuing"))
        assert _number(parsed) == renewed.number
        # and the delta follows its new base
        delta = x509.load_der_x509_crl(revocation.current_crl(shifted.authority, "issuing", delta=True))
        assert delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number >= renewed.number
    finally:
        # The CRLs just made are dated 19 h ahead, in the database every test of this worker shares: a signature
        # validated now would find them "too recent". Newer numbers at the real time make them history again.
        crl_mod.publish_all(instance.authority)
        shifted.store.dispose()


def test_unknown_crl_kind_is_a_clear_error(instance) -> None:  # noqa: ANN001
    import pytest

    from ca.errors import NotFound

    with pytest.raises(NotFound) as err:
        revocation.current_crl(instance.authority, "root", delta=True)
    assert err.value.code == "crl_not_found" and err.value.vi_message


def test_entries_are_hand_encoded_like_cryptography_reads_them(instance) -> None:  # noqa: ANN001
    from ca import crl_der

    when = dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
    later = dt.datetime(2051, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    entries = [crl_der.encode_entry((1 << 150) | 12345, when, "unspecified"),
               crl_der.encode_entry(1, later, "superseded", when),
               crl_der.encode_entry((1 << 158) + 7, when, "cessationOfOperation")]
    auth = instance.authority
    der_bytes = crl_der.build(issuer_cert=auth.ca_cert("issuing"), key=auth.ca_key("issuing"), number=2**70,
                              this_update=when, next_update=later, entries=b"".join(entries),
                              idp_url="http://example.vn/x.crl", only_ca_certs=False)
    crl = x509.load_der_x509_crl(der_bytes)
    assert crl.is_signature_valid(auth.ca_cert("issuing").public_key()) and _number(crl) == 2**70
    assert crl.last_update_utc == when and crl.next_update_utc == later
    got = {e.serial_number: e for e in crl}
    assert set(got) == {(1 << 150) | 12345, 1, (1 << 158) + 7}
    assert len(got[(1 << 150) | 12345].extensions) == 0  # unspecified: no reasonCode
    assert got[1].revocation_date_utc == later
    assert got[1].extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc == when
