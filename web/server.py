"""``kyso serve``: gunicorn with process workers. The master never touches the HSM; each worker builds the
app (and so opens PKCS#11) after fork (no ``preload_app``). See docs/architecture.md."""
from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class KysoServer(BaseApplication):
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from web.app import create_app

        return create_app()


def on_starting(server: Any) -> None:
    server.log.info("kyso: serving on http://%s", server.cfg.bind[0])


def run(*, host: str = "127.0.0.1", port: int = 8080, workers: int = 2, threads: int = 4) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "preload_app": False,
        "timeout": 120,
        "graceful_timeout": 10,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "limit_request_line": 8190,
        "on_starting": on_starting,
        # gunicorn ≥ 23's control socket lives at one fixed path per user; several kyso nodes on one host would
        # fight over it, and kyso does not use it.
        "control_socket_disable": True,
    }
    KysoServer(options).run()
