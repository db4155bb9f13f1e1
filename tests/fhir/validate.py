#!/usr/bin/env python3
"""Validates FHIR R4 JSON files written by Mestring, independently of the
Rust code that wrote them.

Usage: validate.py FILE...

Each file must parse as an R4 (4.0.1) resource with `fhir.resources` 6.2.2
(pydantic models generated from the HL7 R4 definitions: required elements,
value types, cardinality, and no unknown elements). On top of the models,
the invariants the models do not check:

* qrs-1: a QuestionnaireResponse item has answers or sub-items, not both;
* obs-6: an Observation has `dataAbsentReason` only without a value;
* a collection Bundle's `derivedFrom` references resolve inside the bundle;
* no resource carries a `subject`, `identifier` or `patient` (the export
  never identifies the person).

Exits 0 when every file passes; otherwise prints each problem and exits 1.
Install the validator with: pip install -r tests/fhir/requirements.txt
"""

import json
import sys

try:
    import fhir.resources
    from fhir.resources import construct_fhir_element
except ImportError:
    sys.exit(
        "fhir.resources is not installed: "
        "python3 -m venv tests/fhir/.venv && "
        "tests/fhir/.venv/bin/pip install -r tests/fhir/requirements.txt"
    )

if fhir.resources.__fhir_version__ != "4.0.1":
    sys.exit(f"fhir.resources is FHIR {fhir.resources.__fhir_version__}, not R4 4.0.1")

FORBIDDEN = ("subject", "identifier", "patient")


def resources(doc):
    if doc.get("resourceType") == "Bundle":
        for entry in doc.get("entry", []):
            yield entry.get("fullUrl"), entry["resource"]
    else:
        yield None, doc


def check_items(items, where, problems):
    for item in items:
        if item.get("answer") and item.get("item"):
            problems.append(f"{where}: qrs-1: item {item.get('linkId')} has answer and item")
        for answer in item.get("answer", []):
            check_items(answer.get("item", []), where, problems)
        check_items(item.get("item", []), where, problems)


def check(path):
    problems = []
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    try:
        construct_fhir_element(doc["resourceType"], doc)
    except Exception as e:  # pydantic's ValidationError and friends
        problems.append(f"{path}: not valid R4: {e}")
    urls = {url for url, _ in resources(doc) if url}
    for url, res in resources(doc):
        where = f"{path}: {res.get('resourceType')} {url or res.get('id')}"
        for key in FORBIDDEN:
            if key in res:
                problems.append(f"{where}: carries {key!r}")
        if res.get("resourceType") == "QuestionnaireResponse":
            check_items(res.get("item", []), where, problems)
        if res.get("resourceType") == "Observation":
            has_value = any(k.startswith("value") for k in res)
            if has_value and "dataAbsentReason" in res:
                problems.append(f"{where}: obs-6: value and dataAbsentReason")
            for ref in res.get("derivedFrom", []):
                if ref.get("reference") not in urls:
                    problems.append(f"{where}: derivedFrom {ref.get('reference')} not in the bundle")
    return problems


def main(paths):
    if not paths:
        sys.exit(__doc__)
    problems = [p for path in paths for p in check(path)]
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"{len(paths)} file(s) valid FHIR R4")


if __name__ == "__main__":
    main(sys.argv[1:])
