"""The HSM key store on a real SoftHSM2 token, judged by cryptography, openssl and pkcs11-tool (opensc)."""
from __future__ import annotations

import datetime as dt
import multiprocessing
import pickle
import re
import subprocess
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from hsm import KeyStore, errors

ALGS = ["rsa2048", "rsa3072", "ec-p256", "ec-p384"]


@pytest.fixture(scope="module")
def keystore(settings, instance):  # noqa: ANN001 - instance: the token exists and is initialised
    return settings.keystore()


@pytest.fixture(scope="module")
def keys(keystore):  # noqa: ANN001
    made = {alg: keystore.generate(f"test-{alg}", alg) for alg in ALGS}
    yield made
    for alg in ALGS:
        keystore.delete(f"test-{alg}")


def test_generated_keys_sign_and_verify_with_every_scheme(keys) -> None:  # noqa: ANN001
    data = "Văn bản số 123/QĐ-BCA".encode()
    for alg, key in keys.items():
        pub = key.public_key()
        if alg.startswith("rsa"):
            assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == int(alg[3:])
            for pad in (padding.PKCS1v15(), padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
                        padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH)):
                sig = key.sign(data, pad, hashes.SHA256())
                pub.verify(sig, data, pad, hashes.SHA256())
            for h in (hashes.SHA384(), hashes.SHA512()):
                pub.verify(key.sign(data, padding.PKCS1v15(), h), data, padding.PKCS1v15(), h)
            digest = hashes.Hash(hashes.SHA256())
            digest.update(data)
            sig = key.sign(digest.finalize(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
            pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            for h in (hashes.SHA256(), hashes.SHA384()):
                pub.verify(key.sign(data, ec.ECDSA(h)), data, ec.ECDSA(h))


def test_private_key_never_leaves_the_token(keys) -> None:  # noqa: ANN001
    for key in keys.values():
        with pytest.raises(errors.KeyExportRefused):
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
        with pytest.raises(errors.KeyExportRefused):
            key.private_numbers()
        with pytest.raises(errors.KeyExportRefused):
            pickle.dumps(key)


def test_token_marks_keys_sensitive_and_never_extractable(keystore, keys, settings) -> None:  # noqa: ANN001
    for info in keystore.list_keys():
        assert info.sensitive and info.always_sensitive and info.never_extractable and not info.extractable, info
    # the outside judge: opensc's pkcs11-tool reading the same token
    out = subprocess.run(
        ["pkcs11-tool", "--module", settings.pkcs11_module, "--token-label", settings.token_label, "--login",
         "--pin", settings.pin, "--list-objects", "--type", "privkey"],
        env={"SOFTHSM2_CONF": str(settings.softhsm_conf), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True).stdout
    blocks = [b for b in out.split("Private Key Object") if b.strip()]
    labels = {re.search(r"label:\s+(.*)", b).group(1).strip(): b for b in blocks}
    for alg in ALGS:
        block = labels[f"test-{alg}"]
        access = re.search(r"Access:\s+(.*)", block).group(1)
        assert "always sensitive" in access and "never extractable" in access, access
        assert re.search(r"\bsensitive\b", access.replace("always sensitive", "")), access
    ca_keys = [lbl for lbl in labels if lbl.startswith("kyso-")]
    assert len(ca_keys) >= 5  # root, issuing, ocsp, tsa, audit
    for lbl in ca_keys:
        assert "never extractable" in labels[lbl]


def test_certificate_signed_through_keystore_passes_openssl_verify(keys, tmp_path) -> None:  # noqa: ANN001
    ca_key, leaf_key = keys["rsa2048"], keys["ec-p256"]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Thử nghiệm HSM"), x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")])
    now = dt.datetime.now(dt.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lá")]))
            .issuer_name(name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(hours=1)).sign(ca_key, hashes.SHA256()))
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    out = subprocess.run(["openssl", "verify", "-CAfile", tmp_path / "ca.pem", tmp_path / "leaf.pem"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr
    # and a certificate signed by the EC key (ECDSA through CKM_ECDSA, DER re-encoded)
    ec_self = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(leaf_key.public_key())
               .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .sign(leaf_key, hashes.SHA256()))
    (tmp_path / "ec.pem").write_bytes(ec_self.public_bytes(serialization.Encoding.PEM))
    out = subprocess.run(["openssl", "verify", "-CAfile", tmp_path / "ec.pem", tmp_path / "ec.pem"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_find_list_delete_and_duplicates(keystore) -> None:  # noqa: ANN001
    keystore.generate("test-temp", "ec-p256")
    assert keystore.exists("test-temp")
    assert keystore.key_info("test-temp").algorithm == "ec-p256"
    with pytest.raises(errors.KeyExists):
        keystore.generate("test-temp", "ec-p256")
    keystore.delete("test-temp")
    assert not keystore.exists("test-temp")
    with pytest.raises(errors.KeyNotFound):
        keystore.private_key("test-temp")
    with pytest.raises(errors.KeyNotFound):
        keystore.delete("test-temp")


def test_unsupported_algorithm_is_a_clear_error(keystore, keys) -> None:  # noqa: ANN001
    with pytest.raises(errors.UnsupportedAlgorithm) as err:
        keystore.generate("test-dsa", "dsa1024")
    assert "rsa2048" in str(err.value)
    with pytest.raises(errors.UnsupportedAlgorithm):
        keys["rsa2048"].sign(b"x", padding.PKCS1v15(), hashes.SHA1())
    with pytest.raises(errors.UnsupportedAlgorithm):
        keys["rsa2048"].decrypt(b"x", padding.PKCS1v15())


def test_error_messages_for_missing_module_token_and_wrong_pin(settings, keys) -> None:  # noqa: ANN001
    with pytest.raises(errors.ModuleNotFound) as err:
        KeyStore("/nonexistent/libpkcs11.so", "kyso", "1234").health()
    assert "PKCS#11" in err.value.message
    with pytest.raises(errors.TokenNotFound):
        KeyStore(settings.pkcs11_module, "no-such-token", settings.pin).health()
    with pytest.raises(errors.PinIncorrect):
        KeyStore(settings.pkcs11_module, settings.token_label, "wrong-pin").health()
    with pytest.raises(errors.PinMissing):
        KeyStore(settings.pkcs11_module, settings.token_label, None).health()
    # the right PIN still works after the wrong one
    KeyStore(settings.pkcs11_module, settings.token_label, settings.pin).health()


def test_four_threads_sign_at_once_without_crashing(keys) -> None:  # noqa: ANN001
    """python-pkcs11 initialises SoftHSM without locks; the KeyStore's lock must keep threads apart."""
    results: list[tuple[str, bytes, bytes]] = []
    failures: list[BaseException] = []
    stop = time.monotonic() + 3.0

    def work(n: int) -> None:
        alg = ["rsa2048", "ec-p256", "rsa3072", "ec-p384"][n % 4]
        key = keys[alg]
        i = 0
        try:
            while time.monotonic() < stop:
                data = f"{n}-{i}".encode()
                sig = key.sign(data, ec.ECDSA(hashes.SHA256())) if alg.startswith("ec") else \
                    key.sign(data, padding.PKCS1v15(), hashes.SHA256())
                results.append((alg, data, sig))
                i += 1
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    assert len(results) > 100
    for alg, data, sig in results:
        pub = keys[alg].public_key()
        if alg.startswith("ec"):
            pub.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        else:
            pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())


def _child_sign(store: KeyStore, label: str, seconds: float, queue) -> None:  # noqa: ANN001
    try:
        key = store.private_key(label)
        sigs = []
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            data = str(len(sigs)).encode()
            sigs.append((data, key.sign(data, padding.PKCS1v15(), hashes.SHA256())))
        queue.put(("ok", sigs))
    except BaseException as exc:  # noqa: BLE001
        queue.put(("error", repr(exc)))


def test_forked_processes_reinitialise_and_sign_at_once(keystore, keys) -> None:  # noqa: ANN001
    """The parent has used the token; forked children must initialise PKCS#11 afresh and sign in parallel."""
    keys["rsa2048"].sign(b"parent", padding.PKCS1v15(), hashes.SHA256())
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child_sign, args=(keystore, "test-rsa2048", 3.0, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    outcomes = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    pub = keys["rsa2048"].public_key()
    for status, payload in outcomes:
        assert status == "ok", payload
        assert len(payload) > 50
        for data, sig in payload:
            pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    # and the parent still signs after its children are gone
    keys["rsa2048"].sign(b"after", padding.PKCS1v15(), hashes.SHA256())
