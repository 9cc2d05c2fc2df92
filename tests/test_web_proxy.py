"""Behind a load balancer: client addresses come from X-Forwarded-For only when the operator says how many proxies
to believe (KYSO_TRUSTED_PROXIES); otherwise the header is ignored, so nobody can dodge the login throttle with it."""
from __future__ import annotations

import dataclasses
import uuid

from tests.web_support import login

PASSWORD = "mat-khau-123"


def _via_proxy(client, name: str, password: str, forwarded_for: str):  # noqa: ANN001,ANN202
    """A login that reaches kyso from the proxy 10.1.1.1 on behalf of ``forwarded_for``."""
    return login(client, name, password, REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR=forwarded_for)


def _fail_five_times(app, name: str, forwarded_for: str) -> None:  # noqa: ANN001
    client = app.test_client()
    for _ in range(5):
        assert _via_proxy(client, name, "sai-mat-khau", forwarded_for).status_code == 401


def test_forwarded_addresses_are_ignored_by_default(app, make_user) -> None:  # noqa: ANN001
    name, _ = make_user("official")
    spoof = f"203.0.113.{uuid.uuid4().int % 250}"
    _fail_five_times(app, name, spoof)
    # a new forged address does not open the door: the real peer address (the proxy's) is what counts
    assert _via_proxy(app.test_client(), name, PASSWORD, "198.51.100.7").status_code == 429


def test_trusted_proxy_gives_each_client_its_own_budget(instance, make_user) -> None:  # noqa: ANN001
    from ca.instance import Instance
    from web.app import create_app

    behind = dataclasses.replace(instance.settings, trusted_proxies=1)
    app = create_app(instance=Instance(behind, instance.store, instance.keystore, instance.authority),
                     config={"TESTING": True})
    name, _ = make_user("official")
    client_a = f"203.0.113.{uuid.uuid4().int % 250}"
    _fail_five_times(app, name, client_a)
    assert _via_proxy(app.test_client(), name, PASSWORD, client_a).status_code == 429
    # the same proxy, another client behind it: not throttled
    assert _via_proxy(app.test_client(), name, PASSWORD, "198.51.100.9").status_code == 302
