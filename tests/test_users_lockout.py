"""Repeated failed logins lock the account in the database (every node and worker sees the lock), without the
password being checked while locked; the lock expires by itself; everything is audited."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from ca import users
from ca.errors import Unauthorized
from ca.store.models import AuditEvent, User
from tests.web_support import login

PASSWORD = "mat-khau-123"


def _login(instance, name: str, password: str) -> None:  # noqa: ANN001
    with instance.store.write() as s:
        users.login(s, name, password, instance.authority, address="192.0.2.10")


def test_ten_failures_lock_the_account_for_fifteen_minutes(instance, make_user) -> None:  # noqa: ANN001
    name, _ = make_user("official")
    for _ in range(users.LOCK_AFTER_FAILURES - 1):
        with pytest.raises(Unauthorized) as err:
            _login(instance, name, "sai-mat-khau")
        assert err.value.code == "bad_credentials"
    _login(instance, name, PASSWORD)  # a success before the limit resets the count
    for _ in range(users.LOCK_AFTER_FAILURES):
        with pytest.raises(Unauthorized):
            _login(instance, name, "sai-mat-khau")
    with pytest.raises(Unauthorized) as err:
        _login(instance, name, PASSWORD)  # even the right password is refused now
    assert err.value.code == "account_locked" and "bị khóa đến" in err.value.vi_message
    with instance.store.read() as s:
        user = s.execute(select(User).where(User.username == name)).scalar_one()
        locked_until = user.locked_until
        events = s.execute(select(AuditEvent).where(AuditEvent.target == name,
                                                    AuditEvent.action == "auth.login_failed")).scalars().all()
    now = dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(minutes=14) < locked_until - now <= dt.timedelta(minutes=users.LOCK_MINUTES)
    assert len(events) == 2 * users.LOCK_AFTER_FAILURES and events[-1].details.get("locked") is True
    # after the lock expires the right password works again (clock moved past the lock)
    with instance.store.write() as s:
        later = locked_until + dt.timedelta(seconds=1)
        assert users.authenticate(s, name, PASSWORD, clock=lambda: later).username == name
        assert s.execute(select(User.locked_until).where(User.username == name)).scalar_one() is None


def test_the_lock_holds_for_another_web_worker(app, instance, make_user) -> None:  # noqa: ANN001
    """A second app (another worker or node, with its own in-memory throttle) refuses the locked account."""
    from ca.instance import Instance
    from web.app import create_app

    name, _ = make_user("official")
    for _ in range(users.LOCK_AFTER_FAILURES):
        with pytest.raises(Unauthorized):
            _login(instance, name, "sai-mat-khau")
    other = create_app(instance=Instance(instance.settings, instance.store, instance.keystore, instance.authority),
                       config={"TESTING": True})
    resp = login(other.test_client(), name, PASSWORD, REMOTE_ADDR="192.0.2.99")
    assert resp.status_code == 401
    assert "bị khóa" in resp.get_data(as_text=True)
