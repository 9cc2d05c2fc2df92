"""kyso verify FILE.pdf [--json] [--html OUT.html] [--xml OUT.xml]

Exit 0 only when the document is signed and every signature (and document timestamp) is TOTAL_PASSED;
1 otherwise (and when the file is damaged); 2 when it is not a PDF at all.
"""
from __future__ import annotations

from pathlib import Path

import click

from web.cli import emit, main, open_instance


def _text(report: dict) -> str:
    doc = report["document"]
    lines = [f"Tệp / File: sha256 {doc['sha256']}",
             f"Kết luận / Verdict: {doc['verdict']} — {doc['signature_count']} chữ ký / signature(s)"]
    for i, s in enumerate(report["signatures"], 1):
        signer = (s.get("signer") or {}).get("cn") or "?"
        sub = f" / {s['sub_indication']}" if s["sub_indication"] else ""
        lines.append(f"\n[{i}] {signer} — {s['indication']}{sub} — {s['level']}")
        for vi, en in zip(s["messages"]["vi"], s["messages"]["en"]):
            lines.append(f"    {vi}\n      {en}")
    for t in report.get("document_timestamps", []):
        lines.append(f"\n[TS] {t.get('time')} — {t['indication']}")
    d30 = doc["decree30"]
    lines.append("\nĐiều 5 NĐ 30/2020 / Decree 30 Art. 5: " + ("đạt / met" if d30["satisfied"] else "chưa đạt / not met"))
    return "\n".join(lines)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report of POST /api/v1/verify.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the HTML report (to file with the agency's records) here.")
@click.option("--xml", "xml_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the ETSI TS 119 102-2 XML validation report here.")
def verify(file: Path, as_json: bool, html_out: Path | None, xml_out: Path | None) -> None:
    """Verify the signatures of a PDF (the same report as the API)."""
    from signer.verify import Verifier

    inst = open_instance()
    data = file.read_bytes()
    if len(data) > inst.settings.max_upload_bytes:
        from ca.errors import TooLarge

        raise TooLarge(f"{file} is larger than {inst.settings.max_upload_bytes // (1024 * 1024)} MB")
    result = Verifier.for_authority(inst.authority, inst.settings).verify(data, xml=xml_out is not None)
    report = result.report
    if html_out is not None:
        from web.verification import render_report

        html_out.write_text(render_report(report), encoding="utf-8")
    if xml_out is not None:
        xml_out.write_text(result.xml or "", encoding="utf-8")
    emit(report, as_json, _text(report))
    if not report["document"]["all_passed"]:
        raise SystemExit(1)
