"""``kyso bench NAME [options]`` — the same as ``python -m bench NAME [options]`` (docs/performance.md)."""
from __future__ import annotations

import sys

import click

from web.cli import main


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("name", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(name: str | None, args: tuple[str, ...]) -> None:
    """Run a benchmark: hsm, issue, crl, ocsp, tsa, sign, verify, load, or all."""
    from bench.__main__ import main as bench_main

    sys.exit(bench_main([name, *args] if name else []))
