"""kyso cert revoke | cert release-hold | crl publish | crl show"""
from __future__ import annotations

import sys
from typing import Any

import click

from web.cli import cli_actor, emit, main, open_instance
from web.cli.admin import cert

_REASONS = ["unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
            "cessationOfOperation", "certificateHold", "privilegeWithdrawn"]


@cert.command("revoke")
@click.argument("serial", required=False)
@click.option("--reason", required=True, type=click.Choice(_REASONS), help="RFC 5280 reason.")
@click.option("--invalidity-date", default=None,
              help="When the key is known or suspected to have been compromised (ISO 8601, e.g. 2026-11-20T09:00+07:00).")
@click.option("--from-file", "from_file", type=click.File("r", encoding="utf-8"),
              help="Revoke every serial in FILE (one per line, '#' starts a comment; '-' reads stdin) instead of SERIAL.")
@click.option("--json", "as_json", is_flag=True)
def cert_revoke(serial: str | None, reason: str, invalidity_date: str | None, from_file: Any, as_json: bool) -> None:
    """Revoke certificate SERIAL (hex); the CRLs are re-issued at once. With --from-file, a batch (an incident):
    each certificate is revoked and audited on its own, a failure (unknown, already revoked) is reported and the
    rest go on, and the CRLs are published once at the end; exit 1 if any failed."""
    from ca.revocation import revoke
    from ca.timeutil import iso_vn
    import datetime as dt

    if (serial is None) == (from_file is None):
        raise click.UsageError("give either SERIAL or --from-file")
    inst = open_instance()
    if from_file is None:
        out = revoke(inst.authority, serial, reason, invalidity_date=invalidity_date, actor=cli_actor())
        when = iso_vn(dt.datetime.fromisoformat(out["revoked_at"].replace("Z", "+00:00")))
        emit(out, as_json, f"kyso: certificate {out['serial']} revoked ({reason}) at {when}; CRL #{out['crl_number']}")
        return
    _revoke_batch(inst, from_file, reason, invalidity_date, as_json)


def _revoke_batch(inst: Any, lines: Any, reason: str, invalidity_date: str | None, as_json: bool) -> None:
    from ca.errors import KysoError
    from ca.revocation import revoke

    actor = cli_actor()
    revoked, failed = [], []
    for number, line in enumerate(lines, 1):
        serial = line.split("#", 1)[0].strip()
        if not serial:
            continue
        try:
            revoked.append(revoke(inst.authority, serial, reason, invalidity_date=invalidity_date, actor=actor,
                                  publish=False)["serial"])
        except KysoError as exc:
            failed.append({"line": number, "serial": serial, "error": exc.code, "message": exc.en_message,
                           "message_vi": exc.vi_message})
    published = _publish(inst, actor, revoked=len(revoked)) if revoked else []
    out = {"revoked": revoked, "failed": failed, "crls": published}
    emit(out, as_json, "\n".join(
        [f"kyso: {len(revoked)} certificate(s) revoked ({reason}), {len(failed)} failed"]
        + [f"  line {f['line']}: {f['serial']}: {f['message']} — {f['message_vi']}" for f in failed]
        + [f"  {d['file']} #{d['number']} ({d['entries']} entries)" for d in published]))
    sys.exit(1 if failed else 0)


@cert.command("release-hold")
@click.argument("serial")
@click.option("--json", "as_json", is_flag=True)
def cert_release_hold(serial: str, as_json: bool) -> None:
    """Lift a certificateHold: SERIAL is valid again (the delta CRL says removeFromCRL)."""
    from ca.revocation import release_hold

    inst = open_instance()
    out = release_hold(inst.authority, serial, actor=cli_actor())
    emit(out, as_json, f"kyso: hold on {out['serial']} released; CRL #{out['crl_number']}")


@main.group()
def crl() -> None:
    """Certificate revocation lists."""


def _describe(published) -> dict:  # noqa: ANN001
    from ca.timeutil import iso_vn

    return {"file": published.file_name, "number": published.number, "delta_base": published.delta_base,
            "entries": published.entries, "this_update": iso_vn(published.this_update),
            "next_update": iso_vn(published.next_update), "bytes": len(published.der)}


def _publish(inst: Any, actor: str, **details: Any) -> list[dict]:
    """A fresh full CRL, delta and ARL, audited as ``crl.publish`` (their numbers, plus ``details``)."""
    from ca import crl as crl_mod

    data = [_describe(p) for p in crl_mod.publish_all(inst.authority)]
    with inst.store.write() as s:
        inst.authority.record(s, actor, "crl.publish", None, {**{d["file"]: d["number"] for d in data}, **details})
    return data


@crl.command("publish")
@click.option("--json", "as_json", is_flag=True)
def crl_publish(as_json: bool) -> None:
    """Make a fresh full CRL, delta CRL and root ARL now (also written to $KYSO_HOME/crl/). Run it from cron
    as often as you like; serving re-issues lazily before nextUpdate as well."""
    data = _publish(open_instance(), cli_actor())
    emit(data, as_json, "\n".join(
        f"kyso: {d['file']:<18} #{d['number']:<6} {d['entries']} entries, next update {d['next_update']}"
        for d in data))


@crl.command("show")
@click.option("--json", "as_json", is_flag=True)
def crl_show(as_json: bool) -> None:
    """The current CRLs (re-issued first if missing or near nextUpdate)."""
    from ca import crl as crl_mod

    inst = open_instance()
    data = [_describe(crl_mod.current(inst.authority, role, delta))
            for role, delta in (("issuing", False), ("issuing", True), ("root", False))]
    emit(data, as_json, "\n".join(
        f"{d['file']:<18} #{d['number']:<6} {d['entries']} entries, next update {d['next_update']}" for d in data))
