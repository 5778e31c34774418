"""Workflow definitions (CONTRACT §5): parsed once into frozen objects, every fault by JSON path.

Like entity types, a workflow passes two checks before anything stores it: the
meta-schema ``meta/workflow.json`` refuses unknown keys and wrong shapes, then
the rules JSON Schema cannot say are checked here: names, which options go
with which trigger and stage, cron expressions and time zones, per-run limits
within the administrator's ceiling, plugin action settings against their own
JSON Schema, and ``when``/``script`` code compiled with the rule compiler
(:mod:`xrm.schemas.rule_code`), refused with line and column.

Checks that need the other definitions (does the entity type exist, is the
relationship real, are the fields of ``set`` fields of the type) are in
:func:`check_workflow`, which takes the catalog's types and relationships, so
the registry calls it whenever either side changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from cronsim import CronSim, CronSimError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from xrm.errors import DefinitionError, Fault
from xrm.schemas.model import EntityType, Relationship
from xrm.schemas.naming import RESERVED_PROPERTIES, name_problem
from xrm.schemas.parse import meta_faults
from xrm.schemas.plugin_formats import plugin_of
from xrm.schemas.rule_code import Mode, rule_problems

TRIGGERS = ("create", "update", "delete", "link", "unlink", "schedule", "manual", "plugin")
# Triggers whose runs have no record: actions on "the triggering record" make no sense there.
RECORDLESS = frozenset({"delete", "schedule", "plugin"})
STAGES = ("before", "after", "async")
BUILTIN_ACTIONS = ("set", "create", "update", "link", "unlink", "reject", "script")
DEFAULT_STAGE = "after"
DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-run sandbox limits; ``None`` means "the administrator's default"."""

    cpu_seconds: float | None = None
    wall_seconds: float | None = None
    memory_mb: int | None = None

    def over(self, defaults: Limits) -> Limits:
        """These limits with every unset one taken from ``defaults``."""
        return Limits(
            self.cpu_seconds if self.cpu_seconds is not None else defaults.cpu_seconds,
            self.wall_seconds if self.wall_seconds is not None else defaults.wall_seconds,
            self.memory_mb if self.memory_mb is not None else defaults.memory_mb,
        )

    def within(self, ceiling: Limits) -> Limits:
        """These limits, none above ``ceiling`` (unset ones stay unset)."""

        def low(mine: Any, top: Any) -> Any:
            return mine if mine is None or top is None else min(mine, top)

        return Limits(
            low(self.cpu_seconds, ceiling.cpu_seconds),
            low(self.wall_seconds, ceiling.wall_seconds),
            low(self.memory_mb, ceiling.memory_mb),
        )


# The limits a workflow may ask for when no ceiling is passed in (CONTRACT: "within the
# admin's ceiling"; the platform settings XRM_SANDBOX_MAX_* decide the real one).
DEFAULT_CEILING = Limits(cpu_seconds=10.0, wall_seconds=30.0, memory_mb=512)


@dataclass(frozen=True, slots=True)
class ActionType:
    """An action type added by a plugin: its name and the JSON Schema of its settings.

    ``check`` finds what a schema cannot say (a template that does not compile):
    it returns ``(key, message)`` pairs for settings that passed the schema.
    """

    name: str
    schema: Mapping[str, Any]
    check: Callable[[Mapping[str, Any]], list[tuple[str, str]]] | None = None


class ActionTypes:
    """The plugin action types a definition may use, each with a compiled settings validator.

    A plugin's action is written like a built-in one, ``{"type": "webhook", "url": ...}``;
    everything but ``type`` is its settings, checked against the type's schema.

    ``lenient`` is for loading stored workflows: one whose plugin has been
    disabled or uninstalled since it was saved still loads (the server must
    start), and its action fails when it runs, naming the missing plugin.
    """

    def __init__(self, types: Iterable[ActionType] = (), *, lenient: bool = False) -> None:
        self.lenient = lenient
        self._validators: dict[str, Draft202012Validator] = {}
        self._checks: dict[str, Callable[[Mapping[str, Any]], list[tuple[str, str]]]] = {}
        for action_type in types:
            if action_type.check is not None:
                self._checks[action_type.name] = action_type.check
            if action_type.name in BUILTIN_ACTIONS:
                raise ValueError(f"action type {action_type.name!r} is built in")
            if problem := name_problem(action_type.name):
                raise ValueError(f"action type name {problem}")
            try:
                Draft202012Validator.check_schema(action_type.schema)
            except SchemaError as exc:
                raise ValueError(
                    f"the settings schema of action type {action_type.name!r} is not a valid "
                    f"JSON Schema: {exc.message}"
                ) from None
            self._validators[action_type.name] = Draft202012Validator(action_type.schema)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._validators)

    def loose(self) -> ActionTypes:
        """The same types, accepting unknown ones (for stored workflows, see above)."""
        other = ActionTypes(lenient=True)
        other._validators = self._validators
        other._checks = self._checks
        return other

    def faults(self, name: str, settings: Mapping[str, Any], where: str) -> list[Fault]:
        validator = self._validators.get(name)
        if validator is None and self.lenient:
            return []
        if validator is None:
            available = ", ".join((*BUILTIN_ACTIONS, *self._validators))
            return [
                Fault(f"{where}.type", f"unknown action type {name!r} (available: {available})")
            ]
        faults = [
            Fault(".".join(str(p) for p in (where, *error.absolute_path)), error.message)
            for error in sorted(validator.iter_errors(settings), key=lambda e: list(e.path))
        ]
        check = self._checks.get(name)
        if not faults and check is not None:
            faults = [Fault(f"{where}.{key}", message) for key, message in check(settings)]
        return faults


@dataclass(frozen=True, slots=True)
class SetAction:
    """Change fields of the record before it is written (stage ``before``)."""

    values: Mapping[str, Any]
    type: str = "set"


@dataclass(frozen=True, slots=True)
class CreateAction:
    """Create a record of ``entity``."""

    entity: str
    values: Mapping[str, Any]
    type: str = "create"


@dataclass(frozen=True, slots=True)
class UpdateAction:
    """Update the triggering record, or with ``target`` the record its reference points at."""

    values: Mapping[str, Any]
    target: str | None = None
    type: str = "update"


@dataclass(frozen=True, slots=True)
class LinkAction:
    """Link the triggering record to the record ``other_id`` through ``relationship``."""

    relationship: str
    other_id: str
    attributes: Mapping[str, Any] | None = None
    type: str = "link"


@dataclass(frozen=True, slots=True)
class UnlinkAction:
    """Unlink the triggering record from the record ``other_id``."""

    relationship: str
    other_id: str
    type: str = "unlink"


@dataclass(frozen=True, slots=True)
class RejectAction:
    """Refuse the change with a message the user sees (``RULE_REJECTED``)."""

    message: str | Mapping[str, str]
    type: str = "reject"


@dataclass(frozen=True, slots=True)
class ScriptAction:
    """Python statements run in the sandbox."""

    code: str
    type: str = "script"


@dataclass(frozen=True, slots=True)
class PluginAction:
    """An action of a type a plugin registered; ``settings`` passed its schema."""

    type: str
    settings: Mapping[str, Any]


Action = (
    SetAction
    | CreateAction
    | UpdateAction
    | LinkAction
    | UnlinkAction
    | RejectAction
    | ScriptAction
    | PluginAction
)


@dataclass(frozen=True, slots=True)
class Workflow:
    """A checked workflow; ``definition`` is the JSON exactly as written (for export)."""

    name: str
    entity: str
    on: tuple[str, ...]
    stage: str
    actions: tuple[Action, ...]
    definition: Mapping[str, Any]
    when: str | None = None
    relationship: str | None = None
    fields: frozenset[str] | None = None
    cron: str | None = None
    timezone: str | None = None
    order: int = 0
    enabled: bool = True
    limits: Limits = field(default_factory=Limits)
    version: int = 1
    source: str | None = None  # with the plugin trigger: ``<plugin>.<source>``
    event: str | None = None  # ...and the name of the event it emits

    @property
    def source_plugin(self) -> str | None:
        """The plugin whose events start this workflow, if a plugin trigger does."""
        return plugin_of(self.source) if self.source is not None else None

    def fires_on(self, trigger: str) -> bool:
        return trigger in self.on

    @property
    def sort_key(self) -> tuple[int, str]:
        """Several workflows on one event run by ``order``, then by name."""
        return (self.order, self.name)

    def next_tick(self, after: datetime) -> datetime | None:
        """The first schedule tick strictly after ``after`` (aware, UTC), or None without one."""
        if self.cron is None:
            return None
        zone = ZoneInfo(self.timezone or DEFAULT_TIMEZONE)
        start = (after if after.tzinfo else after.replace(tzinfo=UTC)).astimezone(zone)
        try:
            tick = next(CronSim(self.cron, start))
        except StopIteration:
            return None
        return tick.astimezone(UTC)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def _relationship_problem(name: str) -> str | None:
    """A many-to-many name or a reference's ``<entity>.<property>``."""
    parts = name.split(".")
    if len(parts) > 2:
        return f"{name!r} is neither a relationship name nor <entity>.<property>"
    for part in parts:
        if problem := name_problem(part):
            return problem
    return None


def _code_faults(path: str, source: str, mode: Mode) -> list[Fault]:
    return [Fault(path, str(problem)) for problem in rule_problems(source, mode)]


def _values_faults(path: str, values: Mapping[str, Any]) -> list[Fault]:
    faults = []
    for key in values:
        if problem := name_problem(key):
            faults.append(Fault(f"{path}.{key}", problem))
        elif key in RESERVED_PROPERTIES:
            faults.append(Fault(f"{path}.{key}", f"{key!r} is set by the platform"))
    return faults


def _limits(raw: Mapping[str, Any], ceiling: Limits) -> tuple[Limits, list[Fault]]:
    faults = []
    wanted = Limits(raw.get("cpuSeconds"), raw.get("wallSeconds"), raw.get("memoryMb"))
    for key, value, top, unit in (
        ("cpuSeconds", wanted.cpu_seconds, ceiling.cpu_seconds, "s"),
        ("wallSeconds", wanted.wall_seconds, ceiling.wall_seconds, "s"),
        ("memoryMb", wanted.memory_mb, ceiling.memory_mb, " MB"),
    ):
        if value is not None and top is not None and value > top:
            faults.append(
                Fault(
                    f"limits.{key}",
                    f"{value:g}{unit} is above the administrator's ceiling of {top:g}{unit}",
                )
            )
    return wanted, faults


def _action(
    raw: Mapping[str, Any], where: str, action_types: ActionTypes
) -> tuple[Action | None, list[Fault]]:
    kind = raw["type"]
    if kind == "set":
        return SetAction(raw["values"]), _values_faults(f"{where}.values", raw["values"])
    if kind == "create":
        faults = _values_faults(f"{where}.values", raw["values"])
        if problem := name_problem(raw["entity"]):
            faults.append(Fault(f"{where}.entity", problem))
        return CreateAction(raw["entity"], raw["values"]), faults
    if kind == "update":
        faults = _values_faults(f"{where}.values", raw["values"])
        target = raw.get("target")
        if target is not None and (problem := name_problem(target)):
            faults.append(Fault(f"{where}.target", problem))
        return UpdateAction(raw["values"], target), faults
    if kind in ("link", "unlink"):
        faults = []
        if problem := _relationship_problem(raw["relationship"]):
            faults.append(Fault(f"{where}.relationship", problem))
        if kind == "link":
            return LinkAction(raw["relationship"], raw["otherId"], raw.get("attributes")), faults
        return UnlinkAction(raw["relationship"], raw["otherId"]), faults
    if kind == "reject":
        return RejectAction(raw["message"]), []
    if kind == "script":
        return ScriptAction(raw["code"]), _code_faults(f"{where}.code", raw["code"], "exec")
    settings = {k: v for k, v in raw.items() if k != "type"}
    faults = action_types.faults(kind, settings, where)
    return PluginAction(kind, settings), faults


def _combination_faults(
    on: tuple[str, ...], stage: str, definition: Mapping[str, Any], actions: Iterable[Any]
) -> list[Fault]:
    """Options that only make sense with some triggers or stages."""
    faults = []
    ons = set(on)
    if ons & {"link", "unlink"}:
        if "relationship" not in definition:
            faults.append(Fault("relationship", "link and unlink triggers name a relationship"))
    elif "relationship" in definition:
        faults.append(Fault("relationship", "a relationship goes with a link or unlink trigger"))
    if "fields" in definition and "update" not in ons:
        faults.append(Fault("fields", "fields limit an update trigger; this workflow has none"))
    if "plugin" in ons:
        for key, what in (("source", "the trigger source"), ("event", "the event")):
            if key not in definition:
                faults.append(Fault(key, f"a plugin trigger names {what} (<plugin>.<source>)"))
        if stage == "before":
            faults.append(
                Fault(
                    "stage",
                    "a plugin trigger runs from the job queue after the plugin emitted its "
                    "event, with no write to change: use stage 'after' or 'async'",
                )
            )
    else:
        for key in ("source", "event"):
            if key in definition:
                faults.append(Fault(key, f"{key} goes with a plugin trigger"))
    if "schedule" in ons:
        if "cron" not in definition:
            faults.append(Fault("cron", "a schedule trigger needs a cron expression"))
    else:
        for key in ("cron", "timezone"):
            if key in definition:
                faults.append(Fault(key, f"{key} goes with a schedule trigger"))
    for index, action in enumerate(actions):
        where = f"actions.{index}"
        if isinstance(action, SetAction):
            if stage != "before":
                faults.append(
                    Fault(
                        f"{where}.type",
                        "set changes the record before it is written, so it needs stage "
                        "'before'; use an update action in the after and async stages",
                    )
                )
            elif not ons <= {"create", "update"}:
                faults.append(
                    Fault(f"{where}.type", "set changes a record being created or updated only")
                )
        if isinstance(action, RejectAction) and (stage == "async" or ons & {"schedule", "plugin"}):
            faults.append(
                Fault(
                    f"{where}.type",
                    "reject refuses a change before it is committed; an async, scheduled or "
                    "plugin-triggered run happens after it",
                )
            )
        own_record = isinstance(action, UpdateAction) and action.target is None
        if (own_record or isinstance(action, LinkAction | UnlinkAction)) and ons & RECORDLESS:
            faults.append(
                Fault(
                    f"{where}.type",
                    f"{action.type} acts on the triggering record, which a delete, schedule "
                    "or plugin trigger does not have",
                )
            )
    return faults


def parse_workflow(
    definition: Any,
    *,
    action_types: ActionTypes | None = None,
    ceiling: Limits = DEFAULT_CEILING,
    version: int = 1,
) -> Workflow:
    """Check one workflow definition on its own; :func:`check_workflow` checks it against a catalog.

    Raises DefinitionError listing every fault, each at its JSON path.
    """
    action_types = action_types or ActionTypes()
    faults = meta_faults("workflow.json", definition)
    if faults or not isinstance(definition, dict):
        raise DefinitionError(faults)
    for key in ("name", "entity"):
        if problem := name_problem(definition[key]):
            faults.append(Fault(key, problem))
    on = tuple(definition["on"])
    stage = definition.get("stage", DEFAULT_STAGE)
    relationship = definition.get("relationship")
    if relationship is not None and (problem := _relationship_problem(relationship)):
        faults.append(Fault("relationship", problem))
    fields = definition.get("fields")
    for index, name in enumerate(fields or ()):
        if problem := name_problem(name):
            faults.append(Fault(f"fields.{index}", problem))
    cron = definition.get("cron")
    timezone = definition.get("timezone")
    if cron is not None:
        try:
            CronSim(cron, datetime(2000, 1, 1))
        except CronSimError as exc:
            faults.append(Fault("cron", f"{cron!r} is not a cron expression: {exc}"))
        except (ValueError, TypeError, IndexError, KeyError, OverflowError):
            faults.append(Fault("cron", f"{cron!r} is not a cron expression"))
    if timezone is not None and timezone not in _zones():
        faults.append(
            Fault("timezone", f"{timezone!r} is not an IANA time zone (e.g. 'Asia/Seoul', 'UTC')")
        )
    source, event = definition.get("source"), definition.get("event")
    if source is not None and plugin_of(source) is None:
        faults.append(
            Fault("source", f"{source!r} is not a trigger source name (<plugin>.<source>)")
        )
    if event is not None and (problem := name_problem(event)):
        faults.append(Fault("event", problem))
    when = definition.get("when")
    if when is not None:
        faults.extend(_code_faults("when", when, "eval"))
    actions: list[Action] = []
    for index, raw in enumerate(definition["actions"]):
        action, action_faults = _action(raw, f"actions.{index}", action_types)
        faults.extend(action_faults)
        if action is not None:
            actions.append(action)
    faults.extend(_combination_faults(on, stage, definition, actions))
    limits, limit_faults = _limits(definition.get("limits", {}), ceiling)
    faults.extend(limit_faults)
    if faults:
        raise DefinitionError(faults)
    return Workflow(
        name=definition["name"],
        entity=definition["entity"],
        on=on,
        stage=stage,
        actions=tuple(actions),
        definition=definition,
        when=when,
        relationship=relationship,
        fields=frozenset(fields) if fields is not None else None,
        cron=cron,
        timezone=(timezone or DEFAULT_TIMEZONE) if cron is not None else None,
        order=definition.get("order", 0),
        enabled=definition.get("enabled", True),
        limits=limits,
        version=version,
        source=source,
        event=event,
    )


class TriggerSources:
    """The trigger sources of the enabled plugins (``<plugin>.<source>`` -> its events), and
    the disabled plugins' names: what a new workflow's plugin trigger may name."""

    def __init__(
        self, sources: Mapping[str, Iterable[str]] | None = None, disabled: Iterable[str] = ()
    ) -> None:
        self.sources = {name: tuple(events) for name, events in (sources or {}).items()}
        self.disabled = frozenset(disabled)

    def faults(self, workflow: Workflow) -> list[Fault]:
        """Why ``workflow`` cannot be saved now: its source or event is unknown, or off."""
        if workflow.source is None:
            return []
        events = self.sources.get(workflow.source)
        if events is None:
            plugin = workflow.source_plugin
            if plugin in self.disabled:
                said = (
                    f"trigger source {workflow.source!r} comes from plugin {plugin!r}, "
                    "which is disabled"
                )
            else:
                known = ", ".join(sorted(self.sources)) or "none"
                said = f"unknown trigger source {workflow.source!r} (sources: {known})"
            return [Fault("source", said)]
        if events and workflow.event not in events:
            return [
                Fault(
                    "event",
                    f"{workflow.source} emits no event {workflow.event!r} "
                    f"(its events: {', '.join(events)})",
                )
            ]
        return []


def _relationship_ends(
    name: str, types: Mapping[str, EntityType], relationships: Mapping[str, Relationship]
) -> tuple[str, str] | str:
    """(from entity, to entity) of a relationship or reference, or why it does not exist."""
    if "." in name:
        entity, prop = name.split(".", 1)
        et = types.get(entity)
        if et is None:
            return f"no entity type named {entity!r}"
        reference = et.properties.get(prop)
        if reference is None or reference.ref is None:
            return f"{entity} has no reference named {prop!r}"
        return (entity, reference.ref.entity)
    rel = relationships.get(name)
    if rel is None:
        return f"no relationship named {name!r}"
    return (rel.from_entity, rel.to_entity)


def _field_faults(path: str, keys: Iterable[str], et: EntityType) -> list[Fault]:
    return [
        Fault(f"{path}.{key}", f"{et.name} has no field {key!r}")
        for key in keys
        if key not in et.properties
    ]


def check_workflow(
    workflow: Workflow,
    types: Mapping[str, EntityType],
    relationships: Mapping[str, Relationship],
) -> None:
    """Check a parsed workflow against the catalog: its types, fields and relationships exist."""
    faults: list[Fault] = []
    et = types.get(workflow.entity)
    if et is None:
        raise DefinitionError([Fault("entity", f"no entity type named {workflow.entity!r}")])
    if workflow.relationship is not None:
        ends = _relationship_ends(workflow.relationship, types, relationships)
        if isinstance(ends, str):
            faults.append(Fault("relationship", ends))
        elif ends[0] != et.name:
            faults.append(
                Fault(
                    "relationship",
                    f"{workflow.relationship} links {ends[0]} to {ends[1]}; a link or unlink "
                    f"workflow runs on its 'from' side, so its entity must be {ends[0]!r}",
                )
            )
    faults.extend(_field_faults("fields", sorted(workflow.fields or ()), et))
    for index, action in enumerate(workflow.actions):
        where = f"actions.{index}"
        if isinstance(action, SetAction):
            faults.extend(_field_faults(f"{where}.values", action.values, et))
        elif isinstance(action, CreateAction):
            target_type = types.get(action.entity)
            if target_type is None:
                faults.append(Fault(f"{where}.entity", f"no entity type named {action.entity!r}"))
            else:
                faults.extend(_field_faults(f"{where}.values", action.values, target_type))
        elif isinstance(action, UpdateAction):
            faults.extend(_update_faults(where, action, et, types))
        elif isinstance(action, LinkAction | UnlinkAction):
            ends = _relationship_ends(action.relationship, types, relationships)
            if isinstance(ends, str):
                faults.append(Fault(f"{where}.relationship", ends))
            elif et.name not in ends:
                faults.append(
                    Fault(
                        f"{where}.relationship",
                        f"{action.relationship} links {ends[0]} to {ends[1]}, not {et.name}",
                    )
                )
    if faults:
        raise DefinitionError(faults)


def _update_faults(
    where: str, action: UpdateAction, et: EntityType, types: Mapping[str, EntityType]
) -> list[Fault]:
    if action.target is None:
        return _field_faults(f"{where}.values", action.values, et)
    reference = et.properties.get(action.target)
    if reference is None or reference.ref is None:
        return [Fault(f"{where}.target", f"{et.name} has no reference named {action.target!r}")]
    target_type = types.get(reference.ref.entity)
    if target_type is None:
        return [
            Fault(f"{where}.target", f"records of {reference.ref.entity!r} cannot be updated here")
        ]
    return _field_faults(f"{where}.values", action.values, target_type)
