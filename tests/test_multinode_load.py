"""`python -m bench load` runs for real (briefly): two nodes on PostgreSQL and the single-node SQLite peer, every
operation of the mix answered correctly (0 errors), no repeated serial, the audit chain intact, and the report
carries throughput, p50/p99 per operation and the RSS of every worker."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT, clean_env


def test_load_benchmark_runs_the_mix_on_two_nodes_with_no_error(tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "load.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "load", "--duration", "5", "--peer-duration", "2",
                           "--clients", "4", "--json", str(out)],
                          cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert set(data) == {"2 nodes, PostgreSQL", "1 node, SQLite"}
    for phase in data.values():
        assert phase["errors"] == 0 and phase["duplicates"] == 0 and phase["audit_exit"] == 0
        for op in ("sign", "verify", "ocsp", "issue"):
            assert phase["ops"][op]["n"] > 0, (op, phase["ops"])
            assert 0 < phase["ops"][op]["p50"] <= phase["ops"][op]["p99"]
    assert len(data["2 nodes, PostgreSQL"]["rss_kib"]) == 4  # 2 nodes × 2 workers
    assert all(start > 0 and end for start, end in data["2 nodes, PostgreSQL"]["rss_kib"].values())
    for heading in ("ops/s", "p50 ms", "p99 ms", "errors", "ratio", "growth MiB"):
        assert heading in proc.stdout
