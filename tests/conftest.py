"""Session fixtures: one real SoftHSM token and one real CA per test process (pytest-xdist worker).

Everything is real: SoftHSM2 through PKCS#11, SQLite on disk, the `kyso` command in subprocesses,
gunicorn for served tests. Tests that need an instance of their own (init, errors) make one in tmp_path
through the CLI.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support import ADMIN_PASSWORD, LiveServer, clean_env
from tests.pg import pg_instance, postgres_server, postgres_url  # noqa: F401 - PostgreSQL fixtures

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def kyso_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("kyso-home")
    env = clean_env(KYSO_HOME=str(home), KYSO_BASE_URL="http://127.0.0.1:8080")
    for key in [k for k in os.environ if k.startswith("KYSO_") or k == "SOFTHSM2_CONF"]:
        del os.environ[key]
    os.environ.update({"KYSO_HOME": str(home), "KYSO_BASE_URL": "http://127.0.0.1:8080"})
    return env


@pytest.fixture(scope="session")
def settings(kyso_env: dict[str, str]) -> Any:
    from ca.instance import prepare_home
    from ca.settings import Settings

    return prepare_home(Settings.from_env(kyso_env))


@pytest.fixture(scope="session")
def instance(settings: Any) -> Any:
    from ca.instance import Instance

    inst = Instance.open(settings)
    inst.initialise(org="Bộ Công an", admin_user="admin", admin_password=ADMIN_PASSWORD, province="Hà Nội")
    return inst


@pytest.fixture(scope="session")
def app(instance: Any) -> Any:
    from web.app import create_app

    return create_app(instance=instance, config={"TESTING": True})


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture(scope="session")
def admin_token(instance: Any) -> str:
    from ca.users import create_token

    with instance.store.write() as s:
        return create_token(s, "admin", "tests")


def new_user(instance: Any, role: str, *, full_name: str = "Nguyễn Thị Hằng", org: str = "Công an thành phố Đà Nẵng",
             totp_secret: str | None = None, password: str = "mat-khau-123") -> tuple[str, str]:
    """A fresh user of ``role`` and an API token for them."""
    from ca.users import create_token, create_user

    name = f"{role}{next(_counter)}-{os.getpid()}"
    with instance.store.write() as s:
        create_user(s, name, role, password, full_name=full_name, org=org, totp_secret=totp_secret)
        token = create_token(s, name)
    return name, token


@pytest.fixture
def make_user(instance: Any):  # noqa: ANN201
    def factory(role: str, **kw: Any) -> tuple[str, str]:
        return new_user(instance, role, **kw)

    return factory


@pytest.fixture(scope="session")
def ca_files(instance: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ca-files")
    out = {}
    for role in ("root", "issuing", "ocsp", "tsa"):
        path = d / f"{role}.pem"
        path.write_bytes(instance.authority.ca_cert(role).public_bytes(serialization.Encoding.PEM))
        out[role] = path
    chain = d / "chain.pem"
    chain.write_text(instance.authority.chain_pem())
    out["chain"] = chain
    return out


@pytest.fixture(scope="session")
def live_server(instance: Any, kyso_env: dict[str, str]) -> Any:
    server = LiveServer(kyso_env)
    yield server
    server.stop()


OFFICIAL_SUBJECT = {
    "CN": "Nguyễn Thị Hằng", "O": "Công an thành phố Đà Nẵng", "OU": ["Phòng Tham mưu"], "L": "Hải Châu",
    "ST": "Đà Nẵng", "C": "VN", "title": "Trưởng phòng", "uid": ["CCCD:048190000123"],
}
AGENCY_SUBJECT = {"CN": "Công an thành phố Đà Nẵng", "O": "Bộ Công an", "L": "Hải Châu", "ST": "Đà Nẵng",
                  "C": "VN", "uid": ["MST:0401234567"]}
