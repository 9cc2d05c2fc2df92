"""Several processes (the gunicorn workers of several nodes) open the ONE shared token at the same moment.

SoftHSM2's file store rewrites ``token.object`` at every ``C_Login``; a process reading it at that instant found "no
token" (NoSuchToken, sometimes GeneralError) and kept that view until it re-initialised the module, so a worker
answered 503 for its whole life. Seen with two nodes of two workers each on their first requests. Each process here
is a fresh interpreter (spawned, like a worker that initialises PKCS#11 after start) and opens its session at the
same instant as the others.
"""
from __future__ import annotations

import multiprocessing as mp
from typing import Any


def _open_at_once(settings: Any, label: str, barrier: Any, results: Any) -> None:
    store = settings.keystore()
    barrier.wait(timeout=120)
    try:
        store.health()
        store.public_key(label)
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported by the test
        results.put(f"{type(exc).__name__}: {exc}")


def test_many_processes_log_in_to_the_shared_token_at_once(instance, settings) -> None:  # noqa: ANN001
    label = instance.authority._load_ca("issuing")[2]
    ctx = mp.get_context("spawn")
    procs, rounds = 4, 5
    outcomes: list[str] = []
    for _ in range(rounds):
        barrier, results = ctx.Barrier(procs), ctx.Queue()
        children = [ctx.Process(target=_open_at_once, args=(settings, label, barrier, results))
                    for _ in range(procs)]
        for c in children:
            c.start()
        outcomes += [results.get(timeout=120) for _ in children]
        for c in children:
            c.join(30)
    failures = [o for o in outcomes if o != "ok"]
    assert failures == [] and len(outcomes) == procs * rounds
