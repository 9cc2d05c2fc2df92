"""The audit log's hash chain on BOTH databases, each test on a fresh database (SQLite file or a new PostgreSQL
database): concurrent appenders from two stores ("nodes") build one gap-free chain; checkpoints are signed by the
HSM audit key; edits, deletions and truncation are detected; a rolled-back change leaves no event behind."""
from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from ca import audit
from ca.store import Store
from ca.store.models import AuditCheckpoint, AuditEvent, AuditHead
from tests.test_pg_ca import BACKENDS


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database("audit_" + uuid.uuid4().hex[:10])


@pytest.fixture
def stores(fresh_url: str):  # noqa: ANN201
    """Two independent stores (engines, pools) on one fresh database, like two nodes."""
    first, second = Store(fresh_url), Store(fresh_url)
    first.migrate()
    with first.write() as s:
        audit.ensure_head(s)
    yield first, second
    first.dispose()
    second.dispose()


@pytest.fixture(scope="module")
def audit_key(instance: Any) -> Any:
    return instance.authority.audit_key()


def _append_many(store: Store, worker: int, n: int, signer: Any, errors: list) -> None:
    try:
        for i in range(n):
            with store.write() as s:
                audit.append(s, f"nút-{worker}", "cert.issue", f"{worker}-{i}",
                             {"subject": "CN=Nguyễn Thị Hằng, L=Đà Nẵng", "i": i}, signer=signer)
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def test_concurrent_appenders_build_one_gapless_signed_chain(stores, audit_key) -> None:  # noqa: ANN001
    per_thread, threads_per_store = 35, 3
    errors: list = []
    threads = [threading.Thread(target=_append_many, args=(store, w * 10 + t, per_thread, audit_key, errors))
               for w, store in enumerate(stores) for t in range(threads_per_store)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = per_thread * threads_per_store * len(stores)
    with stores[1].read() as s:
        report = audit.verify(s, audit_key.public_key())
        seqs = list(s.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars())
        targets = set(s.execute(select(AuditEvent.target)).scalars())
        cps = list(s.execute(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq)).scalars())
    assert report.ok, report.problems
    assert report.events == total and seqs == list(range(1, total + 1))
    assert len(targets) == total  # nothing lost, nothing written twice
    assert cps == list(range(audit.CHECKPOINT_EVERY, total + 1, audit.CHECKPOINT_EVERY))
    assert report.checkpoints == len(cps) >= 2


def _fill(store: Store, n: int, signer: Any = None) -> None:
    for i in range(n):
        with store.write() as s:
            audit.append(s, "admin", "user.add", f"người-{i}", {"full_name": "Nguyễn Thị Hằng", "i": i},
                         signer=signer)


def _problems(store: Store, key: Any = None) -> list[tuple[int | None, str]]:
    with store.read() as s:
        return audit.verify(s, key).problems


def test_tampering_is_detected_and_located(stores, audit_key) -> None:  # noqa: ANN001
    store = stores[0]
    _fill(store, 120, audit_key)
    assert _problems(store, audit_key.public_key()) == []
    with store.write() as s:  # an edit: the row no longer matches its hash
        s.execute(update(AuditEvent).where(AuditEvent.seq == 57).values(details={"full_name": "Trần Văn Bình"}))
    assert [p[0] for p in _problems(store)] == [57] and "edited" in _problems(store)[0][1]
    with store.write() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 57)
                  .values(details={"full_name": "Nguyễn Thị Hằng", "i": 56}))
    assert _problems(store) == []
    with store.write() as s:  # a deletion in the middle
        s.execute(delete(AuditEvent).where(AuditEvent.seq == 80))
    problems = _problems(store)
    assert problems and problems[0][0] == 80 and "missing" in problems[0][1]


def test_truncation_and_forged_checkpoints_are_detected(stores, audit_key) -> None:  # noqa: ANN001
    store = stores[1]
    _fill(store, 105, audit_key)
    with store.write() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.seq > 103))
    assert any("head" in text for _seq, text in _problems(store))
    with store.write() as s:  # repair the head to hide the truncation: the signed checkpoint still anchors
        last = s.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
        s.execute(update(AuditHead).values(seq=last.seq, hash=last.hash))
        s.execute(update(AuditCheckpoint).where(AuditCheckpoint.seq == 100).values(hash="f" * 64))
    problems = _problems(store, audit_key.public_key())
    assert [seq for seq, _ in problems] == [100, 100]
    assert any("signature" in text for _seq, text in problems)


def test_a_rolled_back_change_leaves_no_event_and_the_chain_continues(stores) -> None:  # noqa: ANN001
    store = stores[0]
    _fill(store, 3)
    with pytest.raises(RuntimeError):
        with store.write() as s:
            audit.append(s, "admin", "cert.revoke", "abc", {"reason": "keyCompromise"})
            raise RuntimeError("the change failed after its audit event was added")
    _fill(store, 1)
    with store.read() as s:
        assert s.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == 4
        assert s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action == "cert.revoke")).scalar_one() == 0
    assert _problems(store) == []


def test_an_appender_that_read_the_head_earlier_still_links_to_the_newest_row(stores) -> None:  # noqa: ANN001
    """A transaction that looked at the head before another node appended must not reuse the stale seq."""
    first, second = stores
    _fill(first, 2)
    if first.is_sqlite:
        # SQLite write transactions hold the database lock from BEGIN IMMEDIATE: the other node waits instead
        with first.write() as s:
            assert s.get(AuditHead, 1).seq == 2
            audit.append(s, "admin", "crl.publish", "issuing", {})
        _fill(second, 1)
    else:
        with first.write() as s:
            assert s.get(AuditHead, 1).seq == 2  # loaded into this session's identity map, unlocked
            _fill(second, 1)  # another node appends and commits meanwhile
            event = audit.append(s, "admin", "crl.publish", "issuing", {})
            assert event.seq == 4
    assert _problems(first) == []
