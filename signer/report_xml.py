"""The ETSI TS 119 102-2 validation report (XML), built with pyHanko's report tools from kyso's verdict.

pyHanko's public ``generate_report`` takes one signature; a document may carry several, so the report is
assembled from the same building blocks (``_generate_report``/``_package_validation_object`` of
``pyhanko.sign.validation.report.tools``, pyHanko 0.38) into one ``ValidationReport`` with one
``SignatureValidationReport`` per signature and the certificates involved as validation objects.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESPassed
from pyhanko.sign.validation.ades import AdESBasicValidationResult, AdESWithTimeValidationResult, ValidationObjectSet
from pyhanko.sign.validation.report import tools
from pyhanko_certvalidator.ltv.poe import ValidationObject, ValidationObjectType


def subindication(indication: str, sub: str | None) -> Any:
    if indication == "TOTAL_PASSED":
        return AdESPassed.OK
    enum = AdESFailure if indication == "TOTAL_FAILED" else AdESIndeterminate
    try:
        return enum[sub or ""]
    except KeyError:
        return AdESFailure.FORMAT_FAILURE if indication == "TOTAL_FAILED" else AdESIndeterminate.GENERIC


def _result(facts: Any) -> AdESBasicValidationResult:
    certs = []
    if facts.path is not None:
        certs = list(facts.path.iter_certs(include_root=True))
    elif facts.signer_cert is not None:
        certs = [facts.signer_cert]
    objects = ValidationObjectSet([ValidationObject(object_type=ValidationObjectType.CERTIFICATE, value=c)
                                   for c in certs])
    sub = subindication(facts.indication, facts.sub_indication)
    failure = "; ".join(facts.messages["en"][1:]) if facts.indication != "TOTAL_PASSED" else None
    if facts.poe is not None:
        return AdESWithTimeValidationResult(ades_subindic=sub, api_status=facts.status, failure_msg=failure,
                                            validation_objects=objects, best_signature_time=facts.poe,
                                            signature_not_before_time=None)
    return AdESBasicValidationResult(ades_subindic=sub, api_status=facts.status, failure_msg=failure,
                                     validation_objects=objects)


def etsi_report(results: list[Any], moment: dt.datetime) -> str:
    """XML for every signature that could be parsed (a signature whose CMS cannot be read has nothing to
    identify it by in TS 119 102-2 and is left out; the JSON report still lists it)."""
    from xsdata.formats.dataclass.serializers import XmlSerializer
    from xsdata.formats.dataclass.serializers.config import SerializerConfig

    reports, objects, seen = [], [], set()
    for facts in results:
        if facts.status is None or facts.embedded is None:
            continue
        res = _result(facts)
        reports.append(tools._generate_report(facts.embedded, res))
        for vo in res.validation_objects:
            ident = tools.derive_validation_object_identifier(vo)
            if ident not in seen:
                seen.add(ident)
                objects.append(tools._package_validation_object(vo))
    report = tools.ts_11910202.ValidationReport(
        signature_validation_report=tuple(reports),
        signature_validation_objects=tools.ts_11910202.ValidationObjectListType(tuple(objects)),
    )
    return XmlSerializer(config=SerializerConfig(indent="  ")).render(report, ns_map=tools.NAMESPACES)
