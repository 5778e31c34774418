"""The home page as a dashboard: counts, recent activity and charts, each only what one may read.

Through the real application with signed-in cookies, on SQLite or
PostgreSQL as the run is configured; the numbers on the page are checked
against the record service's own counts and aggregates.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_record_screens import SALES_ROLE, actor, client_for, make
from test_signin import PASSWORD

from xrm.admin_ui import dashboard_charts
from xrm.admin_ui.dashboard_charts import ChartSpec, charts_for
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_user
from xrm.platform.settings import Settings

pytest_plugins = ["admin_clients"]

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def service(app_settings: Settings, db: Database, registry: Registry) -> RecordService:
    return RecordService(db, registry, app_settings)


@pytest.fixture
def sam(app_settings: Settings, registry: Registry, db: Database) -> Iterator[TestClient]:
    """Reads customers (without revenue) and partners, and nothing else."""
    registry.apply([SALES_ROLE])
    with db.write() as conn:
        create_user(conn, "sam@example.com", ("sales",), password=PASSWORD)
    yield from client_for(app_settings, "sam@example.com")


def counts_on(html: str) -> dict[str, int]:
    found = re.findall(r'<li data-type="(\w+)">.*?data-count="(\d+)"', html)
    return {name: int(n) for name, n in found}


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    return html[start : html.index("</section>", start)]


def chart_tables(html: str) -> dict[str, list[list[str]]]:
    """Each chart's data table by chart id: the rows as [label, cell, ...] with tags stripped."""
    out = {}
    found = r'<section class="card chart-card" id="chart-([\w-]+)".*?<tbody>(.*?)</tbody>'
    for key, body in re.findall(found, html, re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
        out[key] = [re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row) for row in rows]
    return out


def test_the_counts_are_the_records_each_type_has(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    for name in ("Hanbit", "Sejong", "Acme"):
        make(service, db, "customer", name=name)
    with service.session(actor(db, "ann@example.com"), "api") as records:
        records.create_many("partner", [{"name": f"P{i}"} for i in range(1001)])
    html = ann.get("/admin/", headers={"Accept-Language": "ko"}).text
    counts = counts_on(html)
    with service.session(actor(db, "ann@example.com"), "api", write=False) as records:
        for entity, shown in counts.items():
            assert shown == records.query(entity, first=1).total_count, entity
    assert counts["customer"] == 3 and counts["partner"] == 1001 and counts["grievance"] == 0
    # Grouped as the language writes numbers, with words for a screen reader.
    assert 'data-count="1001"><span class="visually-hidden">레코드: </span>1,001<' in html


def test_a_reader_sees_neither_count_nor_activity_nor_chart_of_a_type_they_may_not_read(
    sam: TestClient, service: RecordService, db: Database
) -> None:
    customer = make(service, db, "customer", name="Hanbit", tier="gold")
    make(
        service,
        db,
        "grievance",
        subject="Late delivery",
        customer=customer["id"],
        raised_at="2025-05-02T09:00:00+00:00",
    )
    make(
        service,
        db,
        "contract",
        title="Support",
        customer=customer["id"],
        value="100.00",
        currency="KRW",
    )
    with service.session(actor(db, "ann@example.com"), "api") as records:
        records.update("customer", customer["id"], {"revenue": "999999.00"})  # hidden from Sam
    html = sam.get("/admin/").text
    assert set(counts_on(html)) == {"customer", "partner"}
    activity = section(html, "activity-heading")
    assert "Late delivery" not in activity and "Support" not in activity
    assert "Hanbit" in activity and "999" not in activity
    # The create only: the change of revenue (hidden from him) is not even listed.
    assert re.findall(r'data-activity="(\w+)"', activity) == ["customer"]
    assert "chart-card" not in html  # grievances and contracts are not his to read


def test_activity_names_records_by_display_name_with_links_and_says_the_change(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    partner = make(service, db, "partner", name="Mirae Partners")
    customer = make(service, db, "customer", name="Hanbit", tier="standard")
    with service.session(actor(db, "ann@example.com"), "api") as records:
        records.update("customer", customer["id"], {"tier": "gold", "partner": partner["id"]})
        gone = records.create("customer", {"name": "Short-lived Ltd"})
        records.delete("customer", gone["id"])
    html = ann.get("/admin/", headers={"Accept-Language": "ko"}).text
    activity = section(html, "activity-heading")
    assert f'<a href="/admin/records/customer/{customer["id"]}">Hanbit</a>' in activity
    assert "<li>등급: 일반 → 골드</li>" in activity  # said as the record's history says it
    assert "Mirae Partners" in activity  # the reference by its name
    assert '<span class="gone">Short-lived Ltd</span>' in activity  # deleted: named, no link
    assert "UTC" in activity
    text_only = re.sub(r'href="[^"]*"', "", activity)
    assert not UUID.search(text_only)
    newest = activity.index("Short-lived Ltd")
    assert newest < activity.index("Mirae Partners")  # newest first


def _demo_like(service: RecordService, db: Database) -> None:
    with service.session(actor(db, "ann@example.com"), "api") as records:
        gold = records.create("customer", {"name": "Gold Co", "tier": "gold"})["id"]
        plain = records.create("customer", {"name": "Plain Co", "tier": "standard"})["id"]
        untiered = records.create("customer", {"name": "No Tier Co"})["id"]
        records.update("customer", untiered, {"tier": None})  # the default, cleared
        for customer, value, currency in (
            (gold, "1000000.50", "KRW"),
            (gold, "2500000.25", "KRW"),
            (plain, "300.10", "USD"),
            (plain, "700000", "KRW"),
            (untiered, "42", "KRW"),
        ):
            records.create(
                "contract",
                {"title": "C", "customer": customer, "value": value, "currency": currency},
            )
        for raised, status in (
            ("2025-03-03T10:00:00+00:00", "open"),
            ("2025-03-20T10:00:00+00:00", "open"),
            ("2025-03-21T10:00:00+00:00", "closed"),
            ("2025-05-01T10:00:00+00:00", "resolved"),
        ):
            records.create(
                "grievance",
                {"subject": "G", "customer": gold, "raised_at": raised, "status": status},
            )


def test_the_charts_numbers_are_the_aggregates(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    _demo_like(service, db)
    html = ann.get("/admin/").text
    tables = chart_tables(html)
    assert set(tables) == {
        "grievances-by-status-0",
        "contract-value-by-tier-0",
        "contract-value-by-tier-1",
    }
    with service.session(actor(db, "ann@example.com"), "api", write=False) as records:
        by_month = records.aggregate("grievance", group_by=["raised_at:month", "status"])
        contracts = records.aggregate("contract", group_by=["customer", "currency"])
        tiers = {c["id"]: c["tier"] for c in records.query("customer", first=100).items}
    grievances = tables["grievances-by-status-0"]
    assert len(grievances) == 12 and grievances[-1][0] == "May 2025"  # 12 months to the latest
    header = re.search(r'id="chart-grievances-by-status-0".*?<thead>(.*?)</thead>', html, re.S)
    assert header
    statuses = re.findall(r"<th[^>]*>([^<]*)</th>", header.group(1))[1:]
    months = {row[0]: dict(zip(statuses, row[1:], strict=True)) for row in grievances}
    for group in by_month:
        month = dt.date.fromisoformat(group["group"]["raised_at:month"]).strftime("%b %Y")
        labels = {"open": "Open", "closed": "Closed", "resolved": "Resolved"}
        label = labels[group["group"]["status"]]
        assert months[month][label] == str(group["count"])
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for group in contracts:
        tier = tiers[group["group"]["customer"]]
        sums[(group["group"]["currency"], tier or "")] += Decimal(str(group["sum"]["value"]))
    krw = {row[0]: row[1] for row in tables["contract-value-by-tier-0"]}
    usd = {row[0]: row[1] for row in tables["contract-value-by-tier-1"]}
    assert krw == {"Standard": "700,000", "Gold": "3,500,000.75", "Not set": "42"}
    assert sums[("KRW", "gold")] == Decimal("3500000.75") and sums[("KRW", "")] == Decimal(42)
    assert usd == {"Standard": "300.10"}
    # The SVGs hold one bar per non-zero number, each titled with its value.
    svg = html[html.index('id="chart-contract-value-by-tier-0"') :]
    svg = svg[: svg.index("</svg>")]
    assert svg.count("<rect ") == 3 and "<title" in svg and "<desc" in svg


def test_a_catalog_without_the_charts_fields_draws_no_chart_and_does_not_fail(
    service: RecordService, db: Database, app_settings: Settings
) -> None:
    _demo_like(service, db)
    broken = (
        ChartSpec("no-type", lambda _: "x", entity="nothing", along="status"),
        ChartSpec("no-field", lambda _: "x", entity="grievance", along="nope:month"),
        ChartSpec("bad-unit", lambda _: "x", entity="grievance", along="raised_at:hour"),
        ChartSpec("not-numeric", lambda _: "x", entity="contract", along="currency", measure="x"),
        ChartSpec("text-sum", lambda _: "x", entity="contract", along="currency", measure="title"),
        ChartSpec("not-a-ref", lambda _: "x", entity="contract", along="title.name"),
        ChartSpec("far-missing", lambda _: "x", entity="contract", along="customer.nope"),
        ChartSpec("list", lambda _: "x", entity="customer", along="tags"),
    )
    with service.session(actor(db, "ann@example.com"), "api", write=False) as records:
        assert charts_for(records, "en", lambda s: s, dt.date(2026, 1, 1), broken) == []
        # The shipped charts, with nothing to count yet for an empty month range
        assert charts_for(records, "en", lambda s: s, dt.date(2000, 1, 1))[0].key.startswith(
            "contract"
        )  # no grievance before 2000: that chart is left out, the other is drawn
        # A new chart is one more description, no code.
        spec = ChartSpec("by-tier", lambda _: "Customers by tier", entity="customer", along="tier")
        [drawn] = dashboard_charts.draw(spec, records, "en", lambda s: s, dt.date(2026, 1, 1))
    assert [(r.label, r.cells) for r in drawn.rows] == [
        ("Standard", ("1",)),
        ("Gold", ("1",)),
        ("Not set", ("1",)),
    ]


def test_the_dashboard_reads_in_one_transaction_with_few_statements(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    """Counts of every type come from one statement, not one per type."""
    _demo_like(service, db)
    seen: list[str] = []
    import sqlalchemy as sa

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = ann.app.state.db.engine  # type: ignore[attr-defined]
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        assert ann.get("/admin/").status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    counting = [s for s in seen if s.lower().count("count(*)") >= 7]
    assert len(counting) == 1


def test_a_chart_over_a_hidden_field_is_left_out(
    app_settings: Settings, registry: Registry, service: RecordService, db: Database
) -> None:
    """Contract values hidden from a role: no chart of them, though contracts are readable."""
    _demo_like(service, db)
    registry.apply(
        [
            {
                "role": "clerk",
                "title": "Clerk",
                "entities": {
                    "contract": {"read": "all", "fields": {"value": "hidden"}},
                    "customer": {"read": "all"},
                    "grievance": {"read": "all", "fields": {"status": "hidden"}},
                },
            }
        ]
    )
    with db.write() as conn:
        create_user(conn, "cid@example.com", ("clerk",), password=PASSWORD)
    clients = client_for(app_settings, "cid@example.com")
    html = next(clients).get("/admin/").text
    clients.close()
    assert set(counts_on(html)) == {"contract", "customer", "grievance"}
    assert "chart-card" not in html and "3,500,000" not in html


def test_a_reader_of_their_own_records_counts_and_sees_only_those(
    app_settings: Settings, registry: Registry, service: RecordService, db: Database
) -> None:
    registry.apply(
        [
            {
                "role": "rep",
                "title": "Rep",
                "entities": {"customer": {"read": "own", "create": "all", "update": "own"}},
            }
        ]
    )
    with db.write() as conn:
        create_user(conn, "owen@example.com", ("rep",), password=PASSWORD)
    make(service, db, "customer", name="Theirs Co")
    with service.session(actor(db, "owen@example.com"), "admin") as records:
        records.create("customer", {"name": "Mine Co"})
    clients = client_for(app_settings, "owen@example.com")
    html = next(clients).get("/admin/").text
    clients.close()
    assert counts_on(html) == {"customer": 1}
    activity = section(html, "activity-heading")
    assert "Mine Co" in activity and "Theirs Co" not in activity


OWN_FIELDS = {
    "grievance": ["status", "severity", "channel", "customer.tier", "customer.name", "subject"],
    "contract": ["currency", "status", "customer.tier", "customer.country", "value", "title"],
    "customer": ["tier", "country", "partner.name", "revenue", "since"],
}
ODD_FIELDS = [
    "nope",
    "",
    ".",
    "customer.",
    "customer.tier.x",
    "id",
    "tags",
    "status:month",
    "raised_at:month",
    "raised_at:hour",
    "created_at:month",
    "due_date:year",
]


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), periods=st.integers(min_value=0, max_value=30))
def test_any_chart_description_draws_or_is_left_out_and_never_fails(
    filled: RecordService, db: Database, data: st.DataObject, periods: int
) -> None:
    """A chart described with any fields (a catalog changed under it): drawn with numbers that
    add up to the type's count or sum, or left out; never an error."""
    entity = data.draw(st.sampled_from([*OWN_FIELDS, *OWN_FIELDS, "nothing", "user"]))
    fields = OWN_FIELDS.get(entity, ["nope"])
    odd = st.sampled_from(ODD_FIELDS)
    along = data.draw(st.one_of(st.sampled_from(fields), st.sampled_from(fields), odd))
    measure = data.draw(st.one_of(st.none(), st.sampled_from(["value", "revenue", "title"])))
    series = data.draw(st.one_of(st.none(), st.sampled_from(fields), odd))
    split = data.draw(st.one_of(st.none(), st.none(), st.sampled_from(fields), odd))
    spec = ChartSpec("any", lambda _: "Any", entity, along, measure, series, split, periods)
    with filled.session(actor(db, "ann@example.com"), "api", write=False) as records:
        drawn = dashboard_charts.draw(spec, records, "ko", lambda s: s, dt.date(2026, 1, 1))
        if not drawn or ":" in along:
            return
        whole = records.aggregate(entity)[0]
    total = sum(sum(d.totals.values(), Decimal(0)) for d in drawn)
    expected = whole["count"] if measure is None else whole["sum"][measure]
    assert total == Decimal(str(expected))


@pytest.fixture
def filled(service: RecordService, db: Database) -> RecordService:
    _demo_like(service, db)
    return service
