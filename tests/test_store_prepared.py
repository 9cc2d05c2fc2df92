"""Prepared statements (ca/store/prepared.py) on BOTH databases: what they write reads back through the ORM exactly
as ``Connection.execute`` would have written it (JSON with Vietnamese text, aware UTC datetimes, booleans, bytes),
a unique violation is SQLAlchemy's IntegrityError and leaves nothing of its transaction, and a statement whose
result would need processing is refused instead of handing back raw driver values."""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from ca import audit
from ca.store.models import AuditEvent, Certificate
from ca.store.prepared import Prepared, RawTransaction, insert_into
from ca.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Any:  # noqa: ANN001
    """A fresh, migrated database of each kind (these rows are not certificates: keep them out of the session CA)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'prepared.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database(f"prepared_{secrets.token_hex(4)}")
    st = Store(url)
    st.migrate()
    yield st
    st.dispose()

INSERT = insert_into(Certificate.__table__, skip=("id",), returning=Certificate.__table__.c.id)
SUBJECT = {"CN": "Nguyễn Thị Hằng", "L": "Đà Nẵng", "uid": ["CCCD:048190000123"]}


def row(serial: str) -> dict:
    when = dt.datetime(2026, 11, 22, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=7)))  # 20:04:05 UTC the day before
    return {"serial": serial, "issuer_id": None, "role": "end-entity", "profile": "official",
            "subject_cn": SUBJECT["CN"], "subject": SUBJECT, "not_before": when, "not_after": when + dt.timedelta(days=3),
            "der": b"\x30\x00\xff", "fingerprint": secrets.token_hex(32), "key_label": None, "owner_id": None,
            "created_at": when, "revoked": False}


def test_written_rows_read_back_through_the_orm(store) -> None:  # noqa: ANN001
    serial = "ab" + secrets.token_hex(18)
    with store.raw_write() as tx:
        new_id = tx.one(INSERT, row(serial))[0]
        audit.append(tx, "admin", "cert.issue", serial, {"ghi chú": "Đà Nẵng"})
    with store.read() as s:
        got = s.get(Certificate, new_id)
        event = s.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    assert got.serial == serial and got.subject == SUBJECT and got.der == b"\x30\x00\xff" and got.revoked is False
    assert got.not_before == dt.datetime(2026, 11, 21, 20, 4, 5, tzinfo=dt.timezone.utc)
    assert got.not_before.tzinfo is not None and got.not_after - got.not_before == dt.timedelta(days=3)
    assert event.target == serial and event.details == {"ghi chú": "Đà Nẵng"}
    with store.read() as s:  # the chain the prepared statements built verifies
        report = audit.verify(s)
        assert report.ok and report.events == 1, report.problems


def test_a_unique_violation_is_integrity_error_and_rolls_the_transaction_back(store) -> None:  # noqa: ANN001
    serial = "cd" + secrets.token_hex(18)
    with store.raw_write() as tx:
        tx.one(INSERT, row(serial))
    with store.read() as s:
        events = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    with pytest.raises(IntegrityError):
        with store.raw_write() as tx:
            audit.append(tx, "admin", "cert.issue", serial, {})
            tx.one(INSERT, row(serial))  # the same serial again
    with store.read() as s:
        assert s.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == events
        assert s.execute(select(func.count()).where(Certificate.serial == serial)).scalar_one() == 1


def test_statements_whose_results_need_processing_are_refused(store) -> None:  # noqa: ANN001
    times = Prepared(select(Certificate.not_before).limit(1))  # UTCDateTime: raw values would be naive or text
    with store.raw_write() as tx, pytest.raises(TypeError, match="result processing"):
        tx.one(times)


def test_raw_work_inside_an_orm_session_shares_its_transaction(store) -> None:  # noqa: ANN001
    serial = "ef" + secrets.token_hex(18)
    with pytest.raises(RuntimeError):
        with store.write() as s:
            RawTransaction.of(s).one(INSERT, row(serial))
            raise RuntimeError("roll back")
    with store.read() as s:
        assert s.execute(select(func.count()).where(Certificate.serial == serial)).scalar_one() == 0


def test_a_connection_killed_mid_transaction_is_unavailable_keeps_nothing_and_recovers(postgres_server) -> None:  # noqa: ANN001
    """The database goes away between two statements of a raw write (its backend killed, as a restart or failover
    would): the caller gets ``Unavailable`` (503 database_unavailable, not a driver error), the statement already
    run is not kept, and the next write works on a fresh connection."""
    from ca.errors import Unavailable

    st = Store(postgres_server.create_database(f"prepared_{secrets.token_hex(4)}"))
    st.migrate()
    try:
        first, second = "a1" + secrets.token_hex(18), "a2" + secrets.token_hex(18)
        with pytest.raises(Unavailable) as failure:
            with st.raw_write() as tx:
                tx.one(INSERT, row(first))
                with st.read() as s:
                    s.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": tx.dbapi_connection.info.backend_pid})
                tx.one(INSERT, row(second))
        assert failure.value.code == "database_unavailable"
        with st.raw_write() as tx:
            tx.one(INSERT, row(second))
        with st.read() as s:
            assert s.execute(select(Certificate.serial).where(Certificate.serial.in_([first, second]))
                             ).scalars().all() == [second]
    finally:
        st.dispose()


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_an_unreachable_database_is_unavailable(kind, tmp_path) -> None:  # noqa: ANN001
    """Nothing listening (PostgreSQL) or a database path that cannot be opened (SQLite): the driver's connect error
    (which ``Engine.raw_connection`` does not wrap) is ``Unavailable`` on both raw entry points."""
    from ca.errors import Unavailable
    from ca.users import _TOKEN_OWNER

    if kind == "sqlite":
        (tmp_path / "kyso.db").mkdir()
        url = f"sqlite:///{tmp_path / 'kyso.db'}"
    else:
        url = "postgresql://nobody@127.0.0.1:1/none"
    st = Store(url)
    try:
        with pytest.raises(Unavailable, match="Database unavailable: OperationalError"):
            with st.raw_write() as tx:
                tx.one(INSERT, row("b1" + secrets.token_hex(18)))
        with pytest.raises(Unavailable, match="Database unavailable: OperationalError"):
            st.fetch_one(_TOKEN_OWNER, {"token_hash": "0" * 64})
    finally:
        st.dispose()
