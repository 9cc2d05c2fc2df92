"""Request bodies in the WSGI fast paths (web/wsgi.py): OCSP and TSA bodies above 64 KiB or with a bad
Content-Length are answered as malformed by the protocol (200 with an error status), never read beyond the cap."""
from __future__ import annotations

import io

import pytest
from asn1crypto import core, ocsp as asn1_ocsp, tsp

from web.wsgi import content_length, drain, read_capped

LIMIT = 64 * 1024


def _environ(body: bytes, length: str | None) -> dict:
    env = {"wsgi.input": io.BytesIO(body)}
    if length is not None:
        env["CONTENT_LENGTH"] = length
    return env


@pytest.mark.parametrize("length,expected", [(None, -1), ("", -1), ("12", 12), ("0", 0), ("-5", None),
                                             ("lots", None), ("1e3", None)])
def test_content_length(length, expected) -> None:  # noqa: ANN001
    assert content_length(_environ(b"", length)) == expected


def test_read_capped_never_reads_past_the_cap() -> None:
    body = b"x" * (LIMIT + 10)
    env = _environ(body, None)  # no length (chunked): read at most limit + 1, then refuse
    assert read_capped(env, LIMIT) is None and env["wsgi.input"].tell() == LIMIT + 1
    env = _environ(body, str(len(body)))  # declared too large: nothing read
    assert read_capped(env, LIMIT) is None and env["wsgi.input"].tell() == 0
    env = _environ(body, "-1")  # negative: empty, nothing read
    assert read_capped(env, LIMIT) == b"" and env["wsgi.input"].tell() == 0
    assert read_capped(_environ(b"abc", "3"), LIMIT) == b"abc"
    assert read_capped(_environ(b"abc", None), LIMIT) == b"abc"


def test_drain_reads_only_a_declared_bounded_body() -> None:
    env = _environ(b"y" * 200_000, "200000")
    assert drain(env, 1_000_000) and env["wsgi.input"].tell() == 200_000
    for length in (None, "-3", "lots", "2000000"):
        env = _environ(b"y" * 10, length)
        assert not drain(env, 1_000_000) and env["wsgi.input"].tell() == 0


@pytest.mark.parametrize("body,length", [(b"\x30" * (LIMIT + 1), None), (b"\x30\x00", "-2"), (b"\x30\x00", "x")])
def test_ocsp_and_tsa_answer_malformed_bodies_by_protocol(client, body, length) -> None:  # noqa: ANN001
    overrides = {"CONTENT_LENGTH": length} if length is not None else {}
    http = client.post("/ocsp", data=body, content_type="application/ocsp-request", environ_overrides=overrides)
    assert http.status_code == 200 and http.mimetype == "application/ocsp-response"
    assert asn1_ocsp.OCSPResponse.load(http.data)["response_status"].native == "malformed_request"
    http = client.post("/tsa", data=body, content_type="application/timestamp-query", environ_overrides=overrides)
    assert http.status_code == 200 and http.mimetype == "application/timestamp-reply"
    status = tsp.PKIStatusInfo.load(core.Sequence.load(http.data)[0].dump())
    assert status["status"].native == "rejection" and status["fail_info"].native == {"bad_data_format"}
