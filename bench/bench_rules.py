"""What a workflow rule adds to a write: one create per transaction, as the API makes them,
with no rule (the floor), then with each kind of rule watching the type.

- ``before set``: a ``before`` rule with a ``set`` action (no code: no sandbox run);
- ``before when``: a ``before`` rule whose trivial ``when`` runs in the sandbox;
- ``before script``: a ``before`` script that changes the record;
- ``after script``: an ``after`` script that creates a second record (two writes);
- ``async``: an ``async`` rule (the write also queues a job; the run is not counted).

It prints the median and mean time of a create each way and its ratio to the floor. It
asserts nothing: the numbers depend on the machine and on what else runs on it.

    python bench/bench_rules.py [--creates 300] [--db URL --schema NAME]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from bench_graphql import bench_database, catalog_platform, drop_bench_database

from xrm.platform.settings import SandboxSettings, Settings
from xrm.workflows.engine import WorkflowEngine
from xrm.workflows.pool import SandboxPool

RULES: dict[str, dict[str, Any]] = {
    "before set": {
        "stage": "before",
        "actions": [{"type": "set", "values": {"status": "open"}}],
    },
    "before when": {
        "stage": "before",
        "when": "record.get('severity') == 'critical'",
        "actions": [{"type": "set", "values": {"status": "escalated"}}],
    },
    "before script": {
        "stage": "before",
        "actions": [{"type": "script", "code": "record['description'] = record['subject'][:20]"}],
    },
    "after script": {
        "stage": "after",
        "actions": [
            {
                "type": "script",
                "code": "create('task', {'title': 'Call', 'grievance': record['id']})",
            }
        ],
    },
    "async": {
        "stage": "async",
        "actions": [{"type": "create", "entity": "task", "values": {"title": "Later"}}],
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--schema", help="PostgreSQL schema to create, use and drop")
    parser.add_argument("--creates", type=int, default=300, help="creates per way")
    args = parser.parse_args()
    folder, url, admin_engine = bench_database(args.db, args.schema)
    settings = Settings(database_url=url, database_schema=args.schema)
    try:
        db, registry, service, admin = catalog_platform(settings)
        with SandboxPool(SandboxSettings(workers=2)) as pool:
            WorkflowEngine(service, pool)

            def creates() -> list[float]:
                took = []
                for i in range(args.creates):
                    started = time.perf_counter()
                    with service.session(admin) as session:
                        session.create("grievance", {"subject": f"Bench {i}"})
                    took.append(time.perf_counter() - started)
                return took

            creates()  # warm the statement cache and the pool
            floor = creates()
            rows = [("no rule (floor)", floor)]
            for name, rule in RULES.items():
                definition = {"name": "bench", "entity": "grievance", "on": ["create"], **rule}
                registry.apply([definition])
                creates()  # warm after the schema change
                rows.append((name, creates()))
                registry.delete_workflow("bench")
        base = statistics.median(floor)
        print(f"\n{args.creates} creates per way, one transaction each ({db.engine.dialect.name}):")
        print(f"{'way':<18}{'median':>11}{'mean':>11}{'added':>11}{'x floor':>9}")
        for name, took in rows:
            median = statistics.median(took)
            print(
                f"{name:<18}{median * 1e3:>9.2f}ms{statistics.mean(took) * 1e3:>9.2f}ms"
                f"{(median - base) * 1e3:>9.2f}ms{median / base:>9.2f}"
            )
    finally:
        drop_bench_database(folder, admin_engine, args.schema)


if __name__ == "__main__":
    main()
