"""GraphQL over HTTP against its floor: 100 customers with their contacts and contracts.

The floor is the same data fetched with hand-written SQL (one query per level,
as a good hand-written service would) and serialised to JSON with orjson. The
API is measured through a real ``xrm serve`` process and a real HTTP client:
the median latency of one request, its ratio to the floor (target: at most
3x), and requests per second with 8 concurrent clients. A request repeated
with the same body is answered by its remembered plan (xrm/api/express.py);
a second row sends a new body each time, for the cost of the ordinary path.

    python bench/bench_graphql.py [--db URL] [--schema NAME] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from xrm.entities.catalog import definitions
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.platform.migrate import upgrade
from xrm.platform.settings import Settings

QUERY = """{ customers(first: 100, orderBy: [{name: ASC}]) { nodes {
  id name email tier
  contacts(first: 50) { nodes { id fullName email jobTitle } }
  contracts(first: 50) { nodes { id title status startDate } } } } }"""


def seed(service: RecordService, admin: Any) -> None:
    rng = random.Random(5)
    with service.session(admin, channel="import") as s:
        customers = s.create_many(
            "customer",
            [{"name": f"Customer {i:03d}", "email": f"c{i}@example.com"} for i in range(100)],
        )
        contacts = []
        contracts = []
        for c in customers:
            for j in range(rng.randint(3, 8)):
                contacts.append(
                    {
                        "full_name": f"Person {j} of {c['name']}",
                        "customer": c["id"],
                        "email": f"p{j}.{c['email']}",
                        "job_title": "Buyer",
                    }
                )
            for j in range(rng.randint(1, 5)):
                contracts.append(
                    {
                        "title": f"Contract {j} of {c['name']}",
                        "customer": c["id"],
                        "status": "active",
                        "start_date": "2025-01-01",
                    }
                )
        s.create_many("contact", contacts)
        s.create_many("contract", contracts)


def floor(db: Database, registry: Registry) -> bytes:
    """The same response built from three hand-written queries."""
    catalog = registry.current()
    cu, co, ct = (catalog.tables[n] for n in ("customer", "contact", "contract"))
    with db.read() as conn:
        customers = [
            dict(r)
            for r in conn.execute(
                sa.select(cu.c.id, cu.c.name, cu.c.email, cu.c.tier)
                .order_by(cu.c.name, cu.c.id)
                .limit(100)
            ).mappings()
        ]
        ids = [c["id"] for c in customers]
        by_customer: dict[str, dict[str, list[Any]]] = {
            i: {"contacts": [], "contracts": []} for i in ids
        }
        for r in conn.execute(
            sa.select(co.c.id, co.c.full_name, co.c.email, co.c.job_title, co.c.customer_id)
            .where(co.c.customer_id.in_(ids))
            .order_by(co.c.customer_id, co.c.id)
        ):
            by_customer[r.customer_id]["contacts"].append(
                {"id": r.id, "fullName": r.full_name, "email": r.email, "jobTitle": r.job_title}
            )
        for r in conn.execute(
            sa.select(ct.c.id, ct.c.title, ct.c.status, ct.c.start_date, ct.c.customer_id)
            .where(ct.c.customer_id.in_(ids))
            .order_by(ct.c.customer_id, ct.c.id)
        ):
            by_customer[r.customer_id]["contracts"].append(
                {"id": r.id, "title": r.title, "status": r.status, "startDate": r.start_date}
            )
    nodes = [
        {
            "id": c["id"],
            "name": c["name"],
            "email": c["email"],
            "tier": c["tier"],
            "contacts": {"nodes": by_customer[c["id"]]["contacts"]},
            "contracts": {"nodes": by_customer[c["id"]]["contracts"]},
        }
        for c in customers
    ]
    return orjson.dumps({"data": {"customers": {"nodes": nodes}}})


def median_seconds(fn: Any, runs: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def xrm_command() -> list[str]:
    beside = Path(sys.executable).with_name("xrm")
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-c", "import sys; from xrm.cli import main; sys.exit(main())"]


def bench_database(db_url: str | None, schema: str | None) -> tuple[str, str, sa.Engine | None]:
    """Where a bench run keeps its data: (scratch folder, URL, admin engine or None).

    Without ``--db``, a SQLite file in a fresh folder; with ``--schema``, that
    PostgreSQL schema made afresh (``drop_bench_database`` removes both).
    """
    folder = tempfile.mkdtemp(prefix="xrm-bench-")
    url = db_url or f"sqlite:///{folder}/bench.db"
    admin_engine = None
    if schema:
        admin_engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    return folder, url, admin_engine


def drop_bench_database(folder: str, admin_engine: sa.Engine | None, schema: str | None) -> None:
    """Undo ``bench_database``."""
    if admin_engine is not None:
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin_engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)


def catalog_platform(
    settings: Settings, db: Database | None = None
) -> tuple[Database, Registry, RecordService, Any]:
    """A migrated database with the built-in catalog: (db, registry, service, first admin)."""
    db = db or Database(settings)
    upgrade(db)
    registry = Registry(db, settings)
    registry.apply(definitions())
    service = RecordService(db, registry, settings)
    with db.write() as conn:
        admin = first_admin(conn)
    return db, registry, service, admin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--schema", help="PostgreSQL schema to create, use and drop")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the load test")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    folder, url, admin_engine = bench_database(args.db, args.schema)
    settings = Settings(database_url=url, database_schema=args.schema)
    db, registry, service, admin = catalog_platform(settings)
    with db.write() as conn:
        token = create_token(conn, admin)
    seed(service, admin)
    floor_s = median_seconds(lambda: floor(db, registry), args.runs)

    env = {k: v for k, v in os.environ.items() if not k.startswith("XRM_")}
    env["XRM_DATABASE_URL"] = url
    if args.schema:
        env["XRM_DATABASE_SCHEMA"] = args.schema
    port = free_port()
    server = subprocess.Popen(
        [*xrm_command(), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(headers=headers, timeout=30) as client:

            def one() -> None:
                response = client.post(f"{base}/graphql", json={"query": QUERY})
                assert "errors" not in response.json(), response.text

            api_s = median_seconds(one, args.runs)
            fresh = iter(range(10**9))

            def first_time() -> None:
                # A body never sent before (a comment makes it new): the ordinary path, with
                # parsing, validation and planning of its statement; no remembered plan.
                query = f"# {next(fresh)}\n{QUERY}"
                response = client.post(f"{base}/graphql", json={"query": query})
                assert "errors" not in response.json(), response.text

            fresh_s = median_seconds(first_time, args.runs)
        done = 0
        lock = threading.Lock()
        stop = time.monotonic() + args.seconds

        def load() -> None:
            nonlocal done
            with httpx.Client(headers=headers, timeout=30) as client:
                while time.monotonic() < stop:
                    client.post(f"{base}/graphql", json={"query": QUERY}).raise_for_status()
                    with lock:
                        done += 1

        started = time.monotonic()
        threads = [threading.Thread(target=load) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rps = done / (time.monotonic() - started)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        db.dispose()
        drop_bench_database(folder, admin_engine, args.schema)
    print(f"database: {db.dialect}")
    print(f"{'case':<44}{'median':>10}{'ratio':>8}{'target':>8}")
    print(f"{'floor: hand-written SQL + orjson':<44}{floor_s * 1000:>8.1f}ms{1:>8.1f}")
    ratio = api_s / floor_s
    print(f"{'GraphQL over HTTP, one client':<44}{api_s * 1000:>8.1f}ms{ratio:>8.1f}{'<= 3':>8}")
    fresh_ms, fresh_ratio = fresh_s * 1000, fresh_s / floor_s
    print(f"{'  the same, each body sent the first time':<44}{fresh_ms:>8.1f}ms{fresh_ratio:>8.1f}")
    print(f"{'GraphQL over HTTP, 8 clients':<44}{rps:>7.0f}/s")


if __name__ == "__main__":
    main()
