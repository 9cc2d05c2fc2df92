"""kyso init | serve | user add | token create | cert issue/list/show | audit verify | keys list | health"""
from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import click

from web.cli import cli_actor, emit, main, open_instance


@main.command()
@click.option("--org", default="Bộ Công an", show_default=True, help="Organisation name in the CA certificates.")
@click.option("--province", default=None, help="ST in the CA subjects (optional).")
@click.option("--admin-user", default="admin", show_default=True)
@click.option("--admin-password", default=None, help="Generated and written to $KYSO_HOME/admin.password if omitted.")
@click.option("--issuing-algorithm", default="rsa3072", show_default=True,
              type=click.Choice(["rsa3072", "rsa4096", "ec-p384"]))
@click.option("--if-missing", is_flag=True, help="Exit 0 without change when a CA already exists (for `make run`).")
@click.option("--json", "as_json", is_flag=True)
def init(org: str, province: str | None, admin_user: str, admin_password: str | None, issuing_algorithm: str,
         if_missing: bool, as_json: bool) -> None:
    """Create the instance: token, root and issuing CA, OCSP and TSA certificates (keys in the HSM),
    database, first admin. Refuses to overwrite an existing CA."""
    import os

    from ca.instance import Instance, prepare_home
    from ca.settings import Settings

    settings = prepare_home(Settings.from_env())
    inst = Instance.open(settings)
    if if_missing:
        inst.store.migrate()
        if inst.authority.is_initialised():
            emit({"home": str(settings.home), "initialised": True}, as_json,
                 f"kyso: using the existing CA in {settings.home}")
            return
    generated = admin_password is None
    if generated:
        admin_password = secrets.token_urlsafe(12)
    serials = inst.initialise(org=org, province=province, admin_user=admin_user, admin_password=admin_password,
                              issuing_algorithm=issuing_algorithm, actor=cli_actor())
    if generated:
        path = settings.home / "admin.password"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(admin_password + "\n")
    data = {"home": str(settings.home), "serials": serials, "admin": admin_user,
            "admin_password_file": str(settings.home / "admin.password") if generated else None}
    emit(data, as_json, f"kyso: CA initialised in {settings.home}\n"
         f"  root    {serials['root']}\n  issuing {serials['issuing']}\n"
         f"  admin user '{admin_user}'" + (f", password in {settings.home / 'admin.password'}" if generated else ""))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="Processes; each opens the HSM after fork.")
@click.option("--threads", default=4, show_default=True, type=int)
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve kyso with gunicorn (production server)."""
    from ca.errors import Unavailable
    from web.server import run

    # Checked here, in the master, before any worker exists (the master never opens the HSM).
    store = open_instance().store
    current, head = store.schema_revisions()
    store.dispose()  # no pooled connection may be inherited by the workers forked below
    if current != head:
        raise Unavailable(
            f"The database schema is at {current or 'nothing'}, this kyso needs {head}: run `kyso db upgrade` "
            "(or `kyso init` for a new instance)",
            f"Lược đồ cơ sở dữ liệu ở phiên bản {current or 'trống'}, kyso cần {head}: chạy `kyso db upgrade`",
            code="schema_outdated")
    run(host=host, port=port, workers=workers, threads=threads)


@main.group()
def db() -> None:
    """The database schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to this kyso's newest revision (run once after upgrading kyso, on one node)."""
    inst = open_instance()
    before, head = inst.store.schema_revisions()
    inst.store.migrate()
    if before != head and inst.authority.is_initialised():
        with inst.store.write() as s:
            inst.authority.record(s, cli_actor(), "db.upgrade", None, {"from": before, "to": head})
    click.echo(f"kyso: database schema {before or 'empty'} → {head}" if before != head
               else f"kyso: database schema already at {head}")


@main.command()
@click.option("--json", "as_json", is_flag=True)
def health(as_json: bool) -> None:
    """Check the HSM and the database; exit 0 only when both answer."""
    inst = open_instance()
    out = {"hsm": "ok", "database": "ok"}
    for part, check in (("hsm", inst.keystore.health), ("database", inst.store.health)):
        try:
            check()
        except Exception as exc:  # noqa: BLE001
            out[part] = f"error: {exc}"
    emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))
    sys.exit(0 if all(v == "ok" for v in out.values()) else 1)


@main.group()
def user() -> None:
    """Users and roles."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "official", "clerk", "auditor"]))
@click.option("--password", required=True)
@click.option("--full-name", default=None)
@click.option("--org", default=None)
@click.option("--totp-secret", default=None, help="Base32 TOTP secret for signing activation.")
@click.option("--json", "as_json", is_flag=True)
def user_add(name: str, role: str, password: str, full_name: str | None, org: str | None, totp_secret: str | None,
             as_json: bool) -> None:
    """Add a user."""
    from ca.users import create_user

    inst = open_instance()
    with inst.store.write() as s:
        u = create_user(s, name, role, password, full_name=full_name, org=org, totp_secret=totp_secret,
                        clock=inst.authority.clock)
        inst.authority.record(s, cli_actor(), "user.add", name, {"role": role})
        data = {"id": u.id, "username": u.username, "role": u.role}
    emit(data, as_json, f"kyso: user {name} ({role}) added")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("name")
@click.option("--label", default=None, help="A note to recognise the token by.")
def token_create(name: str, label: str | None) -> None:
    """Print a new API token for user NAME (shown once; stored hashed)."""
    from ca.users import create_token

    inst = open_instance()
    with inst.store.write() as s:
        tok = create_token(s, name, label, clock=inst.authority.clock)
        inst.authority.record(s, cli_actor(), "token.create", name, {"prefix": tok[:12]})
    click.echo(tok)


@main.group()
def cert() -> None:
    """Certificates."""


@cert.command("issue")
@click.option("--profile", required=True)
@click.option("--csr", "csr_file", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--keygen", is_flag=True, help="Generate the key inside the HSM (needs --owner).")
@click.option("--algorithm", default="rsa2048", show_default=True,
              type=click.Choice(["rsa2048", "rsa3072", "rsa4096", "ec-p256", "ec-p384"]))
@click.option("--subject-json", "subject_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--owner", default=None)
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None, help="Write the PEM here.")
@click.option("--json", "as_json", is_flag=True)
def cert_issue(profile: str, csr_file: str | None, keygen: bool, algorithm: str, subject_file: str,
               owner: str | None, out: str | None, as_json: bool) -> None:
    """Issue a certificate from a CSR or with a key generated in the HSM."""
    from ca.errors import InvalidInput
    from ca.timeutil import iso_utc

    try:
        subject = json.loads(Path(subject_file).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{subject_file} is not valid JSON: {exc}", f"{subject_file} không phải JSON hợp lệ",
                           code="invalid_json") from None
    if bool(csr_file) == keygen:
        raise InvalidInput("Give --csr FILE or --keygen (one of them)", "Dùng --csr FILE hoặc --keygen (một trong hai)",
                           code="csr_or_keygen")
    inst = open_instance()
    issued = inst.authority.issue(profile=profile, subject=subject,
                                  csr=Path(csr_file).read_bytes() if csr_file else None,
                                  keygen=algorithm if keygen else None, owner=owner, actor=cli_actor())
    if out:
        Path(out).write_text(issued.pem, encoding="utf-8")
    data = {"serial": issued.serial, "not_before": iso_utc(issued.not_before), "not_after": iso_utc(issued.not_after),
            "status": issued.status, "pem": issued.pem}
    emit(data, as_json, issued.serial if out else issued.pem.rstrip())


@cert.command("list")
@click.option("--status", type=click.Choice(["valid", "revoked", "expired"]), default=None)
@click.option("--q", default=None, help="Search the subject CN or the serial.")
@click.option("--limit", default=100, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def cert_list(status: str | None, q: str | None, limit: int, as_json: bool) -> None:
    """List certificates."""
    from ca.authority import cert_status
    from ca.timeutil import iso_vn

    inst = open_instance()
    rows = inst.authority.search(status=status, q=q, limit=limit)
    now = inst.authority.clock()
    data = [{"serial": r.serial, "profile": r.profile, "subject": r.subject_cn, "status": cert_status(r, now),
             "not_after": iso_vn(r.not_after)} for r in rows]
    emit(data, as_json, "\n".join(f"{d['serial']}  {d['status']:<8} {d['profile']:<9} {d['not_after']}  {d['subject']}"
                                 for d in data) or "(none)")


@cert.command("show")
@click.argument("serial")
@click.option("--json", "as_json", is_flag=True)
def cert_show(serial: str, as_json: bool) -> None:
    """Show one certificate."""
    from ca.authority import certificate_json

    inst = open_instance()
    data = certificate_json(inst.authority.get(serial), inst.authority.clock())
    text = "\n".join(f"{k}: {v}" for k, v in data.items() if k != "pem") + "\n" + data["pem"].rstrip()
    emit(data, as_json, text)


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True)
def audit_verify(as_json: bool) -> None:
    """Check the audit log's hash chain and HSM-signed checkpoints; exit 0 only when intact."""
    from ca import audit as audit_mod

    inst = open_instance()
    key = inst.authority.audit_key()
    with inst.store.read() as s:
        report = audit_mod.verify(s, key.public_key() if key is not None else None)
    data = {"ok": report.ok, "events": report.events, "checkpoints": report.checkpoints,
            "problems": [{"seq": seq, "problem": text} for seq, text in report.problems]}
    if as_json:
        emit(data, True)
    elif report.ok:
        click.echo(f"kyso: audit log intact — {report.events} events, {report.checkpoints} signed checkpoints")
    else:
        for seq, text in report.problems:
            click.echo(f"kyso: audit row {seq}: {text}", err=True)
    sys.exit(0 if report.ok else 1)


@main.group()
def keys() -> None:
    """Keys in the HSM."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
def keys_list(as_json: bool) -> None:
    """List the private keys in the token with their protection attributes."""
    inst = open_instance()
    infos = inst.keystore.list_keys()
    data = [i.__dict__ for i in infos]
    emit(data, as_json, "\n".join(
        f"{i.label:<40} {i.algorithm:<8} sensitive={i.sensitive} never_extractable={i.never_extractable}"
        for i in infos) or "(no keys)")


@main.group("ca")
def ca_group() -> None:
    """The CA's own certificates."""


@ca_group.command("renew")
@click.argument("role", type=click.Choice(["ocsp", "tsa"]))
@click.option("--algorithm", type=click.Choice(["ec-p256", "ec-p384", "rsa3072", "rsa4096"]),
              help="Key algorithm of the new key (default: the current key's).")
@click.option("--json", "as_json", is_flag=True)
def ca_renew(role: str, algorithm: str | None, as_json: bool) -> None:
    """Renew the OCSP responder or TSA certificate: a new key in the HSM (new label) certified by the issuing CA,
    same subject. The old certificate and key stay (what they signed stays verifiable); every kyso process switches
    within KYSO_CA_RELOAD_SECONDS (default 60). Renew at ~80 % of the certificate's lifetime."""
    inst = open_instance()
    out = inst.authority.renew(role, actor=cli_actor(), algorithm=algorithm)
    emit(out, as_json, f"kyso: {role} certificate renewed: serial {out['serial']} (was {out['previous']}), "
                       f"key {out['label']} ({out['algorithm']}), valid until {out['not_after']}")


@ca_group.command("status")
@click.option("--json", "as_json", is_flag=True)
def ca_status(as_json: bool) -> None:
    """The root, issuing, OCSP and TSA certificates: validity and share of lifetime used. Exit 0 when none is due;
    1 when one has used 80 % of its lifetime (renew it) or expired — run it daily from cron and alert on 1."""
    inst = open_instance()
    rows = inst.authority.ca_status()
    emit(rows, as_json, "\n".join(
        f"{r['role']:<8} {r['state']:<8} {r['used_percent']:5.1f} % used, valid until {r['not_after'][:10]}"
        + (f" — renew: {r['renew_with']}" if r["state"] != "ok" else "") for r in rows))
    sys.exit(0 if all(r["state"] == "ok" for r in rows) else 1)
