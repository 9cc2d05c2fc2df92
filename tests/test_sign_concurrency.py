"""Concurrent signatures in one process share group commits (``ca.groupcommit``) and still each leave their
own committed SignatureRecord and audit event before returning, on an intact audit chain; TOTP activation
through the same committer still lets a code work only once."""
from __future__ import annotations

import concurrent.futures
import hashlib
import threading

from sqlalchemy import func, select

from ca import audit
from ca.store.models import AuditEvent, SignatureRecord, User
from signer import errors, service
from signer.service import SignOptions, sign_pdf
from tests.pdf_factory import make_pdf
from tests.sign_support import make_official, without_activation

THREADS = 6
PER_THREAD = 4


def test_concurrent_signatures_are_all_recorded_and_audited(instance) -> None:  # noqa: ANN001
    official = make_official(instance, image=False)
    inst = without_activation(instance)
    pdfs = [make_pdf(1, title=f"Cong van so {i}/2026") for i in range(THREADS * PER_THREAD)]
    committer = service.committer(instance.store)
    jobs_before = committer.jobs
    start = threading.Barrier(THREADS)
    seen: list[tuple[str, str, bool]] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        start.wait()
        for i in range(t * PER_THREAD, (t + 1) * PER_THREAD):
            level = "B-LT" if i % 3 == 0 else "B-B"
            out = sign_pdf(inst, official.username, pdfs[i], SignOptions(level=level))
            doc_sha, signed_sha = hashlib.sha256(pdfs[i]).hexdigest(), hashlib.sha256(out).hexdigest()
            with instance.store.read() as s:  # committed before sign_pdf returned: visible to a new transaction
                present = s.execute(select(func.count()).select_from(SignatureRecord).where(
                    SignatureRecord.signed_sha256 == signed_sha)).scalar_one() == 1
            with lock:
                seen.append((doc_sha, signed_sha, present))

    with concurrent.futures.ThreadPoolExecutor(THREADS) as ex:
        list(ex.map(work, range(THREADS)))

    assert len(seen) == THREADS * PER_THREAD and all(present for *_, present in seen)
    assert committer.jobs - jobs_before == THREADS * PER_THREAD
    with instance.store.read() as s:
        events = s.execute(select(AuditEvent).where(AuditEvent.action == "sign.pdf",
                                                    AuditEvent.actor == official.username)).scalars().all()
        by_signed = {e.details["signed_sha256"]: e for e in events}
        for doc_sha, signed_sha, _ in seen:
            assert by_signed[signed_sha].details["document_sha256"] == doc_sha
            assert by_signed[signed_sha].target == doc_sha
        records = s.execute(select(SignatureRecord.signed_sha256).where(
            SignatureRecord.signed_sha256.in_(list(by_signed)))).scalars().all()
        assert sorted(records) == sorted(signed for _, signed, _ in seen)
        report = audit.verify(s)
    assert report.ok, report.problems
    seqs = sorted(e.seq for e in events)
    assert len(set(seqs)) == len(seqs)


def test_one_totp_code_signs_once_under_concurrency(instance) -> None:  # noqa: ANN001
    official = make_official(instance, image=False)
    code = official.otp(instance)
    pdf = make_pdf(1)
    start = threading.Barrier(4)

    def attempt(_: int) -> str:
        start.wait()
        try:
            sign_pdf(instance, official.username, pdf, SignOptions(level="B-B"), otp=code)
            return "signed"
        except errors.KysoError as exc:
            return exc.code

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        outcomes = sorted(ex.map(attempt, range(4)))
    assert outcomes == ["otp_reused"] * 3 + ["signed"], outcomes
    with instance.store.read() as s:
        events = s.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "sign.pdf", AuditEvent.actor == official.username)).scalar_one()
        records = s.execute(select(func.count()).select_from(SignatureRecord).join(
            User, User.id == SignatureRecord.user_id).where(User.username == official.username)).scalar_one()
    assert events == 1 and records == 1
