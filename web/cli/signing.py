"""kyso sign FILE.pdf… --as NAME [--level B-LT] [--appearance …] [--otp CODE] -o DIR

Batch signing on the server (e.g. an agency's automated seal), with the same rules as the API
(signer.service): one activation for the whole batch, all or nothing, a progress bar on stderr.
"""
from __future__ import annotations

import os
from pathlib import Path

import click

from web.cli import emit, main, open_instance


@main.command("sign")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "username", required=True, help="The official or clerk who signs.")
@click.option("--level", default="B-LT", show_default=True, type=click.Choice(["B-B", "B-T", "B-LT", "B-LTA"]))
@click.option("--appearance", default="none", show_default=True,
              type=click.Choice(["none", "signer", "seal", "attachment", "copy"]))
@click.option("--page", type=int, default=None, help="Page (1 = first) for signer/seal appearances.")
@click.option("--box", default=None, help="x1,y1,x2,y2 in points.")
@click.option("--reason", default=None)
@click.option("--location", default=None)
@click.option("--doc-number", default=None, help="Số và ký hiệu, for --appearance attachment.")
@click.option("--copy-form", default=None, help="SAO Y | SAO LỤC | TRÍCH SAO, for --appearance copy.")
@click.option("--certify", is_flag=True, help="Certification signature (DocMDP).")
@click.option("--lock", is_flag=True, help="Lock the document after this signature.")
@click.option("--certificate", default=None, help="Serial of the certificate to use (default: the newest valid).")
@click.option("--otp", default=None, help="The signer's current TOTP code (when signing activation is on).")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the signed files (<name>-signed.pdf).")
@click.option("--json", "as_json", is_flag=True)
def sign(files: tuple[Path, ...], username: str, level: str, appearance: str, page: int | None, box: str | None,
         reason: str | None, location: str | None, doc_number: str | None, copy_form: str | None, certify: bool,
         lock: bool, certificate: str | None, otp: str | None, outdir: Path, as_json: bool) -> None:
    """Sign PDF files with a key in the HSM: one activation, a progress bar, all or nothing."""
    from tqdm import tqdm

    from signer.service import options_from_form, sign_batch

    options = options_from_form({"level": level, "appearance": appearance, "page": page, "box": box,
                                 "reason": reason, "location": location, "doc_number": doc_number,
                                 "copy_form": copy_form, "certify": certify, "lock": lock,
                                 "certificate": certificate})
    datas = [f.read_bytes() for f in files]
    inst = open_instance()
    bars: list = []

    def progress(n: int) -> None:  # the bar appears once every check and the activation passed
        if not bars:
            bars.append(tqdm(total=len(files), unit="file", desc="ký số", disable=as_json,
                             file=click.get_text_stream("stderr"), dynamic_ncols=True))
        bars[0].update(n - bars[0].n)

    try:
        signed = sign_batch(inst, username, datas, options, otp=otp, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for src, pdf in zip(files, signed):
        target = outdir / f"{src.stem}-signed.pdf"
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(pdf)
        os.replace(tmp, target)
        written.append(str(target))
    emit({"signed": written, "level": options.level, "signer": username}, as_json,
         f"kyso: {len(written)} file(s) signed ({options.level}) into {outdir}")
