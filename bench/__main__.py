"""``python -m bench <name> [options]`` runs bench/<name>.py's ``main(argv)``; ``all`` runs every benchmark.

Benchmarks are measurements, not tests: each runs its peer (raw pyHanko, openssl, endesive, pdfsig …) side by
side in the same run and prints a table with ratios. See docs/performance.md for the numbers and commands.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_") and m.name != "common")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = available()
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m bench {" + "|".join(names + ["all"]) + "} [options]")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "all":
        code = 0
        for each in names:
            print(f"\n=== bench {each} ===", flush=True)
            code |= importlib.import_module(f"bench.{each}").main(rest) or 0
        return code
    if name not in names:
        print(f"bench: unknown benchmark {name!r} (have: {', '.join(names)})", file=sys.stderr)
        return 2
    return importlib.import_module(f"bench.{name}").main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
