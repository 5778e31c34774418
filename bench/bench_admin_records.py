"""The admin record screens against their floor: a list page of 50 from a large table, a record.

The customer table is filled to ``--rows`` rows (with 200 partners and about
two contacts per customer) through plain inserts, then each screen is asked
for through the whole application in process (Starlette's TestClient: the
session cookie, the door check, the record session, the template) and
compared with its floor, the record service's own reads for the same screen
in one read transaction:

1. ``GET /admin/records/customer``: the first page of 50 by name; floor: the
   same ``RecordSession.query`` (first 50 by name, the shown columns, no
   count) plus the partners' names (``fetch``).
2. the same list after a cursor deep in the table (page ``--rows / 100``).
3. ``GET /admin/records/customer/{id}``: a customer's page with its three
   related lists (contacts, contracts, grievances), its history, the
   partner choices of its form and the customer choices of its
   customer-to-customer link picker; floor: ``get``, ``history``, the three
   related queries and the two choice lists.
4. ``GET /admin/``: the dashboard (counts of every type, the latest 20
   changes, the two charts) over the same table plus ``--dashboard`` contracts
   and grievances made through the service (audited); floor: ``counts``,
   ``recent`` and the names it shows, and the charts' aggregates with the
   customers' tiers.

Medians of ``--runs`` requests and their ratio to the floor (target: at most
3x: issue 12 wants a list of 100k records to open as fast as a page of 50).

    python bench/bench_admin_records.py [--db URL] [--schema NAME] [--rows 100000] [--runs 15]
        [--dashboard 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from bench_graphql import bench_database, catalog_platform, drop_bench_database, median_seconds
from bench_records import PARTNERS, Names, fill, fill_contacts
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.platform.identity import create_user
from xrm.platform.settings import Settings

PASSWORD = "bench password, long enough"
WIDTH = 56


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--schema", help="PostgreSQL schema to create, use and drop")
    parser.add_argument("--rows", type=int, default=100_000, help="customers in the table")
    parser.add_argument("--runs", type=int, default=15, help="runs per latency median")
    parser.add_argument(
        "--dashboard", type=int, default=2000, help="contracts and grievances, each"
    )
    args = parser.parse_args()
    folder, url, admin_engine = bench_database(args.db, args.schema)
    settings = Settings(database_url=url, database_schema=args.schema)
    try:
        db, _registry, service, admin = catalog_platform(settings)
        with service.session(admin, channel="import") as s:
            partners = [
                p["id"]
                for p in s.create_many(
                    "partner", [{"name": f"Partner {i}"} for i in range(PARTNERS)]
                )
            ]
            table = s.catalog.tables["customer"]
            contacts = s.catalog.tables["contact"]
        fill(db, table, Names(args.rows), partners, str(admin.id), 0, args.rows)
        fill_contacts(db, table, contacts, str(admin.id))
        with db.read() as conn:
            some_customers = [str(r[0]) for r in conn.execute(sa.select(table.c.id).limit(500))]
        with service.session(admin, channel="import") as s:
            fill_dashboard(s, some_customers, args.dashboard)
        with db.write() as conn:
            create_user(conn, "bench@example.com", ("admin",), password=PASSWORD)
        print(f"database: {db.dialect}, {args.rows} customers", flush=True)
        print(f"{'case':<{WIDTH}}{'median ms':>10}{'ratio':>8}{'target':>8}", flush=True)
        with TestClient(create_app(settings), follow_redirects=False) as client:
            login = client.get("/admin/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', login)
            assert token is not None
            form = {"email": "bench@example.com", "password": PASSWORD, "csrf": token.group(1)}
            assert client.post("/admin/login", data=form).status_code == 303
            cases = screens(client, service, admin, args.rows)
            for name, screen, floor in cases:
                screen_s = median_seconds(screen, args.runs)
                floor_s = median_seconds(floor, args.runs)
                print(f"{'floor: ' + name:<{WIDTH}}{floor_s * 1000:>10.1f}{1:>8.1f}", flush=True)
                print(
                    f"{'screen: ' + name:<{WIDTH}}{screen_s * 1000:>10.1f}"
                    f"{screen_s / floor_s:>8.1f}{'<= 3':>8}",
                    flush=True,
                )
        db.dispose()
    finally:
        drop_bench_database(folder, admin_engine, args.schema)


def fill_dashboard(s: Any, customers: list[str], n: int) -> None:
    """``n`` contracts and ``n`` grievances over two years, through the service (audited)."""
    start = dt.datetime(2024, 1, 1, 9, tzinfo=dt.UTC)
    statuses = ("open", "in_progress", "escalated", "resolved", "closed")
    s.create_many(
        "contract",
        [
            {
                "title": f"Contract {i}",
                "customer": customers[i % len(customers)],
                "value": f"{(i * 7919) % 1_000_000}.50",
                "currency": ("KRW", "USD")[i % 2],
            }
            for i in range(n)
        ],
    )
    s.create_many(
        "grievance",
        [
            {
                "subject": f"Grievance {i}",
                "customer": customers[i % len(customers)],
                "status": statuses[i % len(statuses)],
                "raised_at": (start + dt.timedelta(hours=9 * i)).isoformat(),
            }
            for i in range(n)
        ],
    )


def screens(client: TestClient, service: object, admin: object, rows: int) -> list:
    """(name, request the screen, run the floor) for each case."""
    from xrm.entities.records import RecordService

    assert isinstance(service, RecordService)
    shown = frozenset({"name", "email", "phone", "tier", "revenue", "updated_at"})
    order = [{"name": "ASC"}]

    def list_floor(after: str | None = None) -> None:
        with service.session(admin, "admin", write=False) as s:  # type: ignore[arg-type]
            page = s.query(
                "customer", order_by=order, first=50, after=after, with_total=False, fields=shown
            )
            s.fetch("partner", [r.get("partner") for r in page.items], fields=frozenset({"name"}))

    with service.session(admin, "admin", write=False) as s:  # type: ignore[arg-type]
        # A cursor deep in the list: the same ordering's cursor of the customer at 99%.
        middle = f"Customer {rows - rows // 100:08d}"  # Names gives every number below rows
        page = s.query(
            "customer", filter={"name": {"gte": middle}}, order_by=order, first=1, with_total=False
        )
        deep_after = page.end_cursor
        some = page.items[0]["id"]

    def first_page() -> None:
        assert client.get("/admin/records/customer").status_code == 200

    def deep_page() -> None:
        path = f"/admin/records/customer?after={deep_after}"  # by name: the default order
        assert client.get(path).status_code == 200

    def record_page() -> None:
        assert client.get(f"/admin/records/customer/{some}").status_code == 200

    def record_floor() -> None:
        with service.session(admin, "admin", write=False) as s:  # type: ignore[arg-type]
            record = s.get("customer", some)
            assert record is not None
            s.history("customer", [some])
            for entity, name in (
                ("contact", "full_name"),
                ("contract", "title"),
                ("grievance", "subject"),
            ):
                s.query(
                    entity,
                    filter={"customer_id": {"eq": some}},
                    order_by=[{name: "ASC"}],
                    first=5,
                    with_total=False,
                    fields=frozenset({name}),
                )
            s.query("partner", order_by=[{"name": "ASC"}], first=200, with_total=False)
            # The link picker of customer_relations (customers by name, both tabs share it).
            s.query(
                "customer",
                order_by=[{"name": "ASC"}],
                first=200,
                with_total=False,
                fields=frozenset({"name"}),
            )

    def dashboard() -> None:
        assert client.get("/admin/").status_code == 200

    def dashboard_floor() -> None:
        with service.session(admin, "admin", write=False) as s:  # type: ignore[arg-type]
            s.counts(s.readable_types())
            wanted: dict[str, set[str]] = {}
            for entry in s.recent(20):
                wanted.setdefault(entry["entity"], set()).add(entry["record_id"])
            for entity, ids in wanted.items():
                s.fetch(entity, ids)
            s.aggregate("grievance", group_by=["raised_at:month", "status"])
            by_customer = s.aggregate("contract", group_by=["customer", "currency"])
            ids = {g["group"]["customer"] for g in by_customer}
            s.fetch("customer", ids, fields=frozenset({"tier"}))

    return [
        ("list, first page of 50", first_page, list_floor),
        ("list, a page after a deep cursor", deep_page, lambda: list_floor(deep_after)),
        ("a customer with 3 related lists, history, choices", record_page, record_floor),
        ("dashboard: counts, 20 changes, 2 charts", dashboard, dashboard_floor),
    ]


if __name__ == "__main__":
    main()
