"""The ``kyso`` command. Each capability adds its commands in its own module of this package.

Every command: ``--help``; exit 0 on success; on failure one clear line on stderr and a non-zero exit
(domain, HSM and settings errors never show a stack trace).
"""
from __future__ import annotations

import importlib
import json as jsonlib
import os
import pwd
import socket
import sys
from typing import Any

import click

from ca.errors import KysoError
from ca.settings import SettingsError
from hsm.errors import HsmError

_MODULES = ("web.cli.admin", "web.cli.revocation", "web.cli.signing", "web.cli.verification", "web.cli.bench")


def cli_actor() -> str:
    """Who ran this command, for the audit log: ``cli:<account>@<host>``, the operating-system account of the
    process's real user id, and the account that invoked sudo when there is one (``cli:alice(sudo root)@node1``).
    The CLI's authority is access to ``$KYSO_HOME`` and the token PIN; this names the operator who used it."""
    try:
        account = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        account = f"uid{os.getuid()}"
    invoker = os.environ.get("SUDO_USER")
    who = f"{invoker}(sudo {account})" if invoker and invoker != account else account
    return f"cli:{who}@{socket.gethostname()}"[:64]


class KysoGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (KysoError, HsmError) as exc:
            vi = getattr(exc, "vi_message", "")
            click.echo(f"kyso: {exc} — {vi}" if vi else f"kyso: {exc}", err=True)
            ctx.exit(2 if getattr(exc, "kind", "") in ("invalid", "not_found", "conflict") else 1)
        except SettingsError as exc:
            click.echo(f"kyso: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("kyso: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=KysoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kyso", prog_name="kyso")
def main() -> None:
    """kyso — certificate authority on an HSM, PAdES signing and verification (ký số)."""


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(jsonlib.dumps(data, ensure_ascii=False, indent=2, default=str))
    elif text is not None:
        click.echo(text)


def open_instance() -> Any:
    from ca.instance import Instance

    return Instance.open()


for _name in _MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as _exc:  # a capability not installed in this build
        if _exc.name != _name:
            raise

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
