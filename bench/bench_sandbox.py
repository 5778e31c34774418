"""What a sandboxed rule costs: overhead on a warm pool, and throughput against plain Python.

Three ways to run the same rule, each with a fresh copy of the record:

- plain: ``exec`` of ordinary compiled code in this process (no sandbox at all,
  the floor);
- restricted: the RestrictedPython-compiled code with xrm's guards and fresh
  globals, in this process (what the policy alone costs);
- sandboxed: through ``SandboxPool``, in a worker process under limits (what a
  workflow really pays: the policy plus the process boundary).

It prints the median latency of a trivial ``when`` (target: under 100 µs) and
the time of N runs of a typical rule for each way, with the ratios. It asserts
nothing: the numbers depend on the machine and on what else runs on it.

    python bench/bench_sandbox.py [--runs 10000] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from xrm.platform.settings import SandboxSettings
from xrm.schemas.rule_code import compile_rule
from xrm.workflows.guards import fresh_globals
from xrm.workflows.pool import RuleInputs, SandboxPool

TRIVIAL_WHEN = "record['severity'] == 'high'"
RULE = """
if record['severity'] == 'high' and record['status'] != 'closed':
    record['status'] = 'escalated'
    record['priority'] = min(record.get('priority', 3), 1)
    record['tags'] = sorted(set(record['tags'] + ['escalated']))
"""
RECORD = {
    "id": "0190d1c2-0000-7000-8000-000000000001",
    "subject": "The lift is broken again",
    "severity": "high",
    "status": "open",
    "priority": 3,
    "tags": ["lift", "building-a"],
}


def _plain_runner() -> Callable[[], Any]:
    code = compile(RULE, "<rule>", "exec")

    def run() -> Any:
        scope: dict[str, Any] = {"record": {**RECORD, "tags": list(RECORD["tags"])}}
        exec(code, scope)
        return scope["record"]

    return run


def _restricted_runner() -> Callable[[], Any]:
    code = compile_rule(RULE, "exec")

    def run() -> Any:
        scope = fresh_globals({"record": {**RECORD, "tags": list(RECORD["tags"])}})
        exec(code, scope)
        return scope["record"]

    return run


def _timed(run: Callable[[], Any], count: int) -> tuple[float, float]:
    """(total seconds, median seconds of one run) of ``count`` runs."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return sum(times), statistics.median(times)


def _threaded(pool: SandboxPool, count: int, threads: int) -> float:
    per_thread = count // threads

    def client() -> None:
        for _ in range(per_thread):
            pool.script(RULE, RuleInputs(record=RECORD))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="rule runs per measurement")
    parser.add_argument(
        "--threads", type=int, default=2, help="threads (and workers) for the last row"
    )
    args = parser.parse_args()
    count = args.runs

    with SandboxPool(SandboxSettings(workers=max(2, args.threads))) as pool:
        inputs = RuleInputs(record=RECORD)
        for _ in range(500):  # warm: workers ready, code compiled and cached in each
            pool.condition(TRIVIAL_WHEN, inputs)
            pool.script(RULE, inputs)
        assert pool.script(RULE, inputs).value == _plain_runner()()

        latencies = []
        for _ in range(min(count, 5000)):
            started = time.perf_counter()
            pool.condition(TRIVIAL_WHEN, inputs)
            latencies.append(time.perf_counter() - started)
        latencies.sort()
        median = statistics.median(latencies) * 1e6
        p95 = latencies[int(len(latencies) * 0.95)] * 1e6
        print(
            f"trivial `when` on a warm pool: median {median:.0f} µs, p95 {p95:.0f} µs "
            f"(target: median under 100 µs) -> {'OK' if median < 100 else 'OVER'}"
        )

        plain, plain_median = _timed(_plain_runner(), count)
        restricted, restricted_median = _timed(_restricted_runner(), count)
        sandboxed, sandboxed_median = _timed(lambda: pool.script(RULE, inputs), count)
        parallel = _threaded(pool, count, args.threads)

    print(f"\n{count} runs of a typical rule (condition + 3 changes), fresh record each run:")
    print(f"{'way':<38}{'total':>9}{'mean':>10}{'median':>10}{'runs/s':>9}{'x plain':>9}")
    for label, seconds, median_run in (
        ("plain Python, in process", plain, plain_median),
        ("RestrictedPython + guards, in process", restricted, restricted_median),
        ("sandboxed, 1 thread", sandboxed, sandboxed_median),
        (f"sandboxed, {args.threads} threads", parallel, None),
    ):
        shown = f"{median_run * 1e6:>8.1f}µs" if median_run is not None else f"{'':>10}"
        print(
            f"{label:<38}{seconds:>8.2f}s{seconds / count * 1e6:>8.1f}µs{shown}"
            f"{count / seconds:>9.0f}{seconds / plain:>8.0f}x"
        )
    boundary = (sandboxed_median - restricted_median) * 1e6
    policy = (restricted_median - plain_median) * 1e6
    print(
        f"\nby medians: the sandbox costs {sandboxed_median / plain_median:.0f}x plain Python; "
        f"the process boundary {boundary:.0f} µs a run, the policy {policy:.1f} µs"
    )
    print("(a mean far above the median means other processes competed for the CPU)")


if __name__ == "__main__":
    main()
