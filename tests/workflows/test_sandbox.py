"""The sandbox as rule authors and the record service see it: inputs, calls, logs, limits."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import TIGHT, assert_serves

from xrm.errors import NotFound
from xrm.platform.settings import SandboxSettings
from xrm.schemas.workflows import Limits
from xrm.workflows.errors import RuleRejected, SandboxError
from xrm.workflows.pool import RuleInputs, SandboxPool
from xrm.workflows.process import HostCall

GRIEVANCE = {"id": "0190d1c2-0000-7000-8000-000000000001", "severity": "high", "status": "open"}

pytest_plugins = ["sandbox_pool"]


class Host:
    """A handler that records every call and answers from a small in-memory store."""

    def __init__(self) -> None:
        self.calls: list[HostCall] = []
        self.store = {"customer": {"c1": {"id": "c1", "tier": "vip", "owner": "u7"}}}

    def __call__(self, call: HostCall) -> Any:
        self.calls.append(call)
        args = call.args
        if call.name == "get":
            found = self.store.get(args["entity"], {}).get(args["id"])
            if found is None:
                raise NotFound(f"no {args['entity']} {args['id']}")
            return found
        if call.name == "find":
            return list(self.store.get(args["entity"], {}).values())[: args["limit"]]
        if call.name == "create":
            return {"id": "new1", **args["values"]}
        if call.name == "update":
            return {"id": args["id"], **args["values"]}
        return True


def test_a_condition_sees_record_old_event_and_user(pool: SandboxPool) -> None:
    inputs = RuleInputs(
        record={**GRIEVANCE, "status": "closed"},
        old=GRIEVANCE,
        event={"type": "update"},
        user={"id": "u1", "email": "a@example.com", "roles": ["editor"]},
    )
    transition = (
        "old['status'] != 'closed' and record['status'] == 'closed' "
        "and event['type'] == 'update' and 'editor' in user['roles']"
    )
    assert pool.condition(transition, inputs).value is True
    assert pool.condition("old is None", inputs).value is False
    assert pool.condition("record.get('tags')", inputs).value is False  # None is false
    assert pool.condition("[1]", inputs).value is True


def test_a_condition_must_give_a_plain_truth(pool: SandboxPool) -> None:
    with pytest.raises(SandboxError) as caught:
        pool.condition("(x for x in [1])", RuleInputs(record=GRIEVANCE))
    assert caught.value.reason == "result"
    assert "True or False" in caught.value.message


def test_a_script_changes_a_copy_of_the_record_and_gives_it_back(pool: SandboxPool) -> None:
    record = dict(GRIEVANCE)
    source = (
        "import datetime, decimal\n"
        "record['status'] = 'escalated'\n"
        "record['due_date'] = datetime.date(2024, 1, 31)\n"
        "record['raised_at'] = datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.timezone.utc)\n"
        "record['amount'] = decimal.Decimal('10.50') * 2\n"
        "record['tags'] = ('a', 'b')\n"
        "del record['severity']\n"
        "record['count'] = 1\n"
        "record['count'] += 2\n"
    )
    result = pool.script(source, RuleInputs(record=record))
    assert result.value == {
        "id": GRIEVANCE["id"],
        "status": "escalated",
        "due_date": "2024-01-31",
        "raised_at": "2024-01-02T03:04:00+00:00",
        "amount": "21.00",
        "tags": ["a", "b"],
        "count": 3,
    }
    assert record == GRIEVANCE  # the caller's dict is untouched


def test_a_script_without_a_record_gives_none(pool: SandboxPool) -> None:
    assert pool.script("x = 1").value is None


def test_every_host_function_is_a_call_to_the_handler(pool: SandboxPool) -> None:
    host = Host()
    source = """
customer = get('customer', 'c1')
if customer['tier'] == 'vip':
    record['priority'] = 'high'
    task = create('task', {'title': 'Call', 'assignee': customer['owner']})
    record['task'] = task['id']
found = find('customer', {'tier': {'eq': 'vip'}})
record['vips'] = len(found)
update('customer', 'c1', {'tier': 'gold'})
link('contract_assets', 'k1', 'a1', {'coverage': 'full'})
unlink('contract_assets', 'k1', 'a2')
find('customer', limit=5)
"""
    result = pool.script(source, RuleInputs(record=dict(GRIEVANCE)), handler=host)
    assert result.value["priority"] == "high"
    assert result.value["task"] == "new1"
    assert result.value["vips"] == 1
    assert result.calls == 7
    assert [(c.name, dict(c.args)) for c in host.calls] == [
        ("get", {"entity": "customer", "id": "c1"}),
        ("create", {"entity": "task", "values": {"title": "Call", "assignee": "u7"}}),
        ("find", {"entity": "customer", "filter": {"tier": {"eq": "vip"}}, "limit": 50}),
        ("update", {"entity": "customer", "id": "c1", "values": {"tier": "gold"}}),
        (
            "link",
            {
                "relationship": "contract_assets",
                "from_id": "k1",
                "to_id": "a1",
                "attributes": {"coverage": "full"},
            },
        ),
        ("unlink", {"relationship": "contract_assets", "from_id": "k1", "to_id": "a2"}),
        ("find", {"entity": "customer", "filter": {}, "limit": 5}),
    ]
    assert {c.depth for c in host.calls} == {1}


def test_a_refused_call_is_a_record_error_the_rule_can_catch(pool: SandboxPool) -> None:
    source = """
try:
    get('customer', 'nobody')
except RecordError as e:
    log(e.code, e.args[0])
    record['missing'] = True
"""
    result = pool.script(source, RuleInputs(record={}), handler=Host())
    assert result.value == {"missing": True}
    assert result.log == ("NOT_FOUND no customer nobody",)
    with pytest.raises(SandboxError) as caught:
        pool.script("get('customer', 'nobody')", RuleInputs(record={}), handler=Host())
    assert caught.value.reason == "error"
    assert caught.value.message == "line 1: RecordError (NOT_FOUND): no customer nobody"


def test_bad_arguments_to_a_host_function_fail_inside_the_rule(pool: SandboxPool) -> None:
    host = Host()
    for source, text in [
        ("get('customer', 1)", "id must be a string"),
        ("find('customer', 'tier')", "filter must be a dict"),
        ("find('customer', {}, limit=10000)", "limit must be a whole number"),
        ("create('task', ['x'])", "values must be a dict"),
        ("create('task', {'when': now})", "cannot leave the sandbox"),
    ]:
        with pytest.raises(SandboxError) as caught:
            pool.script(source, RuleInputs(record={}), handler=host)
        assert text in caught.value.message, source
    assert host.calls == []


def test_without_a_handler_calls_are_refused(pool: SandboxPool) -> None:
    with pytest.raises(SandboxError) as caught:
        pool.condition("get('customer', 'c1') is None")
    assert "RecordError (UNAVAILABLE)" in caught.value.message


def test_a_handler_failure_reaches_the_caller_and_the_worker_is_replaced(
    pool: SandboxPool,
) -> None:
    def broken(call: HostCall) -> Any:
        raise RuntimeError("database went away")

    before = pool.stats().started
    with pytest.raises(RuntimeError, match="database went away"):
        pool.script("get('customer', 'c1')", RuleInputs(record={}), handler=broken)
    assert pool.stats().started == before + 1
    assert_serves(pool)


def test_reject_is_rule_rejected_even_when_the_rule_catches_it(pool: SandboxPool) -> None:
    with pytest.raises(RuleRejected) as caught:
        pool.script("log('checking')\nreject('closed grievances stay closed')", RuleInputs({}))
    assert caught.value.message == "closed grievances stay closed"
    assert caught.value.code == "RULE_REJECTED"
    assert caught.value.log == ("checking",)
    with pytest.raises(RuleRejected, match="no"):
        pool.script("try:\n    reject('no')\nexcept:\n    pass\nrecord['x'] = 1", RuleInputs({}))
    with pytest.raises(RuleRejected, match="no way"):
        pool.condition("reject('no way')")


def test_log_and_print_lines_come_back_with_the_result(pool: SandboxPool) -> None:
    source = (
        "log('severity', record['severity'], 3)\n"
        "print('a', 'b', sep='-')\n"
        "print('no newline', end='')\n"
        "print(' then more')\n"
        "print('last')"
    )
    result = pool.script(source, RuleInputs(record=dict(GRIEVANCE)))
    assert result.log == ("severity high 3", "a-b", "no newline then more", "last")


def test_a_flood_of_log_lines_is_cut_off(pool: SandboxPool) -> None:
    result = pool.script("for i in range(5000):\n    log(i)\nlog('x' * 100000)")
    assert len(result.log) == 1001
    assert result.log[-1] == "(log truncated)"
    assert result.log[:3] == ("0", "1", "2")


def test_code_that_does_not_compile_fails_with_line_and_column(pool: SandboxPool) -> None:
    with pytest.raises(SandboxError) as caught:
        pool.script("x = 1\ny = x.__class__")
    assert caught.value.reason == "compile"
    assert caught.value.message.startswith("line 2, column 7:")


def test_an_exception_names_the_rule_line(pool: SandboxPool) -> None:
    with pytest.raises(SandboxError) as caught:
        pool.script("x = 1\n\ny = {}['missing']")
    assert caught.value.message == "line 3: KeyError: 'missing'"


def test_the_cpu_limit_stops_a_loop_and_keeps_its_log(pool: SandboxPool) -> None:
    with pytest.raises(SandboxError) as caught:
        pool.script("log('before')\nwhile True:\n    pass", limits=TIGHT)
    assert caught.value.reason == "cpu"
    assert caught.value.message == "the rule used more than 0.25 s of CPU time and was stopped"
    assert caught.value.log == ("before",)
    assert_serves(pool)


def test_the_wall_clock_limit_stops_a_rule_waiting_on_the_host(pool: SandboxPool) -> None:
    def slow(call: HostCall) -> Any:
        time.sleep(0.6)
        return None

    limits = Limits(cpu_seconds=1, wall_seconds=0.3, memory_mb=64)
    with pytest.raises(SandboxError) as caught:
        pool.script("get('customer', 'c1')\nget('customer', 'c1')", handler=slow, limits=limits)
    assert caught.value.reason == "wall"
    assert caught.value.message == "the rule ran longer than 0.3 s and was stopped"
    assert_serves(pool)


def test_the_memory_limit_fails_the_run(pool: SandboxPool) -> None:
    source = "chunks = []\nwhile True:\n    chunks.append(' ' * 1000000)"
    with pytest.raises(SandboxError) as caught:
        pool.script(source, limits=TIGHT)
    assert caught.value.reason == "memory"
    assert caught.value.message == "the rule needed more than 64 MB of memory"
    assert_serves(pool)


def test_limits_above_the_ceiling_are_cut_to_it() -> None:
    settings = SandboxSettings(workers=1, max_memory_mb=200, memory_mb=100)
    with SandboxPool(settings) as own, pytest.raises(SandboxError) as caught:
        own.script("x = ' ' * (300 * 1024 * 1024)", limits=Limits(memory_mb=4000))
    assert caught.value.reason == "memory"
    assert "200 MB" in caught.value.message


def test_nothing_of_a_run_is_seen_by_the_next() -> None:
    poison = """
try:
    record['seen'] = leaked
except NameError:
    record['seen'] = 'fresh'
leaked = 'from the last run'
abs = None
record['tags'].append('x')
"""
    with SandboxPool(SandboxSettings(workers=1)) as own:
        first = own.script(poison, RuleInputs(record={"tags": []}))
        second = own.script(poison, RuleInputs(record={"tags": []}))
        assert first.value == second.value == {"seen": "fresh", "tags": ["x"]}
        assert own.stats().started == 1  # the same worker ran both
        assert_serves(own)


def test_threads_share_a_small_pool() -> None:
    results: dict[int, list[Any]] = {}
    errors: list[BaseException] = []

    def client(number: int) -> None:
        try:
            results[number] = [
                own.script(
                    "record['n'] = record['n'] * 2", RuleInputs(record={"n": number + i})
                ).value["n"]
                for i in range(15)
            ]
        except BaseException as exc:
            errors.append(exc)

    with SandboxPool(SandboxSettings(workers=2)) as own:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert results == {n: [(n + i) * 2 for i in range(15)] for n in range(6)}
        assert own.stats().workers == 2


def test_a_nested_run_never_waits_for_a_full_pool() -> None:
    with SandboxPool(SandboxSettings(workers=1)) as own:
        depths: list[int] = []

        def nested(call: HostCall) -> Any:
            depths.append(call.depth)
            if call.depth < 3:
                inner = own.script(
                    "record['level'] = get('level', 'x')['level'] + 1",
                    RuleInputs(record={}),
                    handler=nested,
                )
                return {"level": inner.value["level"]}
            return {"level": 0}

        result = own.script(
            "record['level'] = get('level', 'x')['level']", RuleInputs({}), handler=nested
        )
        assert result.value == {"level": 2}
        assert depths == [1, 2, 3]
        assert own.stats().workers == 1  # the extra workers left again


def test_a_full_pool_makes_callers_wait_then_refuses() -> None:
    release = threading.Event()

    def blocking(call: HostCall) -> Any:
        release.wait(10)
        return None

    settings = SandboxSettings(workers=1, queue_seconds=0.2, wall_seconds=10, max_wall_seconds=10)
    with SandboxPool(settings) as own:
        holder = threading.Thread(target=lambda: own.script("get('x', 'y')", handler=blocking))
        holder.start()
        while not own.stats().busy_pids:
            time.sleep(0.01)
        with pytest.raises(SandboxError) as caught:
            own.condition("True")
        assert caught.value.reason == "busy"
        release.set()
        holder.join(10)
        assert own.condition("True").value is True


def test_a_stopped_pool_refuses_runs() -> None:
    own = SandboxPool(SandboxSettings(workers=1))
    own.start()
    own.stop()
    with pytest.raises(SandboxError) as caught:
        own.condition("True")
    assert caught.value.reason == "stopped"
    assert own.stats().workers == 0


def test_workers_are_recycled_after_their_runs() -> None:
    with SandboxPool(SandboxSettings(workers=1, runs_per_worker=3)) as own:
        pids = []
        for _ in range(7):
            own.condition("True")
            pids.append(own.stats().pids)
        assert len(set(pids)) == 3  # runs 1-3, 4-6, 7
        assert own.stats().started == 3


def test_too_many_calls_in_one_run_are_refused() -> None:
    with SandboxPool(SandboxSettings(workers=1, max_calls=3)) as own:
        source = """
n = 0
try:
    for i in range(10):
        get('customer', 'c1')
        n += 1
except RecordError as e:
    log(e.code)
record['n'] = n
"""
        result = own.script(source, RuleInputs(record={}), handler=Host())
        assert result.value == {"n": 3}
        assert result.log == ("LIMIT_EXCEEDED",)


def test_an_answer_over_the_message_limit_is_refused_to_the_rule() -> None:
    with SandboxPool(SandboxSettings(workers=1, max_message_bytes=10_000)) as own:
        result = own.script(
            "try:\n    get('x', 'y')\nexcept RecordError as e:\n    log(e.code)",
            handler=lambda call: {"blob": "x" * 20_000},
        )
        assert result.log == ("LIMIT_EXCEEDED",)
        with pytest.raises(SandboxError) as caught:
            own.script("x = 1", RuleInputs(record={"blob": "x" * 20_000}))
        assert caught.value.reason == "input"
        with pytest.raises(SandboxError) as caught:
            own.script("record['blob'] = 'x' * 20000", RuleInputs(record={}))
        assert caught.value.reason == "result"
        assert "10000 byte limit" in caught.value.message
        assert_serves(own)


def _worker_environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if item)


def test_workers_hold_no_secrets_and_no_inherited_descriptors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XRM_DATABASE_URL", "postgresql+psycopg://app:secret@db/xrm")
    monkeypatch.setenv("XRM_SECRET_KEY", "not-for-rules")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:secret@db/xrm")
    read_end, write_end = os.pipe()
    os.set_inheritable(read_end, True)  # a descriptor the server would leak if it could
    secret_file = os.open(__file__, os.O_RDONLY)
    os.set_inheritable(secret_file, True)
    try:
        with SandboxPool(SandboxSettings(workers=1)) as own:
            assert own.condition("True").value is True  # the worker is past its start-up
            (pid,) = own.stats().pids
            env = _worker_environment(pid)
            assert set(env) <= {"PATH", "LANG", "LC_ALL", "TZ"}
            assert "secret" not in "".join(env.values())
            targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            assert not [t for t in targets if t.startswith("socket:")]
            assert __file__ not in targets
            assert len([t for t in targets if t.startswith("pipe:")]) == 2
            assert set(targets) - {t for t in targets if t.startswith("pipe:")} <= {
                "/dev/null",
                f"/proc/{pid}/statm",
            }
            limits = Path(f"/proc/{pid}/limits").read_text()
            for name in ("Max core file size", "Max file size", "Max processes"):
                assert re.search(rf"^{name} +0 +0 ", limits, re.M), name
            assert re.search(r"^Max open files +32 +32 ", limits, re.M)
            assert own.condition("True").value is True
    finally:
        os.close(read_end)
        os.close(write_end)
        os.close(secret_file)


def test_a_run_takes_a_ready_worker_rather_than_wait_for_a_new_one(tmp_path: Path) -> None:
    slow = tmp_path / "slow"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\n[ -e "{slow}" ] && sleep 5\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    settings = SandboxSettings(workers=2, runs_per_worker=2)
    with SandboxPool(settings, python=str(python)) as own:
        originals = set(own.stats().pids)
        slow.touch()  # from now on a new worker takes seconds to start

        def running_pid(call: HostCall) -> Any:
            return own.stats().busy_pids[0]

        def run() -> int:
            source = "record['pid'] = get('worker', 'pid')"
            return int(own.script(source, RuleInputs(record={}), handler=running_pid).value["pid"])

        first, second = run(), run()  # the second run retires the first worker
        assert first == second
        third = run()
        assert third in originals and third != first  # not the replacement, still starting


@pytest.mark.parametrize("attempt", range(3))
def test_first_runs_from_many_threads_share_a_starting_worker(attempt: int) -> None:
    """A server's first requests arrive together: one starts the pool and waits for its
    worker while the others take that same worker; none may read its pipe at the same time
    (found under load: ``RuntimeError: concurrent poll() invocation``)."""
    own = SandboxPool(SandboxSettings(workers=1, queue_seconds=30))
    gate = threading.Barrier(6)
    answers: list[Any] = []
    errors: list[BaseException] = []

    def first_run() -> None:
        gate.wait()
        try:
            own.start()
            answers.append(own.condition("1 + 1").value)
        except BaseException as exc:  # any error is the failure here
            errors.append(exc)

    threads = [threading.Thread(target=first_run) for _ in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        own.stop()
    assert errors == [] and answers == [True] * 6
