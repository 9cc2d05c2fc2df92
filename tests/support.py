"""Helpers shared by the tests: running the real `kyso` command, free ports, a live gunicorn server."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
KYSO = str(Path(sys.executable).with_name("kyso"))
ADMIN_PASSWORD = "quan-tri-vien-1"


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any KYSO_* / SOFTHSM2_CONF of the caller, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_") and k != "SOFTHSM2_CONF"}
    env.update(extra)
    return env


def run_kyso(*args: str, env: dict[str, str], input: str | None = None, timeout: int = 120,
             check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run([KYSO, *args], env=env, capture_output=True, text=True, input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kyso {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`kyso serve` (gunicorn, process workers) on 127.0.0.1:<free port>."""

    def __init__(self, env: dict[str, str], workers: int = 2, threads: int = 4):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(env["KYSO_HOME"]) / f"serve-{self.port}.log"
        self._fh = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [KYSO, "serve", "--port", str(self.port), "--workers", str(workers), "--threads", str(threads)],
            env=env, stdout=self._fh, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"kyso serve exited:\n{self.log.read_text(errors='replace')}")
            try:
                if requests.get(self.url + "/api/v1/health", timeout=2).status_code in (200, 503):
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise AssertionError("kyso serve did not answer within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._fh.close()

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]


def auth(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}
