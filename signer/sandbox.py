"""Bounded verification: every document is verified in a worker *process* that is killed when it overruns.

Why processes: a PDF can be built to make a parser loop or blow up (circular references, decompression bombs,
deep nesting). A Python thread cannot be stopped from outside, a process can. Each web worker keeps a small
pool of verification processes forked from a ``forkserver`` (a clean interpreter: no inherited PKCS#11 session, no
database connections, no threads; the verification modules preloaded once, so a new process is ready at once); they never touch the HSM, read kyso's records through their own database
connection, and live for many documents. A job that does not answer within ``timeout`` seconds gets its
process SIGKILLed and replaced, and the caller gets a 4xx ``verification_timeout``; an address-space limit
(``memory_mb``) turns a memory bomb into a ``MemoryError`` in the child instead of trouble for the server.
"""
from __future__ import annotations

import atexit
import datetime as dt
import logging
import multiprocessing
import queue
import threading
import time
from typing import Any

from ca.errors import KysoError, Unavailable

log = logging.getLogger("kyso.verify")


class VerifyTimeout(KysoError):
    code = "verification_timeout"
    kind = "unprocessable"
    vi = "Không xác thực xong tài liệu trong thời gian cho phép; tệp có thể bị hỏng hoặc được tạo bất thường."
    en = "The document could not be verified within the time allowed; the file may be damaged or crafted."


class VerifyFailed(KysoError):
    code = "verification_failed"
    kind = "unprocessable"
    vi = "Không xác thực được tài liệu này; tệp có thể bị hỏng."
    en = "This document could not be verified; the file may be damaged."


class VerifyBusy(Unavailable):
    code = "verification_busy"
    vi = "Dịch vụ xác thực đang bận, vui lòng thử lại sau ít phút."
    en = "The verification service is busy; try again shortly."


def _child(conn: Any, settings: Any, memory_mb: int) -> None:  # runs in the worker process
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    from ca.authority import Authority
    from ca.store import Store
    from signer.trust import TrustSet
    from signer.verify import Verifier

    authority = Authority(settings, Store(settings.database_url), None)
    verifier = None
    conn.send(("ready",))
    while True:
        try:
            data, moment, xml = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            if verifier is None or verifier.trust.versions != TrustSet.versions_of(authority):  # a role renewed
                verifier = Verifier.for_authority(authority, settings)
            result = verifier.verify(data, moment=moment, xml=xml)
            reply = ("ok", result.report, result.xml)
        except KysoError as exc:
            reply = ("error", exc.code, exc.kind, exc.vi_message, exc.en_message)
        except MemoryError:
            reply = ("error", "verification_too_costly", "unprocessable",
                     "Tài liệu cần quá nhiều bộ nhớ để xác thực.", "The document needs too much memory to verify.")
        except Exception as exc:  # noqa: BLE001 - a verdict or a 4xx, never a trace to the caller
            log.exception("verification crashed")
            reply = ("crash", f"{type(exc).__name__}: {exc}"[:300])
        del data
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


# What every verification process needs, imported once by the fork server (a clean interpreter started like
# ``spawn``: no PKCS#11, no database connection, no threads) and shared copy-on-write by the processes forked from
# it. A new or replacement worker is then ready in milliseconds instead of ~0.8 s of CPU for the imports.
_PRELOAD = ["signer.verify", "signer.report_xml", "ca.authority", "ca.store"]


def _context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


class _Worker:
    def __init__(self, ctx: Any, settings: Any, memory_mb: int):
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(child_conn, settings, memory_mb), daemon=True,
                                name="kyso-verify")
        self.proc.start()
        child_conn.close()
        self.ready = False

    def wait_ready(self, timeout: float) -> bool:
        if not self.ready and self.conn.poll(timeout):
            try:
                self.ready = self.conn.recv() == ("ready",)
            except (EOFError, OSError):
                return False
        return self.ready

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.join(5)
        except (OSError, ValueError):
            pass
        self.conn.close()


class VerifyPool:
    """``size`` verification processes, started on first use; thread-safe."""

    def __init__(self, settings: Any, *, size: int = 2, timeout: float = 10.0, memory_mb: int = 1536,
                 start_timeout: float = 60.0):
        self.settings = settings
        self.size = max(1, size)
        self.timeout = float(timeout)
        self.memory_mb = memory_mb
        self.start_timeout = start_timeout
        self._ctx = _context()
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._count = 0
        self._lock = threading.Lock()
        self._all: set[_Worker] = set()
        atexit.register(self.close)

    def _acquire(self) -> _Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            grow = self._count < self.size
            if grow:
                self._count += 1
        if grow:
            worker = _Worker(self._ctx, self.settings, self.memory_mb)
            self._all.add(worker)
            if not worker.wait_ready(self.start_timeout):
                self._discard(worker)
                raise VerifyBusy("A verification process did not start", "Không khởi động được tiến trình xác thực")
            return worker
        try:
            return self._idle.get(timeout=self.timeout)
        except queue.Empty:
            raise VerifyBusy() from None

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        self._all.discard(worker)
        with self._lock:
            self._count -= 1

    def verify(self, data: bytes, *, moment: dt.datetime | None = None, xml: bool = False) -> Any:
        from signer.verify import Verification

        worker = self._acquire()
        started = time.monotonic()
        try:
            worker.conn.send((data, moment, xml))
            if not worker.conn.poll(self.timeout):
                log.warning("verification overran %.1f s: worker %s killed", self.timeout, worker.proc.pid)
                self._discard(worker)
                raise VerifyTimeout()
            reply = worker.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            # the process died (e.g. killed by the OS for memory): its document is the suspect
            self._discard(worker)
            raise VerifyFailed() from None
        except BaseException:
            if worker in self._all and worker.proc.is_alive() and time.monotonic() - started < self.timeout:
                self._discard(worker)  # interrupted mid-protocol: never reuse
            raise
        self._idle.put(worker)
        if reply[0] == "ok":
            return Verification(reply[1], reply[2])
        if reply[0] == "error":
            _, code, kind, vi, en = reply
            raise KysoError(en, vi, code=code, kind=kind)
        log.error("verification crashed in worker: %s", reply[1])
        raise VerifyFailed()

    def close(self) -> None:
        for worker in list(self._all):
            worker.kill()
        self._all.clear()
        self._count = 0
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break
