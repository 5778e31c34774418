"""Diff two versions of a definition into a plan of steps, before anything is touched.

The plan is what ``--dry-run`` prints and what the admin UI previews; the
registry then carries it out in one transaction. Steps that may break stored
rows (tightening, converting, new unique sets) are marked ``checks_data`` and
are verified against every row before any DDL runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from xrm.errors import MAX_REPORTED_RECORDS, DefinitionError, Fault
from xrm.schemas.model import EntityType, Property, Relationship
from xrm.schemas.roles import Role
from xrm.schemas.workflows import Workflow

# Keywords that change nothing about which values are valid.
COSMETIC_KEYS = frozenset(
    {"title", "description", "x-xrm-label", "x-xrm-multiline", "x-xrm-enumLabels", "default"}
)


@dataclass(frozen=True, slots=True)
class Step:
    """One change: ``action`` on ``target`` (a type or relationship), maybe on one property."""

    action: str
    target: str
    prop: Property | None = None
    old: Property | None = None
    group: tuple[str, ...] = ()
    checks_data: bool = False
    loses_data: bool = False
    relationship: bool = False

    def __str__(self) -> str:
        what = "relationship" if self.relationship else "type"
        name = self.prop.name if self.prop else (self.old.name if self.old else "")
        texts = {
            "create_table": f"create {what} {self.target}",
            "add_column": f"add {self.target}.{name} ({self.prop.kind if self.prop else ''})"
            + _filling(self.prop),
            "restore_column": f"restore retired {self.target}.{name} with its data",
            "retire_column": f"retire {self.target}.{name} (hidden, data kept)",
            "purge_column": f"PURGE {self.target}.{name} and its data",
            "check_rows": f"check stored {self.target}.{name} against the new rules",
            "convert_column": (
                f"convert {self.target}.{name} from {self.old.kind if self.old else '?'} "
                f"to {self.prop.kind if self.prop else '?'}"
            ),
            "add_unique": f"add unique index on {self.target}({', '.join(self.group)})",
            "drop_unique": f"drop unique index on {self.target}({', '.join(self.group)})",
            "add_index": f"add index on {self.target}({', '.join(self.group)})",
            "drop_index": f"drop index on {self.target}({', '.join(self.group)})",
            "update_definition": f"update the definition of {what} {self.target}",
            "define_role": f"define role {self.target}",
            "define_workflow": f"define workflow {self.target}",
        }
        return texts.get(self.action, f"{self.action} {self.target} {name}")


def _filling(prop: Property | None) -> str:
    """What a new property's default does to the stored records, said in the plan."""
    if prop is None or not prop.has_default or prop.autonumber:
        return ""
    default = prop.default
    shown = repr(default) if isinstance(default, str) else json.dumps(default)
    return f", filling the stored records with its default {shown}"


@dataclass(slots=True)
class Plan:
    """The ordered steps of one apply, and the definitions it will store."""

    steps: list[Step] = field(default_factory=list)
    types: dict[str, EntityType] = field(default_factory=dict)
    relationships: dict[str, Relationship] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    # Steps that stored rows (or the definition itself) stop, by index in ``steps``: the faults.
    refusals: dict[int, tuple[Fault, ...]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.steps

    @property
    def loses_data(self) -> bool:
        return any(step.loses_data for step in self.steps)

    @property
    def blocked(self) -> bool:
        """Whether checking the stored rows stopped some step (the plan cannot be applied)."""
        return bool(self.refusals)

    def faults(self) -> list[Fault]:
        """Every fault of every refused step, in the order of the steps."""
        return [f for index in sorted(self.refusals) for f in self.refusals[index]]

    def blocking_records(self, index: int) -> list[str]:
        """The ids of the records that stop step ``index`` (the first of them per rule)."""
        found = dict.fromkeys(r for f in self.refusals.get(index, ()) for r in f.records)
        return list(found)[:MAX_REPORTED_RECORDS]

    def describe_step(self, index: int) -> str:
        """One step in words; a refused step says why (every broken rule, how many records)."""
        text = str(self.steps[index])
        faults = self.refusals.get(index)
        if faults:
            text += "; blocked: " + "; ".join(str(f) for f in faults)
        return text

    def describe(self) -> list[str]:
        return [self.describe_step(index) for index in range(len(self.steps))]


def _rules(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in COSMETIC_KEYS}


def _property_steps(
    target: str, old: Property, new: Property, *, relationship: bool = False
) -> list[Step]:
    if old.storage != new.storage or (
        old.ref is not None and new.ref is not None and old.ref.entity != new.ref.entity
    ):
        return [
            Step("convert_column", target, new, old, checks_data=True, relationship=relationship)
        ]
    if _rules(old.schema) != _rules(new.schema) or (new.required and not old.required):
        return [Step("check_rows", target, new, old, checks_data=True, relationship=relationship)]
    return []


def _restore_steps(
    target: str, was: Property, prop: Property, *, relationship: bool = False
) -> list[Step]:
    """Restoring a retired property: its old values meet the new rules, and so do the records
    created while it was retired, which hold nothing: a required one is always checked."""
    steps = [Step("restore_column", target, prop, was, relationship=relationship)]
    checks = _property_steps(target, was, prop, relationship=relationship)
    if not checks and prop.required:
        checks = [
            Step("check_rows", target, prop, was, checks_data=True, relationship=relationship)
        ]
    return steps + checks


def _column_clashes(
    new: Mapping[str, Property], retired: Mapping[str, Property], added: Collection[str]
) -> list[Fault]:
    """A new property whose column a retired one still holds (``x_id`` and a reference ``x``).

    The retired column keeps its data until it is purged, so the name is taken:
    refused here, before any DDL, rather than failing in the database.
    """
    holders = {p.column: p.name for p in retired.values()}
    faults = []
    for name in added:
        prop = new[name]
        holder = holders.get(prop.column)
        if holder is not None:
            faults.append(
                Fault(
                    f"properties.{name}",
                    f"its column {prop.column!r} is still held by the retired property "
                    f"{holder!r}, which keeps its data: choose another name, or purge "
                    f"{holder!r} first (define it again, then remove it with confirmDataLoss)",
                )
            )
    return faults


def _property_changes(
    target: str,
    old: Mapping[str, Property],
    retired_before: Mapping[str, Property],
    new: Mapping[str, Property],
    *,
    confirm_data_loss: bool,
    relationship: bool = False,
) -> tuple[list[Step], dict[str, Property]]:
    """Steps for the properties of a type or relationship, and what stays retired.

    A removed property is retired (hidden, data kept); defining it again
    restores it. ``confirm_data_loss`` purges what this change removes, and
    nothing else: a property retired earlier keeps its data until it is
    defined again and then removed with confirmation, so a confirmation given
    for one change never reaches data the person did not see in its plan.
    """
    r = relationship
    steps: list[Step] = []
    retired = dict(retired_before)
    added: list[str] = []
    for name, prop in new.items():
        if name in old:
            steps.extend(_property_steps(target, old[name], prop, relationship=r))
        elif name in retired:
            steps.extend(_restore_steps(target, retired.pop(name), prop, relationship=r))
        else:
            add = Step("add_column", target, prop, checks_data=prop.required, relationship=r)
            steps.append(add)
            added.append(name)
    for name, prop in old.items():
        if name not in new:
            if confirm_data_loss:
                purge = Step("purge_column", target, None, prop, loses_data=True, relationship=r)
                steps.append(purge)
            else:
                steps.append(Step("retire_column", target, None, prop, relationship=r))
                retired[name] = prop
    faults = _column_clashes(new, retired, added)
    if faults:
        raise DefinitionError(faults)
    return steps, retired


def diff_entity_type(
    old: EntityType | None, new: EntityType, *, confirm_data_loss: bool = False
) -> tuple[EntityType, list[Step]]:
    """The steps from ``old`` to ``new``, and ``new`` with its retired properties filled in."""
    if old is None:
        return dataclasses.replace(new, version=1), [Step("create_table", new.name)]
    steps, retired = _property_changes(
        new.name, old.properties, old.retired, new.properties, confirm_data_loss=confirm_data_loss
    )
    old_groups, new_groups = set(old.unique), set(new.unique)
    steps.extend(Step("drop_unique", new.name, group=g) for g in old.unique if g not in new_groups)
    steps.extend(
        Step("add_unique", new.name, group=g, checks_data=True)
        for g in new.unique
        if g not in old_groups
    )
    old_indexes, new_indexes = set(old.indexes), set(new.indexes)
    steps.extend(Step("drop_index", new.name, group=g) for g in old.indexes if g not in new_indexes)
    steps.extend(Step("add_index", new.name, group=g) for g in new.indexes if g not in old_indexes)
    result = dataclasses.replace(new, retired=retired, version=old.version)
    if steps or dict(old.definition) != dict(new.definition):
        if not steps:
            steps.append(Step("update_definition", new.name))
        result = dataclasses.replace(result, version=old.version + 1)
    return result, steps


def diff_relationship(
    old: Relationship | None, new: Relationship, *, confirm_data_loss: bool = False
) -> tuple[Relationship, list[Step]]:
    """The steps from ``old`` to ``new`` for a many-to-many relationship."""
    if old is None:
        return dataclasses.replace(new, version=1), [
            Step("create_table", new.name, relationship=True)
        ]
    steps: list[Step] = []
    if (old.from_entity, old.to_entity) != (new.from_entity, new.to_entity):
        steps.append(Step("relink", new.name, relationship=True, loses_data=True))
    property_steps, retired = _property_changes(
        new.name,
        old.properties,
        old.retired,
        new.properties,
        confirm_data_loss=confirm_data_loss,
        relationship=True,
    )
    steps.extend(property_steps)
    result = dataclasses.replace(new, retired=retired, version=old.version)
    if steps or dict(old.definition) != dict(new.definition):
        if not steps:
            steps.append(Step("update_definition", new.name, relationship=True))
        result = dataclasses.replace(result, version=old.version + 1)
    return result, steps
