"""What the sandbox tests share: tight limits, and a normal rule proving a pool still serves."""

from __future__ import annotations

from xrm.schemas.workflows import Limits
from xrm.workflows.pool import RuleInputs, SandboxPool

# Limits small enough that a runaway rule costs a test a quarter of a second.
TIGHT = Limits(cpu_seconds=0.25, wall_seconds=5.0, memory_mb=64)

# Touches every piece of state a hostile rule might have tried to poison.
NORMAL = """
import json, decimal, math, re
total = 0
for i in range(10):
    total += i
record['total'] = total
record['json'] = json.dumps({'b': 1, 'a': [1, 2]}, sort_keys=True)
record['third'] = str(decimal.Decimal(1) / decimal.Decimal(3))
record['abs'] = abs(-2)
record['sqrt'] = math.sqrt(16)
record['match'] = bool(re.match('a+', 'aaa'))
record['sorted'] = sorted([3, 1, 2])
record['seen'] = sorted(k for k in record)
log('ok', total)
"""
NORMAL_RESULT = {
    "n": 1,
    "total": 45,
    "json": '{"a": [1, 2], "b": 1}',
    "third": "0.3333333333333333333333333333",
    "abs": 2,
    "sqrt": 4.0,
    "match": True,
    "sorted": [1, 2, 3],
    "seen": ["abs", "json", "match", "n", "sorted", "sqrt", "third", "total"],
}


def assert_serves(pool: SandboxPool) -> None:
    """A normal script gives exactly its normal result: nothing of an earlier run is left."""
    result = pool.script(NORMAL, RuleInputs(record={"n": 1}))
    assert result.value == NORMAL_RESULT
    assert result.log == ("ok 45",)
    assert pool.condition("record['n'] == 1 and abs(-1) == 1", RuleInputs(record={"n": 1})).value
