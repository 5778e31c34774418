"""A corpus of escape and abuse attempts: each fails cleanly, and the pool serves right after.

Every attempt comes from a known way out of Python sandboxes (RestrictedPython's
advisories, Frappe's and Odoo's histories, shared/notes/sandbox.md) or a known
way to hurt a host (loops, bombs, floods). Each must end in a SandboxError whose
reason and message say what happened, and which never shows host internals;
those refused when compiled are refused when a workflow is defined as well.
After each, a normal rule must give exactly its normal result, so nothing the
attempt did survives into the next run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sandbox_helpers import TIGHT, assert_serves

from xrm.schemas.rule_code import rule_problems
from xrm.workflows.errors import SandboxError
from xrm.workflows.pool import RuleInputs, SandboxPool

pytest_plugins = ["sandbox_pool"]


@dataclass(frozen=True)
class Attempt:
    name: str
    source: str
    reason: str  # the SandboxError reason it must end with
    says: str  # a piece of the message a user gets
    mode: str = "exec"


CORPUS = [
    # ---- attribute chains to object.__subclasses__ ----
    Attempt(
        "subclasses via tuple",
        "().__class__.__bases__[0].__subclasses__()",
        "compile",
        '"__class__"',
    ),
    Attempt(
        "subclasses via record",
        "record.__class__.__mro__[-1].__subclasses__()",
        "compile",
        "starts with",
    ),
    Attempt("fullwidth underscores", "x = record.＿＿class＿＿", "compile", "invalid character"),
    Attempt("dunder in an f-string", 'x = f"{record.__class__}"', "compile", '"__class__"'),
    Attempt("object by name", "x = object.__subclasses__()", "compile", "'object' is not defined"),
    Attempt(
        "getattr to __class__", "x = getattr(record, '__class__')", "error", "available to rules"
    ),
    Attempt(
        "getattr to mro", "x = getattr(getattr(1, 'real'), 'mro')", "error", "available to rules"
    ),
    Attempt(
        "guard replaced by a parameter",
        "def f(_getattr_, /):\n    return 1",
        "compile",
        "_getattr_",
    ),
    Attempt("guard replaced by assignment", "_write_ = None", "compile", "_write_"),
    Attempt("builtins by name", "b = __builtins__", "compile", "__builtins__"),
    # ---- format strings that walk attributes ----
    Attempt("str.format", "x = '{0.__class__}'.format(record)", "error", "'format'"),
    Attempt("str.format_map", "x = '{a.__class__}'.format_map({'a': 1})", "error", "'format_map'"),
    Attempt("str.format on the class", "x = str.format('{0.__class__}', 1)", "error", "'format'"),
    Attempt(
        "string.Formatter",
        "import string\nstring.Formatter().get_field('0.__class__', [1], {})",
        "compile",
        "'string'",
    ),
    Attempt("format builtin", "x = format(record, '')", "compile", "'format' is not defined"),
    # ---- generator and coroutine frames ----
    Attempt(
        "gi_frame", "g = (i for i in [1])\nf = g.gi_frame.f_back.f_globals", "compile", "gi_frame"
    ),
    Attempt(
        "gi_frame by getattr",
        "x = getattr((i for i in [1]), 'gi_frame')",
        "error",
        "available to rules",
    ),
    Attempt("generator send", "g = (i for i in [1])\ng.send(None)", "error", "'send'"),
    Attempt("generator function", "def g():\n    yield 1\nx = g()", "compile", "generators"),
    Attempt("yield in a lambda", "f = lambda: (yield)", "compile", "generators"),
    Attempt("coroutine", "async def c():\n    pass", "compile", "AsyncFunctionDef"),
    # ---- traceback frames through exceptions ----
    Attempt(
        "__traceback__",
        "try:\n    1 / 0\nexcept Exception as e:\n    f = e.__traceback__.tb_frame",
        "compile",
        "__traceback__",
    ),
    Attempt(
        "with_traceback",
        "try:\n    1 / 0\nexcept Exception as e:\n    e.with_traceback(None)",
        "error",
        "'with_traceback'",
    ),
    Attempt(
        "AttributeError.obj",
        "try:\n    record.nope\nexcept AttributeError as e:\n    m = e.obj",
        "error",
        "'obj'",
    ),
    Attempt("except star", "try:\n    pass\nexcept* ValueError:\n    pass", "compile", "except*"),
    # ---- type, vars, dir, globals, eval ----
    Attempt("type()", "t = type(record)", "compile", "'type' is not defined"),
    Attempt("vars()", "v = vars()", "compile", "'vars' is not defined"),
    Attempt("dir()", "d = dir(record)", "compile", "'dir' is not defined"),
    Attempt("globals()", "g = globals()", "compile", "'globals' is not defined"),
    Attempt("eval()", "x = eval('1')", "compile", "Eval calls are not allowed"),
    Attempt("exec()", "exec('x = 1')", "compile", "Exec calls are not allowed"),
    Attempt("compile()", "c = compile('1', 'x', 'eval')", "compile", "'compile' is not defined"),
    Attempt(
        "class with __getattr__",
        "class A:\n    def __getattr__(self, n):\n        return n",
        "compile",
        "class definitions",
    ),
    Attempt(
        "match statement", "match record:\n    case {'a': 1}:\n        pass", "compile", "Match"
    ),
    # ---- imports, operator and functools, module views ----
    Attempt("import os", "import os\nos.system('true')", "compile", "module 'os' is not available"),
    Attempt("import sys", "import sys\nsys.setrecursionlimit(10 ** 6)", "compile", "module 'sys'"),
    Attempt("__import__", "os = __import__('os')", "compile", "__import__"),
    Attempt(
        "operator.attrgetter",
        "import operator\noperator.attrgetter('__class__')(record)",
        "compile",
        "'operator'",
    ),
    Attempt("functools", "from functools import reduce", "compile", "'functools'"),
    Attempt("importlib", "import importlib", "compile", "'importlib'"),
    Attempt("a submodule", "import os.path", "compile", "'os.path'"),
    Attempt("relative import", "from . import x", "compile", "'.'"),
    Attempt("from re import enum", "from re import enum", "compile", "re.enum is not available"),
    Attempt("from datetime import sys", "from datetime import sys", "compile", "datetime.sys"),
    Attempt("re.enum.sys", "import re\nx = re.enum.sys", "error", "re.enum is not available"),
    Attempt("datetime.sys", "import datetime\nx = datetime.sys.modules", "error", "datetime.sys"),
    Attempt(
        "json.codecs.builtins", "import json\nx = json.codecs.builtins", "error", "json.codecs"
    ),
    Attempt(
        "statistics.random",
        "import statistics\nstatistics.random.seed(1)",
        "error",
        "statistics.random",
    ),
    Attempt(
        "module loader by getattr",
        "import math\nx = getattr(math, '__loader__')",
        "error",
        "available to rules",
    ),
    Attempt("json encoder class", "import json\njson.dumps({}, cls=dict)", "error", "'cls'"),
    Attempt(
        "json decoder hook",
        "import json\njson.loads('{}', object_hook=print)",
        "error",
        "'object_hook'",
    ),
    Attempt("pattern scanner", "import re\nre.compile('a').scanner('a')", "error", "'scanner'"),
    # ---- open, the environment, waiting ----
    Attempt("open", "x = open('/etc/passwd').read()", "compile", "'open' is not defined"),
    Attempt("os.environ", "import os\nx = os.environ['XRM_DATABASE_URL']", "compile", "'os'"),
    Attempt("sleep", "import time\ntime.sleep(10)", "compile", "'time'"),
    Attempt("with a context manager", "with record as r:\n    pass", "compile", "with statements"),
    # ---- state left for the next run ----
    Attempt("patch json.dumps", "import json\njson.dumps = None", "error", "cannot be changed"),
    Attempt(
        "decimal context",
        "import decimal\ndecimal.getcontext().prec = 2",
        "error",
        "decimal.getcontext",
    ),
    Attempt(
        "patch a class", "import decimal\ndecimal.Decimal.prec = 2", "error", "cannot be changed"
    ),
    Attempt("patch a function", "def f():\n    pass\nf.x = 1", "error", "cannot be changed"),
    Attempt("patch a builtin's attribute", "len.x = 1", "error", "cannot be changed"),
    # ---- bombs and recursion ----
    Attempt("exponent bomb", "x = 10 ** 10 ** 10", "error", "would have more than"),
    Attempt("pow bomb", "x = pow(2, 10 ** 9)", "error", "would have more than"),
    Attempt("in-place pow bomb", "x = 7\nx **= 10 ** 8", "error", "would have more than"),
    Attempt("huge range", "for i in range(10 ** 12):\n    pass", "error", "range() of more than"),
    Attempt("endless iter()", "x = list(iter(int, 1))", "error", "TypeError"),
    Attempt(
        "deep recursion", "def f(n):\n    return f(n + 1)\nf(0)", "error", "recursed too deeply"
    ),
    Attempt(
        "json nesting bomb",
        "import json\njson.loads('[' * 100000 + ']' * 100000)",
        "error",
        "recursed too deeply",
    ),
    Attempt("digits bomb", "x = int('9' * 100000)", "error", "ValueError"),
    Attempt(
        "huge message to the host",
        "create('task', {'title': 'x' * 2000000})",
        "error",
        "byte limit",
    ),
    # ---- results that cannot leave ----
    Attempt("generator as result", "record['x'] = (i for i in range(10))", "result", "generator"),
    Attempt("map as result", "record['x'] = map(str, [1])", "result", "map"),
    Attempt("generator as condition", "(i for i in [1])", "result", "True or False", mode="eval"),
    Attempt("record contains itself", "record['self'] = record", "result", "contains itself"),
    Attempt("module as result", "import math\nrecord['m'] = math", "result", "ModuleView"),
    Attempt("function as result", "record['f'] = len", "result", "builtin_function_or_method"),
    Attempt("NaN as result", "record['x'] = float('nan')", "result", "nan"),
    Attempt("huge int as result", "record['x'] = 2 ** 200", "result", "64 bits"),
    Attempt("huge result", "record['x'] = 'x' * 2000000", "result", "byte limit"),
    Attempt("record replaced", "record = [1, 2]", "result", "must stay a dict"),
    # ---- CPU ----
    Attempt("endless loop", "while True:\n    pass", "cpu", "CPU time"),
    Attempt(
        "loop that swallows errors",
        "while True:\n    try:\n        1 / 0\n    except:\n        pass",
        "cpu",
        "CPU time",
    ),
    Attempt(
        "catastrophic regex", "import re\nre.match('(a+)+$', 'a' * 64 + 'b')", "cpu", "CPU time"
    ),
    Attempt("factorial bomb", "import math\nx = math.factorial(10 ** 7)", "cpu", "CPU time"),
    # ---- memory ----
    Attempt("huge string", "x = 'a' * 10 ** 9", "memory", "64 MB"),
    Attempt("huge list", "x = [0] * 10 ** 9", "memory", "64 MB"),
    Attempt("growing list", "x = []\nwhile True:\n    x.append(' ' * 1000000)", "memory", "64 MB"),
    Attempt(
        "memory error swallowed",
        "x = []\nwhile True:\n    try:\n        x.append(' ' * 1000000)\n"
        "    except:\n        x = x + x",
        "memory",
        "64 MB",
    ),
]


def test_the_corpus_is_large_and_named_uniquely() -> None:
    assert len(CORPUS) >= 40
    assert len({a.name for a in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("attempt", CORPUS, ids=[a.name for a in CORPUS])
def test_an_attempt_fails_cleanly_and_the_pool_keeps_serving(
    pool: SandboxPool, attempt: Attempt
) -> None:
    with pytest.raises(SandboxError) as caught:
        pool.run(attempt.mode, attempt.source, RuleInputs(record={"n": 1}), limits=TIGHT)  # type: ignore[arg-type]
    error = caught.value
    assert (error.reason, attempt.says in error.message) == (attempt.reason, True), error.message
    assert error.code == "RULE_FAILED"
    for leak in ("Traceback", "/site-packages/", "xrm/workflows", 'File "'):
        assert leak not in error.message
    if attempt.reason == "compile":
        assert rule_problems(attempt.source, attempt.mode)  # type: ignore[arg-type]
    assert_serves(pool)
