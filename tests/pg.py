"""A real PostgreSQL server for the tests (and the load benchmark), started from the Debian server binaries.

``PostgresServer`` runs ``initdb`` + ``postgres`` in a fresh temporary directory, listening on 127.0.0.1 at a free
port and on a Unix socket in that directory, trust authentication for the local role ``kyso``. PostgreSQL refuses
to run as root: when the tests run as root (here and in CI) the server runs as the system user ``kysopg``
(created with ``useradd`` if missing) and the directory is handed to that user. ``stop()`` shuts the server down
(fast shutdown) and removes the directory.

Fixtures: ``postgres_server`` (one server per test process, i.e. per pytest-xdist worker) and ``postgres_url``
(a database of its own on it). ``PostgresServer.create_database(name)`` gives more databases on the same server.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

SYSTEM_USER = "kysopg"
ROLE = "kyso"


def find_bindir() -> Path:
    """``$KYSO_PG_BINDIR``, else the newest /usr/lib/postgresql/<version>/bin holding ``initdb`` and ``postgres``."""
    env = os.environ.get("KYSO_PG_BINDIR")
    candidates = [Path(env)] if env else sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    for path in candidates:
        if (path / "initdb").is_file() and (path / "postgres").is_file():
            return path
    raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql; or set KYSO_PG_BINDIR)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    proc = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                           "--shell", "/usr/sbin/nologin", name], capture_output=True, text=True)
    if proc.returncode not in (0, 9):  # 9: created meanwhile by another process
        raise RuntimeError(f"useradd {name} failed: {proc.stderr.strip()}")
    return pwd.getpwnam(name)


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory. Use as a context manager or call start()/stop()."""

    def __init__(self, *, max_connections: int = 300, durable: bool = False, bindir: Path | None = None):
        self.bindir = bindir or find_bindir()
        self.max_connections = max_connections
        # Tests do not need crash safety of the *test* cluster: fsync off keeps them quick on shared disks.
        # Commit semantics, locking and isolation are unchanged. The load benchmark runs with durable=True.
        self.durable = durable
        self.port = _free_port()
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._run_as: pwd.struct_passwd | None = None

    # -- life cycle ---------------------------------------------------------------------------------
    def start(self) -> "PostgresServer":
        if os.geteuid() == 0:
            self._run_as = _ensure_system_user(SYSTEM_USER)
        # /tmp (not a root-only pytest tmp dir): the server user must reach it; short, for the socket path
        self.dir = Path(tempfile.mkdtemp(prefix="kysopg-", dir="/tmp" if self._run_as else None))
        data = self.dir / "data"
        if self._run_as:
            os.chown(self.dir, self._run_as.pw_uid, self._run_as.pw_gid)
        os.chmod(self.dir, 0o700)
        self._run([str(self.bindir / "initdb"), "-D", str(data), "-U", ROLE, "-A", "trust", "-E", "UTF8",
                   "--locale=C.UTF-8", "--no-instructions"], timeout=120)
        options = {
            "listen_addresses": "127.0.0.1", "port": str(self.port), "unix_socket_directories": str(self.dir),
            "max_connections": str(self.max_connections), "shared_buffers": "64MB",
            "timezone": "UTC", "log_min_messages": "warning", "logging_collector": "off",
        }
        if not self.durable:
            options.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        args = [str(self.bindir / "postgres"), "-D", str(data)]
        for key, value in options.items():
            args += ["-c", f"{key}={value}"]
        self._log = open(self.dir / "server.log", "ab")
        if self._run_as:
            os.chown(self.dir / "server.log", self._run_as.pw_uid, self._run_as.pw_gid)
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     **self._user_kwargs())
        self._wait_ready()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # "fast" shutdown: roll back sessions, checkpoint, exit
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGQUIT)
                self.proc.wait(10)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- use ----------------------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through the real ``psql`` client (an outside judge); returns unaligned output."""
        proc = subprocess.run([str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "-d", database, "-c", sql],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def create_database(self, name: str) -> str:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name {name!r}: letters, digits and _ only")
        self.psql(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
        return self.url(name)

    def log_text(self) -> str:
        try:
            return (self.dir / "server.log").read_text(errors="replace") if self.dir else ""
        except OSError:
            return ""

    # -- internals ----------------------------------------------------------------------------------
    def _user_kwargs(self) -> dict:
        if self._run_as is None:
            return {}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(self.dir)}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": [], "env": env,
                "cwd": str(self.dir)}

    def _run(self, args: list[str], timeout: int) -> None:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **self._user_kwargs())
        if proc.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr.strip()}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited ({self.proc.returncode}):\n{self.log_text()}")
            ready = subprocess.run([str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1",
                                    "-p", str(self.port), "-U", ROLE], capture_output=True)
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("postgres did not accept connections within 60 s")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """A database of its own on the session's PostgreSQL server, for the PostgreSQL-backed CA."""
    return postgres_server.create_database("kyso")


@pytest.fixture(scope="session")
def pg_instance(settings, instance, postgres_url):  # noqa: ANN001, ANN201
    """A second CA in this test process, stored in PostgreSQL, sharing the session's SoftHSM token (its keys get
    their own labels). ``instance`` first: the token exists and the process environment is set."""
    from dataclasses import replace

    from ca.instance import Instance
    from tests.support import ADMIN_PASSWORD

    inst = Instance.open(replace(settings, database_url=postgres_url))
    inst.initialise(org="Bộ Công an", admin_user="admin", admin_password=ADMIN_PASSWORD, province="Hà Nội")
    yield inst
    inst.store.dispose()


class Cluster:
    """Several ``kyso serve`` nodes (separate gunicorn masters on their own ports) over ONE PostgreSQL database
    and ONE token: the same ``KYSO_HOME`` (SoftHSM config, token directory, PIN file, secret key), as nodes
    behind a load balancer share a network HSM and a database. ``env`` must point at an initialised CA."""

    def __init__(self, env: dict[str, str], nodes: int = 2, workers: int = 2, threads: int = 4):
        from tests.support import LiveServer

        import concurrent.futures

        self.env = env
        self.nodes: list[LiveServer] = []
        # started side by side: each constructor waits until its node answers /api/v1/health
        with concurrent.futures.ThreadPoolExecutor(nodes) as pool:
            futures = [pool.submit(LiveServer, env, workers=workers, threads=threads) for _ in range(nodes)]
            errors = []
            for future in futures:
                try:
                    self.nodes.append(future.result())
                except BaseException as exc:  # noqa: BLE001 - re-raised below after clean-up
                    errors.append(exc)
        if errors:
            self.stop()
            raise errors[0]

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def worker_pids(self) -> dict[str, list[int]]:
        return {n.url: n.worker_pids() for n in self.nodes}

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def init_home(home: Path, database_url: str, *, admin_password: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """``kyso init`` of a fresh instance in ``home`` whose database is ``database_url``; returns its environment."""
    from tests.support import clean_env, run_kyso

    env = clean_env(KYSO_HOME=str(home), KYSO_DATABASE_URL=database_url, **(extra or {}))
    run_kyso("init", "--org", "Bộ Công an", "--province", "Hà Nội", "--admin-password", admin_password,
             env=env, check=True, timeout=300)
    return env
