"""Building the GraphQL schema of a big catalog: the speed target that tests no longer time.

Issue #3's bar: a cold build of 200 entity types of 20 fields in at most 3 s,
and a changed catalog (one type more) ready within 1 s. The suite asserts
what that bar protects without a clock (tests/api/test_schema_build.py: the
build is complete, its work grows linearly, a changed catalog is built once);
this prints the times, and the ratio against a 20-type build measured in the
same run (linear growth: about 10).

    python bench/bench_schema.py [--types 200] [--fields 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "api"))

from test_schema_build import big_catalog

from xrm.api.schema import build_schema


def median_seconds(work: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", type=int, default=200)
    parser.add_argument("--fields", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    small = big_catalog(1, types=max(1, args.types // 10), fields=args.fields)
    cold = big_catalog(2, types=args.types, fields=args.fields)
    changed = big_catalog(3, types=args.types + 1, fields=args.fields)
    build_schema(small)  # first-use costs
    floor = median_seconds(lambda: build_schema(small), args.runs)
    full = median_seconds(lambda: build_schema(cold), args.runs)
    again = median_seconds(lambda: build_schema(changed), args.runs)
    print(f"{args.types // 10} types: {floor:.3f} s (floor)")
    print(
        f"{args.types} types x {args.fields} fields, cold: {full:.3f} s "
        f"({full / floor:.1f}x the floor; target at most 3 s)"
    )
    print(f"{args.types + 1} types, after a change: {again:.3f} s (target at most 1 s)")


if __name__ == "__main__":
    main()
