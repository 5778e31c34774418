"""The list's filters: ranges, text, related fields, chips in words, problems beside the filter.

Server tests through the real application, on SQLite or PostgreSQL as the run
is configured. The property test compares the records a filtered list shows
with a Python model filtering the same records, for sensible and hostile
query strings alike.
"""

from __future__ import annotations

import datetime as dt
import html as htmlmod
import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_record_screens import make, names_in_list, sam, service  # noqa: F401 (fixtures)

from xrm.entities.records import RecordService
from xrm.platform.db import Database

pytest_plugins = ["admin_clients"]

LIST = "/admin/records/contract"

# (title, value, signed_on, customer)
CONTRACTS = [
    ("Alpha support", "100", "2026-01-10", "Acme"),
    ("Beta licence", "250.50", "2026-03-01", "Acme"),
    ("Gamma audit", "999.99", "2025-12-31", "Bolt"),
    ("Delta hosting", "3", "2026-06-15", "Bolt"),
    ("Epsilon care", None, None, "Acme"),
    ("zeta ZIP", "5000", "2026-02-28", "Bolt"),
]
CUSTOMERS = {"Acme": "gold", "Bolt": "standard"}


@pytest.fixture
def contracts(service: RecordService, db: Database) -> list[dict[str, Any]]:  # noqa: F811
    ids = {
        name: make(service, db, "customer", name=name, tier=tier)["id"]
        for name, tier in CUSTOMERS.items()
    }
    out = []
    for title, value, signed, customer in CONTRACTS:
        values: dict[str, Any] = {"title": title, "customer": ids[customer]}
        if value is not None:
            values["value"] = value
        if signed is not None:
            values["signed_on"] = signed
        make(service, db, "contract", **values)
        out.append(
            {
                "title": title,
                "value": Decimal(value) if value else None,
                "signed_on": dt.date.fromisoformat(signed) if signed else None,
                "name": customer,
                "tier": CUSTOMERS[customer],
            }
        )
    return out


def chips(html: str) -> list[str]:
    return [
        htmlmod.unescape(t) for t in re.findall(r'<li data-chip="[^"]+">([^<]*?) <a href=', html)
    ]


def filter_error(html: str, param: str) -> str:
    block = re.search(rf'<div data-filter="{re.escape(param)}">(.*?)</div>', html, re.S)
    assert block, param
    found = re.search(r'<p class="field-error" id="[^"]+">([^<]*)</p>', block.group(1))
    return htmlmod.unescape(found.group(1)) if found else ""


def test_a_range_a_date_and_a_related_field_narrow_the_list_and_show_as_chips(
    ann: TestClient, contracts: list[dict[str, Any]]
) -> None:
    query = {"value.min": "100", "value.max": "1000", "customer.tier": "gold"}
    page = ann.get(f"{LIST}?{urlencode(query)}")
    assert page.status_code == 200
    assert sorted(names_in_list(page.text)) == ["Alpha support", "Beta licence"]
    assert chips(page.text) == [
        "Contract value: at least 100",
        "Contract value: at most 1,000",
        "Tier of Customer: Gold",
    ]
    # Removing a chip keeps the others: the address stays the whole state.
    remove = re.search(r'<li data-chip="customer.tier">[^<]*<a href="([^"]+)"', page.text)
    assert remove
    wider = ann.get(htmlmod.unescape(remove.group(1)))
    assert sorted(names_in_list(wider.text)) == ["Alpha support", "Beta licence", "Gamma audit"]
    dated = ann.get(f"{LIST}?signed_on.from=2026-01-01&signed_on.to=2026-02-28")
    assert sorted(names_in_list(dated.text)) == ["Alpha support", "zeta ZIP"]
    korean = ann.get(f"{LIST}?customer.tier=gold", headers={"Accept-Language": "ko"})
    assert chips(korean.text) == ["고객의 등급: 골드"]


def test_text_contains_ignores_case_and_a_related_name_filters_too(
    ann: TestClient, contracts: list[dict[str, Any]]
) -> None:
    assert names_in_list(ann.get(f"{LIST}?title.contains=ZI").text) == ["zeta ZIP"]
    by_name = ann.get(f"{LIST}?customer.name.contains=bol")
    assert sorted(names_in_list(by_name.text)) == ["Delta hosting", "Gamma audit", "zeta ZIP"]
    assert chips(by_name.text) == ["Name of Customer: contains “bol”"]


def test_bad_filters_are_named_beside_their_input_and_the_rest_still_apply(
    ann: TestClient, contracts: list[dict[str, Any]]
) -> None:
    page = ann.get(
        f"{LIST}?value.min=lots&signed_on.from=2026-02-30&customer.tier=gold&bogus.min=1"
    )
    assert page.status_code == 200
    assert filter_error(page.text, "value.min") == "Enter a number of at most 28 digits."
    assert filter_error(page.text, "signed_on.from") == "Enter a date like 2026-01-31."
    assert "There is no filter bogus.min." in page.text
    assert 'value="lots"' in page.text  # what was typed is kept for correcting
    assert sorted(names_in_list(page.text)) == ["Alpha support", "Beta licence", "Epsilon care"]
    korean = ann.get(f"{LIST}?value.min=lots", headers={"Accept-Language": "ko"})
    assert filter_error(korean.text, "value.min") != "Enter a number of at most 28 digits."


def test_a_hidden_field_cannot_be_filtered_by(
    sam: TestClient,  # noqa: F811
    service: RecordService,  # noqa: F811
    db: Database,
) -> None:
    make(service, db, "customer", name="Rich", revenue="1000000")
    make(service, db, "customer", name="Poor", revenue="1")
    page = sam.get("/admin/records/customer?revenue.min=500")
    assert page.status_code == 200
    assert "There is no filter revenue.min." in page.text
    assert sorted(names_in_list(page.text)) == ["Poor", "Rich"]


# --- the property: hostile query strings never break the page, and it shows the model's records

DECIMALS: dict[str, Decimal | None] = {
    "100": Decimal(100),
    "250.5": Decimal("250.5"),
    "-3": Decimal(-3),
    "0": Decimal(0),
    "abc": None,
    "1e400": None,
    "9" * 40: None,
    "NaN": None,
    "1\x00": None,
    "１００": Decimal(100),  # other scripts' digits are digits too
}
DATES: dict[str, dt.date | None] = {
    "2026-01-01": dt.date(2026, 1, 1),
    "2026-02-28": dt.date(2026, 2, 28),
    "2026-02-30": None,
    "2026-13-01": None,
    "yesterday": None,
    "20260101": None,
    "2026-01-01\x00": None,
}
TEXTS: dict[str, str | None] = {
    "a": "a",
    "ZIP": "ZIP",
    "%": "%",
    "_": "_",
    "é": "é",
    "x\x00": None,
    "y" * 201: None,
}
TIERS: dict[str, str | None] = {
    "gold": "gold",
    "standard": "standard",
    "vip": "vip",
    "diamond": None,
}
PARAMS: dict[str, dict[str, Any]] = {
    "value.min": DECIMALS,
    "value.max": DECIMALS,
    "signed_on.from": DATES,
    "signed_on.to": DATES,
    "title.contains": TEXTS,
    "customer.tier": TIERS,
    "customer.name.contains": TEXTS,
}
UNKNOWN = [
    "bogus.min",
    "value.bogus",
    "customer.bogus",
    "title.min",
    "a.b.c.d",
    "customer.tier.min",
]


def _lower(text: str) -> str:
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def _holds(record: dict[str, Any], param: str, value: Any) -> bool:
    if param == "value.min":
        return record["value"] is not None and record["value"] >= value
    if param == "value.max":
        return record["value"] is not None and record["value"] <= value
    if param == "signed_on.from":
        return record["signed_on"] is not None and record["signed_on"] >= value
    if param == "signed_on.to":
        return record["signed_on"] is not None and record["signed_on"] <= value
    if param == "title.contains":
        return _lower(value) in _lower(record["title"])
    if param == "customer.name.contains":
        return _lower(value) in _lower(record["name"])
    assert param == "customer.tier"
    return bool(record["tier"] == value)


pairs = st.one_of(
    st.sampled_from(list(PARAMS)).flatmap(
        lambda p: st.tuples(st.just(p), st.sampled_from([*PARAMS[p], ""]))
    ),
    st.tuples(st.sampled_from(UNKNOWN), st.sampled_from(["1", "x", ""])),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.lists(pairs, max_size=5))
def test_any_filter_query_shows_the_models_records_or_names_the_problem(
    ann: TestClient, contracts: list[dict[str, Any]], query: list[tuple[str, str]]
) -> None:
    page = ann.get(f"{LIST}?{urlencode(query)}", follow_redirects=True)  # empty inputs dropped
    assert page.status_code == 200
    assert "Traceback" not in page.text
    given_values: dict[str, list[str]] = {}
    for param, value in query:
        if value:
            given_values.setdefault(param, []).append(value)
    expected = list(contracts)
    for param, values in given_values.items():
        if param not in PARAMS:
            assert f"There is no filter {param}." in htmlmod.unescape(page.text)
            continue
        meaning = PARAMS[param][values[-1]]
        if len(set(values)) > 1 or meaning is None:
            assert filter_error(page.text, param), (param, values)
            continue
        expected = [r for r in expected if _holds(r, param, meaning)]
    assert sorted(names_in_list(htmlmod.unescape(page.text))) == sorted(
        r["title"] for r in expected
    )


# --- the disclosure and the chips ----------------------------------------------------------------


def disclosure(html: str) -> str:
    found = re.search(r"<details class=\"columns filtering\" data-filters( open)?>", html)
    assert found, "no filters disclosure"
    return "open" if found.group(1) else "closed"


def test_the_filters_stay_folded_and_what_is_in_force_shows_as_removable_chips(
    ann: TestClient, contracts: list[dict[str, Any]]
) -> None:
    page = ann.get(f"{LIST}?status.eq=draft&customer.tier=gold")
    assert page.status_code == 200
    assert disclosure(page.text) == "closed"  # on a phone, the list comes first
    assert "Filters (2)" in page.text
    assert chips(page.text) == ["Status: Draft", "Tier of Customer: Gold"]
    assert sorted(names_in_list(page.text)) == ["Alpha support", "Beta licence", "Epsilon care"]
    # Each chip's ✕ is a link to the list without that one filter.
    remove = re.search(
        r'<li data-chip="status.eq">[^<]*<a href="([^"]+)" aria-label="([^"]+)"', page.text
    )
    assert remove and htmlmod.unescape(remove.group(2)) == "Remove the filter Status: Draft"
    wider = ann.get(htmlmod.unescape(remove.group(1)))
    assert wider.status_code == 200
    assert chips(wider.text) == ["Tier of Customer: Gold"]
    korean = ann.get(f"{LIST}?status.eq=draft", headers={"Accept-Language": "ko"})
    assert chips(korean.text) == ["상태: 초안"]
    assert "필터 (1)" in korean.text
    # Nothing in force: no chips, no count.
    bare = ann.get(LIST).text
    assert disclosure(bare) == "closed" and chips(bare) == [] and "Filters (" not in bare


def test_a_refused_filter_opens_the_disclosure_to_show_its_problem(
    ann: TestClient, contracts: list[dict[str, Any]]
) -> None:
    page = ann.get(f"{LIST}?value.min=lots&customer.tier=gold")
    assert disclosure(page.text) == "open"
    assert filter_error(page.text, "value.min") == "Enter a number of at most 28 digits."
    assert chips(page.text) == ["Tier of Customer: Gold"]
    # Named at the top of the disclosure too, linked to the input (on a phone, screens below).
    top = re.search(r"<div class=\"error\" data-filter-problems>(.*?)</div>", page.text, re.S)
    assert top and re.findall(
        r'<li><a href="#([^"]+)">([^<]+)</a>: ([^<]+)</li>', top.group(1)
    ) == [("n-value-min", "Contract value (at least)", "Enter a number of at most 28 digits.")]
    assert 'id="n-value-min"' in page.text
    unknown = ann.get(f"{LIST}?bogus.min=1").text
    assert disclosure(unknown) == "open" and "There is no filter bogus.min." in unknown


def test_one_form_without_javascript_sends_the_search_and_every_filter_each_labelled(
    ann: TestClient, contracts: list[dict[str, Any]]
) -> None:
    page = ann.get(f"{LIST}?status.eq=draft").text
    form = re.search(
        r'<form method="get" action="/admin/records/contract" class="search".*?</form>', page, re.S
    )
    assert form
    names = re.findall(r'name="([^"]+)"', form.group(0))
    for name in ("q", "status.eq", "value.min", "value.max", "customer.tier", "title.contains"):
        assert names.count(name) == 1, name  # sent once: no hidden copy beside the input
    for control in re.findall(r'<(?:input|select) id="([^"]+)"', form.group(0)):
        assert f'<label for="{control}">' in form.group(0), control
    assert re.search(r'<select id="filter-status" name="status.eq">', form.group(0))
