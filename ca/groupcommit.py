"""Group commit: concurrent writers in one process share one transaction and one fsync.

Each caller hands over a *job* (a function of the session) and blocks until the transaction holding it has
committed: nothing is acknowledged before it is durable (DESIGN rule 7). The first caller to find no commit in
progress becomes the *leader*: it takes every job waiting (up to ``max_batch``), runs them in order in one
``store.write()`` transaction, commits, hands each job its result and wakes the others; callers that arrived
meanwhile form the next group. No background thread: a process that issues one certificate at a time commits
each alone, exactly as before.

On SQLite the leaders of *different processes* (gunicorn workers, CLI commands) also queue on an advisory
``flock`` beside the database file before ``BEGIN IMMEDIATE``: the kernel wakes the next leader the moment the
lock is free, where SQLite's own busy handler would sleep 1, 2, 5, 10 … ms, and the jobs that arrive while a
leader waits join its group.

If any job of a group raises, the group's transaction is rolled back and every job of the group is run again
alone, in its own transaction, so one bad job never takes another's work down with it and never leaves part of
itself behind. Jobs must therefore be re-runnable: they build their rows inside the function.
"""
from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator


Job = Callable[[Any], Any]  # a function of the transaction's Session (or RawTransaction, with raw=True)


class _Pending:
    __slots__ = ("fn", "done", "result", "error")

    def __init__(self, fn: Job):
        self.fn = fn
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommitter:
    def __init__(self, store: Any, *, max_batch: int = 64, raw: bool = False):
        """``raw=True``: jobs get a ``RawTransaction`` (``store.raw_write()``, prepared statements) instead of an
        ORM ``Session`` (``store.write()``)."""
        self.store = store
        self._transaction = store.raw_write if raw else store.write
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._leading = False
        self.groups = 0  # committed transactions (for benchmarks and tests)
        self.jobs = 0
        self._lock_path = _lock_path(store)
        self._lock_fd: int | None = None
        self._lock_pid = 0

    @contextmanager
    def _between_processes(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        if self._lock_fd is None or self._lock_pid != os.getpid():  # (re)open after fork
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_pid = os.getpid()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def run(self, fn: Job) -> Any:
        """Run ``fn(session)`` in a write transaction shared with concurrent callers; return its result
        once that transaction has committed (or raise its error)."""
        me = _Pending(fn)
        with self._cond:
            self._queue.append(me)
            while True:
                if me.done:
                    break
                if not self._leading:
                    self._leading = True
                    self._cond.release()
                    try:
                        # Wait for the other processes' leaders first, then take the batch: the jobs that
                        # arrived during that wait ride in this transaction.
                        with self._between_processes():
                            with self._cond:
                                batch = self._queue[: self.max_batch]
                                del self._queue[: len(batch)]
                            self._commit_locked(batch)
                    finally:
                        self._cond.acquire()
                        self._leading = False
                        self._cond.notify_all()
                    continue
                self._cond.wait()
        if me.error is not None:
            raise me.error
        return me.result

    def _commit_locked(self, batch: list[_Pending]) -> None:
        try:
            results = []
            with self._transaction() as s:
                for job in batch:
                    results.append(job.fn(s))
        except BaseException as exc:  # noqa: BLE001 - handed to the job(s) that caused it
            if len(batch) == 1:
                batch[0].error, batch[0].done = exc, True
                return
            for job in batch:  # retry each alone: the failure belongs to one of them
                try:
                    with self._transaction() as s:
                        job.result = job.fn(s)
                    self.groups += 1
                    self.jobs += 1
                except BaseException as one:  # noqa: BLE001
                    job.error = one
                job.done = True
            return
        self.groups += 1
        self.jobs += len(batch)
        for job, result in zip(batch, results):
            job.result, job.done = result, True


def _lock_path(store: Any) -> str | None:
    """``<database file>.writers`` for an SQLite file database; ``None`` otherwise (PostgreSQL locks rows)."""
    if not getattr(store, "is_sqlite", False):
        return None
    database = store.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database + ".writers"
