"""Property tests: scripts and conditions drawn from a grammar of sensible and hostile constructs.

The model: every run either returns plain JSON or raises RuleRejected or a
SandboxError with a known reason; it never outlives its wall-clock limit and
never hurts the host (the pool serves a normal rule right after). A script made
only of sensible fragments always succeeds, and a condition computes exactly
what Python computes for the same expression.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_helpers import assert_serves

from xrm.schemas.rule_code import rule_problems
from xrm.schemas.workflows import Limits
from xrm.workflows.errors import REASONS, RuleRejected, SandboxError
from xrm.workflows.pool import RuleInputs, SandboxPool

pytest_plugins = ["sandbox_pool"]

LIMITS = Limits(cpu_seconds=0.2, wall_seconds=3.0, memory_mb=64)
PRELUDE = "import math, json, decimal, re, datetime, statistics\ntotal = 0\nitems = [3, 1, 2]\n"
RECORD = {"id": "r1", "status": "open", "amount": 12, "tags": ["a", "b"], "note": None}

numbers = st.integers(min_value=0, max_value=999)
SENSIBLE = st.one_of(
    numbers.map(lambda n: f"total = total + {n}"),
    numbers.map(lambda n: f"record['k{n}'] = {n} * 2"),
    numbers.map(lambda n: f"items.append({n})"),
    st.just("items = sorted(items)"),
    numbers.map(lambda n: f"record['s{n}'] = str({n}).zfill(4)"),
    numbers.map(lambda n: f"record['j{n}'] = json.dumps({{'a': {n}}}, sort_keys=True)"),
    numbers.map(lambda n: f"record['d{n}'] = str(decimal.Decimal('{n}.50') * 2)"),
    numbers.map(lambda n: f"record['r{n}'] = math.sqrt({n})"),
    numbers.map(lambda n: f"record['m{n}'] = bool(re.match('[0-9]+', '{n}'))"),
    numbers.map(lambda n: f"if total > {n}:\n    log('big', total)\nelse:\n    total += 1"),
    numbers.map(lambda n: f"for i in range({n % 20}):\n    total += i"),
    numbers.map(lambda n: f"record['t{n}'] = [x * 2 for x in items if x > {n % 5}]"),
    numbers.map(
        lambda n: f"record['w{n}'] = datetime.date(2024, 1, 1) + datetime.timedelta(days={n})"
    ),
    st.just("record['mean'] = statistics.mean(items)"),
    numbers.map(lambda n: f"def f{n}(x):\n    return x + {n}\ntotal = f{n}(total)"),
    st.just("record['total'] = total"),
    numbers.map(lambda n: f"print('line', {n})"),
    st.just("record['tags'] = record['tags'] + ['c']"),
    st.just("record.pop('note', None)"),
)
HOSTILE_CHEAP_TEXTS = (
    "x = ().__class__",
    "x = getattr(record, '__class__')",
    "import os",
    "reject('no')",
    "x = 1 / 0",
    "x = 'a' * 10 ** 9",
    "x = 10 ** 10 ** 10",
    "record['g'] = (i for i in items)",
    "record['self'] = record",
    "def r(n):\n    return r(n)\nr(1)",
    "json.dumps = None",
    "x = '{0.__class__}'.format(1)",
    "x = get('customer', 'c1')",
    "record = None",
    "for i in range(3000):\n    log(i)",
    "record['big'] = 'x' * 2000000",
    "x = type(record)",
    "x = re.enum",
    "try:\n    1 / 0\nexcept Exception as e:\n    x = e.with_traceback",
)
HOSTILE_COSTLY_TEXTS = (
    "while True:\n    pass",
    "x = re.match('(a+)+$', 'a' * 40 + 'b')",
    "x = []\nwhile True:\n    x.append(' ' * 1000000)",
)
HOSTILE_CHEAP = st.sampled_from(HOSTILE_CHEAP_TEXTS)
HOSTILE_COSTLY = st.sampled_from(HOSTILE_COSTLY_TEXTS)
FRAGMENTS = st.one_of(*[SENSIBLE] * 6, HOSTILE_CHEAP, HOSTILE_CHEAP, HOSTILE_COSTLY)


def _run_bounded(pool: SandboxPool, mode: str, source: str) -> tuple[str, Any]:
    """Run in a thread and make sure it ends well after its wall limit at the latest."""
    outcome: list[tuple[str, Any]] = []

    def target() -> None:
        try:
            result = pool.run(mode, source, RuleInputs(record=dict(RECORD)), limits=LIMITS)  # type: ignore[arg-type]
            outcome.append(("done", result))
        except (SandboxError, RuleRejected) as exc:
            outcome.append(("refused", exc))
        except BaseException as exc:  # anything else is a failure of the sandbox
            outcome.append(("crashed", exc))

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(LIMITS.wall_seconds + 30)  # type: ignore[operator]
    assert not thread.is_alive(), f"the run outlived its wall limit: {source!r}"
    return outcome[0]


def _is_sensible(fragment: str) -> bool:
    return fragment not in HOSTILE_CHEAP_TEXTS and fragment not in HOSTILE_COSTLY_TEXTS


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fragments=st.lists(FRAGMENTS, min_size=1, max_size=6))
def test_any_script_ends_in_json_or_a_clear_error(pool: SandboxPool, fragments: list[str]) -> None:
    source = PRELUDE + "\n".join(fragments) + "\n"
    kind, outcome = _run_bounded(pool, "exec", source)
    assert kind != "crashed", repr(outcome)
    if kind == "done":
        assert isinstance(outcome.value, dict)
        assert orjson.loads(orjson.dumps(outcome.value)) == outcome.value
        assert all(isinstance(line, str) for line in outcome.log)
    elif isinstance(outcome, SandboxError):
        assert outcome.reason in REASONS
        assert outcome.message
        if outcome.reason == "compile":
            assert rule_problems(source, "exec")
    else:
        assert "reject('no')" in fragments
    if all(_is_sensible(f) for f in fragments):
        assert kind == "done", f"{source}\n{outcome!r}"
    assert_serves(pool)


# ---- conditions compute what Python computes ----

FIELDS = {"status": st.sampled_from(["open", "closed", ""]), "amount": st.integers(-5, 20)}
comparison = st.one_of(
    st.tuples(st.sampled_from(["==", "!="]), st.sampled_from(["'open'", "'closed'", "''"])).map(
        lambda t: f"record['status'] {t[0]} {t[1]}"
    ),
    st.tuples(st.sampled_from(["<", "<=", ">", ">=", "=="]), st.integers(-5, 20)).map(
        lambda t: f"record['amount'] {t[0]} {t[1]}"
    ),
    st.sampled_from(["'a' in record['tags']", "len(record['tags']) > 1", "record['note'] is None"]),
    st.sampled_from(["old is None", "bool(record.get('missing'))", "record['amount'] % 2 == 0"]),
)
conditions = st.recursive(
    comparison,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda c: f"not {c}"),
    ),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None)
@given(condition=conditions, status=FIELDS["status"], amount=FIELDS["amount"])
def test_a_condition_computes_what_python_computes(
    pool: SandboxPool, condition: str, status: str, amount: int
) -> None:
    record = {**RECORD, "status": status, "amount": amount}
    expected = bool(eval(condition, {"record": record, "old": None}))  # our own grammar
    result = pool.condition(condition, RuleInputs(record=record))
    assert result.value is expected


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet="recod[]'()._ =+-*/%<>!,:0123456789abgtx\n", max_size=40))
def test_any_text_as_a_condition_is_refused_or_run(pool: SandboxPool, text: str) -> None:
    kind, outcome = _run_bounded(pool, "eval", text)
    assert kind != "crashed", repr(outcome)
    if kind == "done":
        assert outcome.value in (True, False)
    elif isinstance(outcome, SandboxError):
        assert outcome.reason in REASONS
        if outcome.reason == "compile":
            assert rule_problems(text, "eval")
