"""Rule code: what a workflow's ``when`` and ``script`` may say, checked when they are defined.

A condition is one Python expression and a script is Python statements (CONTRACT
§5). Both are compiled here with RestrictedPython's transformer, extended with
xrm's own refusals, so a bad one is refused at definition time with its line
and column instead of failing later in a worker. The same compiler runs inside
the sandbox workers; this module is pure (no I/O) so the definition layer and
the workers share one set of rules.

What is refused, and why:

- names and attributes starting with ``_`` and the frame/code/generator
  attributes RestrictedPython lists (its guards); ``try/except*``, ``async``,
  ``nonlocal``, ``match`` (RestrictedPython);
- ``class`` (no metaclass tricks, no objects with custom dunders), ``yield``
  (no generator frames, no endless generators as results), ``with`` (no
  context manager is available), ``import`` of anything but :data:`MODULES`
  and of names they do not export;
- names that are neither available to rules (:data:`BUILTIN_NAMES`,
  :data:`RULE_NAMES`) nor assigned anywhere in the code: a typo is found when
  the workflow is saved, not when it first runs.

The compiled code calls guards that the sandbox supplies at run time
(``_getattr_``, ``_getitem_``, ``_write_``, ``_getiter_``, ``_pow_``...); see
``xrm.workflows.guards``. ``x ** y`` becomes ``_pow_(x, y)`` and
``d[k] += v`` is rewritten into guarded reads and writes.
"""

from __future__ import annotations

import ast
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from types import CodeType
from typing import Any, Literal

from RestrictedPython.transformer import (
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
    copy_locations,
)

Mode = Literal["eval", "exec"]
FILENAME = "<rule>"
MAX_SOURCE = 65_536  # characters; a rule is a few lines, a definition is not a program


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Modules a rule may import, and the public names each exposes (nothing else of them).
MODULES: dict[str, tuple[str, ...]] = {
    "math": _words(
        """acos acosh asin asinh atan atan2 atanh cbrt ceil comb copysign cos cosh degrees dist
        e erf erfc exp exp2 expm1 fabs factorial floor fmod frexp fsum gamma gcd hypot inf isclose
        isfinite isinf isnan isqrt lcm ldexp lgamma log log10 log1p log2 modf nan nextafter perm
        pi pow prod radians remainder sin sinh sqrt tan tanh tau trunc ulp"""
    ),
    "re": _words(
        """compile search match fullmatch findall finditer sub subn split escape error
        IGNORECASE I MULTILINE M DOTALL S VERBOSE X ASCII A"""
    ),
    "datetime": _words("date datetime time timedelta timezone MINYEAR MAXYEAR"),
    "decimal": _words(
        """Decimal DecimalException InvalidOperation DivisionByZero ROUND_CEILING ROUND_DOWN
        ROUND_FLOOR ROUND_HALF_DOWN ROUND_HALF_EVEN ROUND_HALF_UP ROUND_UP ROUND_05UP"""
    ),
    "json": ("dumps", "loads", "JSONDecodeError"),
    "statistics": _words(
        """mean fmean geometric_mean harmonic_mean median median_low median_high median_grouped
        mode multimode pstdev pvariance stdev variance quantiles correlation covariance
        linear_regression StatisticsError"""
    ),
}

# Built-in names a rule may use (the sandbox provides exactly these; a test keeps them equal).
BUILTIN_NAMES = frozenset(
    _words("""abs all any bin bool callable chr dict divmod enumerate filter float frozenset getattr
    hasattr hash hex int isinstance issubclass iter len list map max min next oct ord pow range
    repr reversed round set slice sorted str sum tuple zip
    ArithmeticError AssertionError AttributeError Exception IndexError KeyError LookupError
    NameError NotImplementedError OverflowError RecordError RuntimeError StopIteration TypeError
    UnicodeError ValueError ZeroDivisionError""")
)
# The names of CONTRACT §5: the run's inputs and the functions that talk to the host.
RULE_NAMES = frozenset(
    _words("record old event user get find create update link unlink reject log now")
)
# RestrictedPython turns these into its print collector.
_PRINT_NAMES = frozenset({"print", "printed"})


@dataclass(frozen=True, slots=True)
class CodeProblem:
    """One reason rule code was refused, at a 1-based line and column of its source."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class RuleCodeError(ValueError):
    """Rule code that cannot run; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[CodeProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def _column(lines: list[str], line: int, byte_offset: int) -> int:
    """ast offsets count UTF-8 bytes; people count characters."""
    if 1 <= line <= len(lines):
        head = lines[line - 1].encode("utf-8")[:byte_offset]
        return len(head.decode("utf-8", errors="ignore")) + 1
    return byte_offset + 1


class RulePolicy(RestrictingNodeTransformer):
    """RestrictedPython's transformer plus xrm's refusals, recording problems with columns."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines
        self.problems: list[CodeProblem] = []

    def error(self, node: ast.AST, info: str) -> None:
        line = getattr(node, "lineno", None) or 1
        offset = getattr(node, "col_offset", None) or 0
        if isinstance(node, ast.Attribute) and node.end_lineno == line and node.end_col_offset:
            offset = max(offset, node.end_col_offset - len(node.attr.encode("utf-8")))
        self.problems.append(CodeProblem(line, _column(self.lines, line, offset), info))

    def visit_TryStar(self, node: ast.AST) -> Any:
        self.error(node, "try/except* is not available in rules")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.error(node, "class definitions are not available in rules")
        return node

    def visit_Yield(self, node: ast.Yield) -> Any:
        self.error(node, "generators (yield) are not available in rules")
        return node

    def visit_YieldFrom(self, node: ast.YieldFrom) -> Any:
        self.error(node, "generators (yield from) are not available in rules")
        return node

    def visit_With(self, node: ast.With) -> Any:
        self.error(node, "with statements are not available in rules")
        return node

    def visit_Import(self, node: ast.Import) -> Any:
        for alias in node.names:
            if alias.name not in MODULES:
                self.error(node, _module_problem(alias.name))
        return self.check_import_names(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        module = node.module or ""
        if node.level or module not in MODULES:
            self.error(node, _module_problem("." * node.level + module))
        else:
            for alias in node.names:
                if alias.name != "*" and alias.name not in MODULES[module]:
                    self.error(
                        node,
                        f"{module}.{alias.name} is not available in rules "
                        f"(the {module} module offers: {', '.join(MODULES[module])})",
                    )
        return self.check_import_names(node)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        if not isinstance(node.op, ast.Pow):
            return node
        call = ast.Call(
            func=ast.Name("_pow_", ast.Load()), args=[node.left, node.right], keywords=[]
        )
        copy_locations(call, node)
        return call

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        """``d[k] op= v`` becomes guarded reads and writes (RestrictedPython refuses it)."""
        target = node.target
        if not isinstance(target, ast.Subscript):
            return super().visit_AugAssign(node)
        if any(isinstance(n, ast.Slice) for n in ast.walk(target.slice)):
            self.error(node, "augmented assignment to a slice is not allowed")
            return node
        container = self.visit(target.value)
        key = self.visit(target.slice)
        value = self.visit(node.value)
        box, slot = self.gen_tmp_name(), self.gen_tmp_name()
        read = ast.Call(
            func=ast.Name("_getitem_", ast.Load()),
            args=[ast.Name(box, ast.Load()), ast.Name(slot, ast.Load())],
            keywords=[],
        )
        combined = ast.Call(
            func=ast.Name("_inplacevar_", ast.Load()),
            args=[ast.Constant(IOPERATOR_TO_STR[type(node.op)]), read, value],
            keywords=[],
        )
        written = ast.Subscript(
            value=ast.Call(
                func=ast.Name("_write_", ast.Load()), args=[ast.Name(box, ast.Load())], keywords=[]
            ),
            slice=ast.Name(slot, ast.Load()),
            ctx=ast.Store(),
        )
        statements: list[ast.stmt] = [
            ast.Assign(targets=[ast.Name(box, ast.Store())], value=container),
            ast.Assign(targets=[ast.Name(slot, ast.Store())], value=key),
            ast.Assign(targets=[written], value=combined),
        ]
        for statement in statements:
            copy_locations(statement, node)
        return statements


def _module_problem(name: str) -> str:
    return f"module {name!r} is not available in rules (rules may import: {', '.join(MODULES)})"


def _assigned_names(tree: ast.AST) -> set[str]:
    """Every name the code binds anywhere (scope-blind, so it never refuses working code)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) or (
            isinstance(node, ast.ExceptHandler) and node.name
        ):
            names.add(node.name)  # type: ignore[arg-type]
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.partition(".")[0])
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names.update(node.names)
    return names


def _undefined_names(tree: ast.AST, lines: list[str]) -> list[CodeProblem]:
    known = BUILTIN_NAMES | RULE_NAMES | _PRINT_NAMES | _assigned_names(tree)
    problems = []
    reported: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id not in known
            and not node.id.startswith("_")  # RestrictedPython reports those itself
            and node.id not in reported
        ):
            reported.add(node.id)
            problems.append(
                CodeProblem(
                    node.lineno,
                    _column(lines, node.lineno, node.col_offset),
                    f"name {node.id!r} is not defined (it is not available in rules "
                    "and the code never assigns it)",
                )
            )
    return problems


def _compile(source: str, mode: Mode) -> CodeType:
    if not isinstance(source, str):
        raise RuleCodeError([CodeProblem(1, 1, "code must be a string")])
    if len(source) > MAX_SOURCE:
        raise RuleCodeError([CodeProblem(1, 1, f"code is longer than {MAX_SOURCE} characters")])
    lines = source.splitlines() or [""]
    try:
        tree = ast.parse(source, FILENAME, mode)
    except SyntaxError as exc:
        line = exc.lineno or 1
        column = exc.offset or 1
        raise RuleCodeError([CodeProblem(line, column, f"syntax error: {exc.msg}")]) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else "the code is nested too deeply"
        raise RuleCodeError([CodeProblem(1, 1, message)]) from None
    problems = _undefined_names(tree, lines)
    policy = RulePolicy(lines)
    try:
        tree = policy.visit(tree)
        problems = sorted({*policy.problems, *problems}, key=lambda p: (p.line, p.column))
        if problems:
            raise RuleCodeError(problems)
        return compile(tree, FILENAME, mode)
    except (RecursionError, MemoryError):
        raise RuleCodeError([CodeProblem(1, 1, "the code is nested too deeply")]) from None


class _CodeCache:
    """Compiled rules by (mode, SHA-256 of the source): compiling costs ~0.1 ms, a lookup ~1 µs."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[str, str], CodeType | RuleCodeError] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, source: str, mode: Mode) -> CodeType:
        key = (mode, hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest())
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
        if found is None:
            try:
                found = _compile(source, mode)
            except RuleCodeError as exc:
                found = exc
            with self.lock:
                self.entries[key] = found
                while len(self.entries) > self.size:
                    self.entries.popitem(last=False)
        if isinstance(found, RuleCodeError):
            raise RuleCodeError(found.problems)
        return found


_cache = _CodeCache(1024)


def compile_rule(source: str, mode: Mode) -> CodeType:
    """Compile a condition (``eval``) or a script (``exec``); cached; raises RuleCodeError."""
    if not isinstance(source, str):
        raise RuleCodeError([CodeProblem(1, 1, "code must be a string")])
    return _cache.get(source, mode)


def rule_problems(source: str, mode: Mode) -> tuple[CodeProblem, ...]:
    """Why ``source`` cannot run as a rule (empty when it can)."""
    try:
        compile_rule(source, mode)
    except RuleCodeError as exc:
        return exc.problems
    return ()
