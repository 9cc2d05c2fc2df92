"""Role changes: nobody removes their own administrator rights, and the last active administrator stays."""
from __future__ import annotations

import pytest

from ca import users
from ca.errors import Forbidden
from ca.store import Store


def test_self_demotion_and_last_admin_are_refused(tmp_path) -> None:  # noqa: ANN001
    store = Store(f"sqlite:///{tmp_path / 'roles.db'}")
    store.migrate()
    with store.write() as s:
        users.create_user(s, "quantri1", "admin", "mat-khau-123", full_name="Nguyễn Văn An")
        users.create_user(s, "canbo1", "official", "mat-khau-123", full_name="Trần Thị Bình")
    with store.write() as s, pytest.raises(Forbidden) as err:
        users.update_user(s, "quantri1", "quantri1", role="official", active=True)
    assert err.value.code == "self_demotion"
    with store.write() as s, pytest.raises(Forbidden) as err:  # another actor, but it is the only admin
        users.update_user(s, "someone", "quantri1", role="auditor", active=True)
    assert err.value.code == "last_admin"
    with store.write() as s, pytest.raises(Forbidden) as err:  # deactivating the last admin is the same
        users.update_user(s, "someone", "quantri1", role="admin", active=False)
    assert err.value.code == "last_admin"
    with store.write() as s:
        _, changes = users.update_user(s, "quantri1", "canbo1", role="admin", active=True)
        assert changes == {"role": ["official", "admin"]}
    with store.write() as s:  # with a second active admin, the first may now be demoted by the second
        user, changes = users.update_user(s, "canbo1", "quantri1", role="auditor", active=True)
        assert user.role == "auditor" and changes == {"role": ["admin", "auditor"]}
    with store.write() as s, pytest.raises(Forbidden) as err:
        users.update_user(s, "quantri1", "canbo1", role="official", active=True)
    assert err.value.code == "last_admin"
    with store.read() as s:
        assert users.count_active_admins(s) == 1
    store.dispose()
