"""A stateful fuzz of definition changes against a model of every stored value (issue 10, 24).

Hypothesis walks one entity type through random steps: records are inserted,
and properties are added (with or without a default), removed (retired, or
purged with ``confirmDataLoss``), given another kind, made required or not,
put in a unique set, given a default, and defined again after being retired.
The model holds every stored value, retired ones included, and knows what
each change may do to it:

* a new property holds its default in every stored record, else nothing;
* a retired property keeps its values; defining it again brings them back;
  only a purge confirmed by the change that removes it drops them;
* a conversion keeps every value exactly: the new value, read in the old
  kind, is the old value (checked here by the test's own spelling rules, not
  by the code under test);
* a required property never holds nothing once a change is accepted.

After each step the stored records must equal the model. Each change is
first made as a dry run, which must change nothing and plan exactly what
applying then does (or be refused the same way); a refused change must
leave everything as it was. Any other error (the database's own) fails.

Derandomized and bounded so that it runs in seconds on either database;
the walk found every fault of point 24 before they were fixed.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from test_definition_changes import insert

from xrm.entities.registry import Registry
from xrm.errors import ConfirmationRequired, DefinitionError
from xrm.platform.db import Database

SCHEMAS: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "email": {"type": "string", "format": "email"},
    "integer": {"type": "integer"},
    "int64": {"type": "integer", "format": "int64"},
    "number": {"type": "number"},
    "decimal": {"type": "string", "format": "decimal"},
    "date": {"type": "string", "format": "date"},
    "boolean": {"type": "boolean"},
    "array": {"type": "array", "items": {"type": "string"}},
    "object": {"type": "object"},
    "ref": {"type": "string"},  # x-xrm-ref to the type itself, filled in per machine
}
# Stored values per kind (their normal forms), chosen to sit on the edges of conversions.
VALUES: dict[str, list[Any]] = {
    "text": [
        "1",
        "007",
        "1e3",
        "1,5",
        "-12.5",
        "1.50",
        "12345678901234567890",
        "2024-01-05",
        "20240105",
        "A@x.org",
        "a@x.org",
        "true",
        '["a"]',
        '{"a":1}',
    ],
    "email": ["a@x.org", "b@y.org"],
    "integer": [0, 1, 7, -3, 2_000_000_000],
    "int64": [2**53 + 1, 2**53, 5, -(2**62)],
    "number": [0.1, 1.0, 2.5, 1e16, 1234.5],
    "decimal": [Decimal("12345678901234567.89"), Decimal("1.50"), Decimal("0.1"), Decimal("7")],
    "date": [dt.date(2024, 1, 5), dt.date(1999, 12, 31)],
    "boolean": [True, False],
    "array": [["a"], [], ["a", "b"]],
    "object": [{"a": 1}, {}, {"b": [1, None]}],
}
# (as written in a definition, as stored)
DEFAULTS: dict[str, tuple[Any, Any]] = {
    "text": ("007", "007"),
    "email": ("a@x.org", "a@x.org"),
    "integer": (7, 7),
    "int64": (5, 5),
    "number": (0.1, 0.1),
    "decimal": ("1.50", Decimal("1.50")),
    "date": ("2024-01-05", dt.date(2024, 1, 5)),
    "boolean": (True, True),
    "array": (["a"], ["a"]),
    "object": ({"a": 1}, {"a": 1}),
}
# Where a conversion may keep every value: a change of kind mostly picks one of these.
CONVERTIBLE: dict[str, list[str]] = {
    "text": ["integer", "int64", "number", "decimal", "date", "email", "boolean", "object"],
    "email": ["text"],
    "integer": ["int64", "number", "decimal", "boolean", "text"],
    "int64": ["integer", "number", "decimal", "text"],
    "number": ["integer", "int64", "decimal", "text"],
    "decimal": ["integer", "int64", "number", "text"],
    "date": ["text"],
    "boolean": ["text"],
    "array": ["text"],
    "object": ["text"],
    "ref": ["text"],
}
NAMES = ("a", "b", "x", "x_id")  # x may be a reference, whose column is x_id
KINDS = st.sampled_from(sorted(SCHEMAS))
TEXTUAL = frozenset({"text", "email"})
NUMERIC = frozenset({"integer", "int64", "number", "decimal"})
TYPE_NAMES = itertools.count()
TOUCHED = ("state", "entity_types", "relationships", "roles", "audit")


def spelled(kind: str, value: Any) -> str:
    """The test's own idea of a value's one text spelling (not the code under test's)."""
    if kind in ("array", "object"):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if kind == "decimal":
        return format(value, "f")
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "number":
        return repr(value)
    if kind == "date":
        return str(value.isoformat())
    return str(value)


def exact(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def preserved(old_kind: str, old: Any, new_kind: str, new: Any) -> bool:
    """Whether ``new`` (of ``new_kind``) is exactly the value ``old`` (of ``old_kind``) was."""
    if old_kind == new_kind:
        return bool(old == new)
    if new_kind in TEXTUAL:
        if old_kind in TEXTUAL:
            return bool(new == (old.lower() if new_kind == "email" else old))
        return bool(new == spelled(old_kind, old))
    if old_kind in NUMERIC and new_kind in NUMERIC:
        return exact(old) == exact(new)
    if old_kind in NUMERIC and new_kind == "boolean":
        return old in (0, 1) and new is bool(old)
    if old_kind in TEXTUAL:
        if new_kind in NUMERIC:
            try:
                same = Decimal(old) == exact(new)
            except InvalidOperation:
                return False
            return same and (new_kind == "number" or spelled(new_kind, new) == old)
        if new_kind in ("date", "boolean"):
            return spelled(new_kind, new) == old
        if new_kind == "array":
            return bool(new == [old])
        if new_kind == "object":
            return bool(new == json.loads(old))
    return False  # any other conversion that was accepted changed what the value is


class DefinitionWalk(RuleBasedStateMachine):
    """One entity type, its records and a model of every stored value."""

    def __init__(self, registry: Registry, db: Database, snapshot: Callable[..., Any]) -> None:
        super().__init__()
        self.registry, self.db, self.snapshot = registry, db, snapshot
        self.name = f"walk{next(TYPE_NAMES)}"
        self.touched = [f"e_{self.name}", *(f"xrm_{t}" for t in TOUCHED)]
        self.kinds: dict[str, str] = {}  # active properties
        self.defaults: dict[str, Any] = {}  # property -> default as written
        self.retired: dict[str, str] = {}  # retired properties and their kinds
        self.required: set[str] = set()
        self.unique: list[list[str]] = []
        self.records: dict[str, dict[str, Any]] = {}  # id -> property -> stored value

    @initialize(first=KINDS, second=KINDS)
    def define_the_type(self, first: str, second: str) -> None:
        self.kinds = {"a": first if first != "ref" else "text", "x_id": second}
        if second == "ref":
            self.kinds = {"a": self.kinds["a"], "x": "ref"}
        self.registry.apply([self.definition()])

    # --- the definition the model stands for ---

    def schema(self, kind: str, name: str) -> dict[str, Any]:
        schema = copy.deepcopy(SCHEMAS[kind])
        if kind == "ref":
            schema["x-xrm-ref"] = {"entity": self.name, "onDelete": "set_null"}
        if name in self.defaults:
            schema["default"] = self.defaults[name]
        return schema

    def definition(
        self,
        kinds: dict[str, str] | None = None,
        required: set[str] | None = None,
        unique: list[list[str]] | None = None,
    ) -> dict[str, Any]:
        kinds = self.kinds if kinds is None else kinds
        required = self.required if required is None else required
        unique = self.unique if unique is None else unique
        definition: dict[str, Any] = {
            "type": "object",
            "x-xrm": {"name": self.name, "plural": f"{self.name}s"},
            "properties": {n: self.schema(k, n) for n, k in sorted(kinds.items())},
        }
        if [n for n in sorted(required) if n in kinds]:
            definition["required"] = [n for n in sorted(required) if n in kinds]
        groups = [g for g in unique if all(n in kinds for n in g)]
        if groups:
            definition["x-xrm"]["unique"] = groups
        return definition

    # --- reading the database ---

    def stored(self) -> dict[str, dict[str, Any]]:
        catalog = self.registry.current()
        et, table = catalog.types[self.name], catalog.tables[self.name]
        props = {**et.retired, **et.properties}
        with self.db.read() as conn:
            rows = conn.execute(sa.select(table)).mappings().all()
        return {
            str(row["id"]): {n: row[p.column] for n, p in props.items() if p.column in row}
            for row in rows
        }

    # --- one change, dry run first ---

    def change(self, definition: dict[str, Any], confirm: bool = False) -> Any:
        """Dry-run then apply; the plan when applied, None when refused (all checked)."""
        before = self.snapshot(self.touched)
        try:
            planned = self.registry.define(definition, dry_run=True, confirm_data_loss=confirm)
        except (DefinitionError, ConfirmationRequired) as refused:
            assert self.snapshot(self.touched) == before
            try:
                self.registry.define(definition, confirm_data_loss=confirm)
            except type(refused) as again:
                assert str(again) == str(refused)
            else:
                raise AssertionError(f"the dry run refused what applying accepted: {refused}")
            assert self.snapshot(self.touched) == before
            return None
        assert self.snapshot(self.touched) == before, "a dry run changed the database"
        if planned.blocked:
            try:
                self.registry.define(definition, confirm_data_loss=confirm)
            except DefinitionError as error:
                assert list(error.faults) == planned.faults()
                assert set(error.extensions["records"]) <= set(self.records)
            else:
                raise AssertionError("a blocked dry run was applied")
            assert self.snapshot(self.touched) == before
            return None
        applied = self.registry.define(definition, confirm_data_loss=confirm)
        assert applied.describe() == planned.describe()
        return applied

    def accept(
        self,
        kinds: dict[str, str],
        required: set[str],
        unique: list[list[str]],
        confirm: bool = False,
        defaults: dict[str, Any] | None = None,
    ) -> None:
        """Propose the model changed to these; on success check every value and adopt them."""
        old_defaults = self.defaults
        self.defaults = old_defaults if defaults is None else defaults
        plan = self.change(self.definition(kinds, required, unique), confirm)
        if plan is None:
            self.defaults = old_defaults
            return
        stored = self.stored()
        assert set(stored) == set(self.records)
        retired = dict(self.retired)
        for name, kind in self.kinds.items():
            if name not in kinds and not confirm:
                retired[name] = kind
        for name in list(retired):
            if name in kinds:
                del retired[name]
        for record_id, values in self.records.items():
            now = stored[record_id]
            for name, kind in kinds.items():
                was_kind = self.kinds.get(name) or self.retired.get(name)
                if was_kind is None:  # new: its default, else nothing
                    expected = DEFAULTS[kind][1] if name in self.defaults else None
                    assert now[name] == expected, (name, now[name], expected)
                elif values.get(name) is None:
                    assert now[name] is None, (name, now[name])
                else:
                    assert preserved(was_kind, values[name], kind, now[name]), (
                        f"{name}: {was_kind} {values[name]!r} became {kind} {now[name]!r}"
                    )
                values[name] = now[name]
            for name in list(values):
                if name not in kinds and name not in retired:
                    del values[name]  # purged
        for step in plan.steps:
            if step.action == "add_column" and step.prop.has_default:
                assert "filling the stored records with its default" in str(step)
        self.kinds, self.required, self.unique, self.retired = kinds, required, unique, retired
        self.defaults = {n: d for n, d in self.defaults.items() if n in kinds}

    # --- rules ---

    def column(self, name: str) -> str:
        return f"{name}_id" if self.kinds.get(name) == "ref" else name

    def kinds_for(self, name: str, besides: str | None = None) -> list[str]:
        """The kinds ``name`` may take (only ``x`` may be a reference), ``besides`` left out."""
        likely = CONVERTIBLE[besides] * 3 if besides else ["ref"] * 4 if name == "x" else []
        return [
            k for k in [*likely, *sorted(SCHEMAS)] if k != besides and (k != "ref" or name == "x")
        ]

    @rule(data=st.data(), count=st.integers(1, 3))
    def insert_records(self, data: st.DataObject, count: int) -> None:
        for _ in range(count):
            row: dict[str, Any] = {}
            for name, kind in sorted(self.kinds.items()):
                choices = sorted(self.records) if kind == "ref" else VALUES[kind]
                if name not in self.required:
                    choices = [None, *choices]
                if not choices:
                    return  # a required reference with nothing to point at
                row[self.column(name)] = data.draw(st.sampled_from(choices), label=name)
            try:
                [record_id] = insert(self.registry, self.db, self.name, row)
            except sa.exc.IntegrityError:
                continue  # a unique set refused it; nothing was stored
            values = {name: row[self.column(name)] for name in self.kinds}
            self.records[record_id] = values | dict.fromkeys(self.retired)

    @precondition(lambda self: bool(self.records) and bool(self.kinds))
    @rule(data=st.data())
    def fix_records(self, data: st.DataObject) -> None:
        """Give one property the same value in every record, as someone fixing data would."""
        name = data.draw(st.sampled_from(sorted(self.kinds)), label="fix")
        kind = self.kinds[name]
        choices = sorted(self.records) if kind == "ref" else VALUES[kind]
        if name not in self.required:
            choices = [None, *choices]
        value = data.draw(st.sampled_from(choices), label="to")
        if value is not None and len(self.records) > 1 and any(name in g for g in self.unique):
            return  # would break the unique set
        table = self.registry.current().tables[self.name]
        with self.db.write() as conn:
            conn.execute(table.update().values({self.column(name): value}))
        for values in self.records.values():
            values[name] = value

    @precondition(lambda self: any(n not in self.kinds and n not in self.retired for n in NAMES))
    @rule(data=st.data(), default=st.booleans(), required=st.booleans())
    def add_property(self, data: st.DataObject, default: bool, required: bool) -> None:
        free = [n for n in NAMES if n not in self.kinds and n not in self.retired]
        name = data.draw(st.sampled_from(free), label="add")
        kind = data.draw(st.sampled_from(self.kinds_for(name)), label="kind")
        defaults = dict(self.defaults)
        if default and kind != "ref":
            defaults[name] = DEFAULTS[kind][0]
        needed = self.required | {name} if required else self.required
        self.accept({**self.kinds, name: kind}, needed, self.unique, defaults=defaults)

    @precondition(lambda self: bool(self.kinds))
    @rule(data=st.data(), confirm=st.booleans())
    def remove_property(self, data: st.DataObject, confirm: bool) -> None:
        name = data.draw(st.sampled_from(sorted(self.kinds)), label="remove")
        kinds = {n: k for n, k in self.kinds.items() if n != name}
        self.accept(kinds, self.required - {name}, self.unique, confirm)

    @precondition(lambda self: bool(self.kinds))
    @rule(data=st.data())
    def change_kind(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.kinds)), label="retype")
        kind = data.draw(st.sampled_from(self.kinds_for(name, self.kinds[name])), label="to")
        defaults = {n: d for n, d in self.defaults.items() if n != name}
        self.accept({**self.kinds, name: kind}, self.required, self.unique, defaults=defaults)

    @precondition(lambda self: bool(self.kinds))
    @rule(data=st.data())
    def toggle_required(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.kinds)), label="require")
        self.accept(self.kinds, self.required ^ {name}, self.unique)

    @precondition(lambda self: bool(self.kinds))
    @rule(data=st.data())
    def make_unique(self, data: st.DataObject) -> None:
        names = sorted(n for n, k in self.kinds.items() if k not in ("array", "object"))
        sets = st.lists(st.sampled_from(names), unique=True, max_size=2) if names else st.just([])
        group = data.draw(sets, label="set")
        self.accept(self.kinds, self.required, [sorted(group)] if group else [])

    @precondition(lambda self: any(n not in self.defaults for n in self.kinds))
    @rule(data=st.data())
    def give_a_default(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(n for n in self.kinds if n not in self.defaults)))
        if self.kinds[name] == "ref":
            return
        defaults = {**self.defaults, name: DEFAULTS[self.kinds[name]][0]}
        self.accept(self.kinds, self.required, self.unique, defaults=defaults)

    @precondition(lambda self: bool(self.retired))
    @rule(data=st.data(), required=st.booleans())
    def restore_property(self, data: st.DataObject, required: bool) -> None:
        name = data.draw(st.sampled_from(sorted(self.retired)), label="restore")
        was = self.retired[name]
        kind = data.draw(st.sampled_from([was, was, *self.kinds_for(name, was)]), label="as")
        needed = self.required | {name} if required else self.required
        self.accept({**self.kinds, name: kind}, needed, self.unique)

    # --- after every step ---

    @invariant()
    def the_records_are_the_model(self) -> None:
        stored = self.stored()
        assert set(stored) == set(self.records)
        for record_id, values in self.records.items():
            now = stored[record_id]
            assert set(now) == set(values), (set(now), set(values))
            for name, value in values.items():
                assert now[name] == value, (record_id, name, now[name], value)
                if name in self.required and name in self.kinds:
                    assert value is not None, f"required {name} holds nothing in {record_id}"


def test_definition_changes_keep_every_stored_value(
    registry: Registry, db: Database, snapshot: Callable[..., Any]
) -> None:
    run_state_machine_as_test(
        lambda: DefinitionWalk(registry, db, snapshot),
        settings=settings(
            max_examples=8,
            stateful_step_count=15,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
