"""Rule code is checked when it is defined: refusals carry line and column, good rules compile."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xrm.schemas.rule_code import (
    BUILTIN_NAMES,
    MAX_SOURCE,
    MODULES,
    CodeProblem,
    RuleCodeError,
    compile_rule,
    rule_problems,
)


def problems(source: str, mode: str = "exec") -> list[str]:
    return [str(p) for p in rule_problems(source, mode)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "mode"),
    [
        ("record['severity'] == 'high'", "eval"),
        ("old['status'] != 'closed' and record['status'] == 'closed'", "eval"),
        (
            "if old and old['status'] == 'closed':\n    reject('closed grievances stay closed')",
            "exec",
        ),
        ("import math, re\nfrom datetime import date, timedelta\nx = math.floor(2.5)", "exec"),
        ("d = {}\nd['n'] = 1\nd['n'] += 2\nrecord['tags'][0] += 'x'", "exec"),
        ("total = 0\nfor a, b in [(1, 2)]:\n    total += a * b\nlog(total)", "exec"),
        ("def f(x, *rest, key=None, **more):\n    return x\nprint(f(1))", "exec"),
        (
            "try:\n    get('customer', record['customer'])\nexcept RecordError as e:\n    log(e)",
            "exec",
        ),
        ("x = [n ** 2 for n in range(3) if n]\ny = {k: v for k, v in record.items()}", "exec"),
        ("if (n := len(record)) > 2:\n    log(n)", "exec"),
        ("f'{record[\"id\"]!r:>10}'", "eval"),
    ],
)
def test_rules_in_the_contracts_style_compile(source: str, mode: str) -> None:
    assert problems(source, mode) == []


@pytest.mark.parametrize(
    ("source", "mode", "problem"),
    [
        ("x = (1,\n     2", "exec", "line 1, column 5: syntax error: '(' was never closed"),
        ("x = 1", "eval", "line 1, column 3: syntax error: invalid syntax"),
        ("x = 1\ny = record.__class__", "exec", 'line 2, column 12: "__class__" is an invalid'),
        ("x = 1\n\nimport os", "exec", "line 3, column 1: module 'os' is not available in rules"),
        ("from json import codecs", "exec", "line 1, column 1: json.codecs is not available"),
        ("  \nlog(typo)", "exec", "line 2, column 5: name 'typo' is not defined"),
        ("é = 1; x = y", "exec", "line 1, column 12: name 'y' is not defined"),
        ("class A:\n    pass", "exec", "line 1, column 1: class definitions are not available"),
        ("def g():\n    yield 1", "exec", "line 2, column 5: generators (yield) are not available"),
        ("with record:\n    pass", "exec", "line 1, column 1: with statements are not available"),
        ("record[1:2] += [3]", "exec", "line 1, column 1: augmented assignment to a slice"),
        ("record.x += 1", "exec", "Augmented assignment of attributes is not allowed"),
        ("try:\n    pass\nexcept* ValueError:\n    pass", "exec", "try/except* is not available"),
        ("x = 'nul\0'", "exec", "null bytes"),
    ],
)
def test_bad_code_is_refused_with_line_and_column(source: str, mode: str, problem: str) -> None:
    found = problems(source, mode)
    assert any(problem in p for p in found), found


def test_every_problem_is_listed_in_source_order() -> None:
    found = rule_problems("import os\nx = y.__dict__\nclass C:\n    pass", "exec")
    assert [(p.line, p.column) for p in found] == sorted((p.line, p.column) for p in found)
    assert len(found) == 4  # os, y undefined, __dict__, class


def test_names_assigned_anywhere_count_as_defined() -> None:
    source = (
        "def f(a, /, b, *c, d=1, **e):\n    return a, b, c, d, e, later\n"
        "later = 1\n"
        "try:\n    pass\nexcept ValueError as problem:\n    log(problem)\n"
        "import datetime as dt\nlog(dt, [i for i in range(2)], (lambda q: q)(1))"
    )
    assert problems(source) == []


@pytest.mark.parametrize(
    "source",
    ["a" + ".b" * 30000, "-" * 60000 + "1", "(" * 300 + ")" * 300, "not " * 16000 + "x"],
)
def test_code_nested_absurdly_deep_is_refused_cleanly(source: str) -> None:
    found = rule_problems(source, "eval")
    assert found and found[0].line == 1


def test_code_longer_than_the_limit_is_refused() -> None:
    assert problems("x = 1\n" * (MAX_SOURCE // 6 + 1)) == [
        f"line 1, column 1: code is longer than {MAX_SOURCE} characters"
    ]


def test_compiled_code_is_cached_by_source() -> None:
    source = "record['cached'] = 1"
    assert compile_rule(source, "exec") is compile_rule(source, "exec")
    with pytest.raises(RuleCodeError) as caught:
        compile_rule("import os", "exec")
    assert caught.value.problems == (
        CodeProblem(1, 1, caught.value.problems[0].message),
    )  # a cached refusal is refused again


def test_the_sandbox_offers_exactly_the_names_the_compiler_allows() -> None:
    from xrm.workflows.guards import BUILTINS, EXPORTS

    assert set(BUILTINS) - {"__import__"} == BUILTIN_NAMES
    for module, names in MODULES.items():
        assert set(EXPORTS[module]) == set(names)
        assert not any(name.startswith("_") for name in names)
    assert EXPORTS["math"]["pi"] == math.pi


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_gives_problems_or_code_never_an_exception(text: str) -> None:
    for mode in ("eval", "exec"):
        found = rule_problems(text, mode)  # type: ignore[arg-type]
        for problem in found:
            assert problem.line >= 1 and problem.column >= 1 and problem.message
        if not found:
            compile_rule(text, mode)  # type: ignore[arg-type]
