"""Finding, enabling and calling plugins: one :class:`Plugins` per process, built by app.py.

Every plugin, built-in or not, is an entry point of the ``xrm.plugins`` group
(``[project.entry-points."xrm.plugins"]`` in its pyproject.toml): its name is
the plugin's name, its value a module or object with ``@hookimpl`` functions.
xrm's own webhook and email plugins are declared in xrm's pyproject.toml the
same way, so a package xrm knows nothing about is found exactly as they are.

``XRM_PLUGINS_DISABLED`` (a comma list of names) keeps a plugin installed but
unloaded: it is listed, switched off, and nothing it provides exists. A plugin
that fails to import is listed with its error rather than stopping the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pluggy
import sqlalchemy as sa

from xrm.errors import NotFound
from xrm.platform.db import take_turns
from xrm.platform.identity import SYSTEM_ACTOR
from xrm.plugins import formats
from xrm.plugins.spec import (
    ACTION_JOB,
    PROJECT,
    ActionCall,
    ActionSpec,
    AdminPage,
    CatalogPack,
    FieldFormat,
    Hooks,
    PluginContext,
    PluginError,
    TriggerSource,
    not_installed,
)
from xrm.schemas.plugin_formats import PluginFormats
from xrm.schemas.workflows import ActionType, ActionTypes, TriggerSources
from xrm.workflows import plugin_events

if TYPE_CHECKING:
    from xrm.entities.events import WriteListener
    from xrm.entities.registry import Registry
    from xrm.platform.db import Database
    from xrm.platform.identity import Actor
    from xrm.platform.jobs import Handler, JobContext
    from xrm.platform.settings import Settings
    from xrm.schemas.plan import Plan
    from xrm.workflows.engine import WorkflowEngine

GROUP = "xrm.plugins"
log = logging.getLogger("xrm.plugins")


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One discovered plugin as the admin page lists it."""

    name: str
    version: str
    distribution: str
    enabled: bool
    error: str | None = None
    provides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _distribution(point: EntryPoint) -> tuple[str, str]:
    dist = point.dist
    if dist is None:
        return ("", "")
    return (dist.metadata["Name"] or "", dist.version or "")


class Plugins:
    """The enabled plugins of this installation, behind one pluggy hook manager.

    ``points`` replaces entry-point discovery (tests hand in their own).
    """

    def __init__(self, settings: Settings, points: Iterable[EntryPoint] | None = None) -> None:
        self.settings = settings
        self.manager = pluggy.PluginManager(PROJECT)
        self.manager.add_hookspecs(Hooks)
        disabled = set(settings.plugins.disabled)
        found = sorted(
            entry_points(group=GROUP) if points is None else points, key=lambda p: p.name
        )
        infos: list[PluginInfo] = []
        # What was left out of enabled plugins (a clashing or broken action type), for the log.
        self.problems: list[str] = []
        # Action types of disabled plugins -> (plugin, title): a workflow using one is told so.
        self.disabled_actions: dict[str, tuple[str, str]] = {}
        self._own: set[str] = set()  # xrm's own plugins: asked first, so they keep their names
        seen: set[str] = set()
        for point in found:
            if point.name in seen:  # the same distribution seen twice on sys.path
                continue
            seen.add(point.name)
            dist, version = _distribution(point)
            if point.name in disabled:
                infos.append(PluginInfo(point.name, version, dist, enabled=False))
                self._note_disabled(point)
                continue
            try:
                self.manager.register(point.load(), name=point.name)
            except Exception as exc:  # a broken plugin is reported, never fatal
                log.exception("plugin %s could not be loaded", point.name)
                error = f"could not be loaded: {type(exc).__name__}: {exc}"
                infos.append(PluginInfo(point.name, version, dist, enabled=False, error=error))
                continue
            infos.append(PluginInfo(point.name, version, dist, enabled=True))
            if dist == "xrm":
                self._own.add(point.name)
        self._actions = self._collect_actions()
        self._packs = {p.name: p for p in self._each("xrm_catalog_packs")}
        self._formats = formats.collect(
            self._by_plugin("xrm_field_formats"), disabled, self._left_out
        )
        self._disabled = frozenset(disabled)
        self._sources = {
            f"{plugin}.{source.name}": (plugin, source)
            for plugin, sources in self._by_plugin("xrm_trigger_sources").items()
            for source in sources
        }
        self._engine: WorkflowEngine | None = None
        self.infos = tuple(self._with_provides(info) for info in infos)

    def _note_disabled(self, point: EntryPoint) -> None:
        """Remember which action types a disabled plugin would add, by asking it for their
        names only (nothing of it is registered); one that cannot say is just not named."""
        try:
            impl = getattr(point.load(), "xrm_action_types", None)
            specs = list(impl() or ()) if impl is not None else []
        except Exception:  # a broken disabled plugin: its actions stay unnamed
            log.warning("disabled plugin %s: its action types could not be read", point.name)
            return
        for spec in specs:
            name = getattr(spec, "name", None)
            if isinstance(name, str):
                title = getattr(spec, "title", None) or name
                self.disabled_actions.setdefault(name, (point.name, str(title)))

    def disabled_plugin_of(self, action: str) -> str | None:
        """The disabled plugin that adds ``action`` (None: enabled, built-in, or unknown)."""
        return self.switched_off().get(action)

    def switched_off(self) -> dict[str, str]:
        """Action types only disabled plugins add -> that plugin (for run errors)."""
        return {
            name: plugin
            for name, (plugin, _title) in self.disabled_actions.items()
            if name not in self._actions
        }

    # -- what the enabled plugins provide ------------------------------------------------

    def _each(self, hook: str, **kwargs: Any) -> list[Any]:
        results = getattr(self.manager.hook, hook)(**kwargs)
        return [item for result in results for item in (result or ())]

    def _by_plugin(self, hook: str) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        ordered = sorted(
            self.manager.list_name_plugin(), key=lambda p: (p[0] not in self._own, p[0] or "")
        )
        for name, plugin in ordered:
            impl = getattr(plugin, hook, None)
            if impl is not None and name is not None:
                out[name] = list(impl() or ())
        return out

    def _left_out(self, problem: str) -> None:
        log.error("plugin %s", problem)
        self.problems.append(problem)

    def _collect_actions(self) -> dict[str, tuple[str, ActionSpec]]:
        """Every enabled plugin's action types; one that clashes with a built-in or another
        plugin's (xrm's own plugins are asked first, then the others by name), or whose
        settings schema is broken, is left out and logged (the server and the other
        plugins still start)."""
        actions: dict[str, tuple[str, ActionSpec]] = {}
        for plugin, specs in self._by_plugin("xrm_action_types").items():
            for spec in specs:
                problem = None
                if spec.name in actions:
                    problem = f"plugin {actions[spec.name][0]} already adds it"
                else:
                    try:
                        ActionTypes([ActionType(spec.name, spec.schema, spec.check)])
                    except ValueError as exc:
                        problem = str(exc)
                if problem is not None:
                    log.error("plugin %s: action type %r left out: %s", plugin, spec.name, problem)
                    self.problems.append(f"{plugin}: action type {spec.name!r} left out: {problem}")
                    continue
                actions[spec.name] = (plugin, spec)
        return actions

    def _with_provides(self, info: PluginInfo) -> PluginInfo:
        if not info.enabled:
            return info
        plugin = self.manager.get_plugin(info.name)
        provides: dict[str, tuple[str, ...]] = {}
        for hook, label in (
            ("xrm_action_types", "actions"),
            ("xrm_trigger_sources", "triggers"),
            ("xrm_field_formats", "formats"),
            ("xrm_catalog_packs", "packs"),
            ("xrm_admin_pages", "pages"),
        ):
            impl = getattr(plugin, hook, None)
            if impl is not None:
                names = tuple(getattr(item, "name", getattr(item, "path", "")) for item in impl())
                if label in ("triggers", "formats"):  # spelled with the plugin's name in use
                    names = tuple(f"{info.name}.{name}" for name in names)
                if names:
                    provides[label] = names
        if getattr(plugin, "xrm_record_listeners", None) is not None:
            provides["listeners"] = ("record events",)
        return PluginInfo(info.name, info.version, info.distribution, True, info.error, provides)

    @property
    def actions(self) -> dict[str, ActionSpec]:
        """Enabled action types by name."""
        return {name: spec for name, (_, spec) in self._actions.items()}

    def action_plugin(self, name: str) -> str | None:
        found = self._actions.get(name)
        return found[0] if found is not None else None

    def action_types(self) -> ActionTypes:
        """The settings schemas the workflow parser checks plugin actions against."""
        return ActionTypes(
            ActionType(spec.name, spec.schema, spec.check) for spec in self.actions.values()
        )

    def trigger_sources(self) -> list[TriggerSource]:
        return self._each("xrm_trigger_sources")

    def field_formats(self) -> list[FieldFormat]:
        return self._each("xrm_field_formats")

    def sources(self) -> dict[str, tuple[str, TriggerSource]]:
        """The enabled plugins' trigger sources by the name workflows use (``sample.door``),
        with the plugin that declares each."""
        return dict(self._sources)

    def trigger_sources_check(self) -> TriggerSources:
        """What a new workflow's plugin trigger may name (and which plugins are off)."""
        return TriggerSources(
            {name: source.events for name, (_, source) in self._sources.items()}, self._disabled
        )

    def attach(self, engine: WorkflowEngine) -> None:
        """Let the plugins' contexts emit events: app.py (and the worker) call this once the
        workflow engine exists."""
        self._engine = engine

    def context(self, db: Database) -> PluginContext:
        """The context hooks receive; its ``emit`` starts workflows once an engine is attached."""
        return PluginContext(self.settings, db, emitter=self._emit)

    def _emit(
        self,
        source: str,
        event: str,
        payload: Mapping[str, Any],
        conn: sa.Connection | None = None,
    ) -> int:
        found = self._sources.get(source)
        if found is None:
            known = ", ".join(sorted(self._sources)) or "none"
            raise PluginError(
                f"unknown trigger source {source!r}: emit with <plugin>.<source> of an "
                f"enabled plugin (sources: {known})"
            )
        events = found[1].events
        if events and event not in events:
            raise PluginError(
                f"{source} emits no event {event!r} (its events: {', '.join(events)})"
            )
        if self._engine is None:
            raise PluginError("this process runs no workflows, so it cannot emit events")
        try:
            return len(plugin_events.emit(self._engine, source, event, payload, conn))
        except ValueError as exc:
            raise PluginError(str(exc)) from None

    def formats(self) -> PluginFormats:
        """The enabled plugins' field formats as the registry binds them (``<plugin>.<name>``),
        each call guarded; the disabled plugins' names, so their fields say which to enable."""
        return self._formats

    def registry(self, db: Database) -> Registry:
        """The registry of ``db`` as this installation sees it: workflows may use the plugins'
        action types, properties their formats (app.py, the CLI and the job worker alike)."""
        from xrm.entities.registry import Registry

        return Registry(
            db, self.settings, self.action_types(), self.formats(), self.trigger_sources_check()
        )

    def catalog_packs(self) -> dict[str, CatalogPack]:
        return dict(self._packs)

    def install_pack(self, registry: Registry, name: str, actor: Actor | None = None) -> Plan:
        """Apply a catalog pack's definitions in one change (channel ``plugin``)."""
        pack = self._packs.get(name)
        if pack is None:
            raise NotFound(f"no catalog pack named {name!r} among the enabled plugins")
        return registry.apply(list(pack.definitions), actor=actor or SYSTEM_ACTOR, channel="plugin")

    def admin_pages(self) -> list[tuple[str, AdminPage]]:
        """Every enabled plugin's admin pages, with the plugin's name."""
        return [
            (plugin, page)
            for plugin, pages in self._by_plugin("xrm_admin_pages").items()
            for page in pages
        ]

    def tables(self) -> list[sa.Table]:
        return self._each("xrm_tables")

    def listeners(self, db: Database) -> list[WriteListener]:
        return self._each("xrm_record_listeners", context=self.context(db))

    # -- start-up and the job worker -----------------------------------------------------

    def prepare(self, db: Database) -> None:
        """Create the enabled plugins' tables that do not exist yet (each plugin owns its
        own; they are outside xrm's migrations, which a third-party package cannot join)."""
        tables = self.tables()
        if not tables:
            return
        with db.write() as conn:
            take_turns(conn, "xrm plugin tables")  # server workers start side by side
            for table in tables:
                table.create(conn, checkfirst=True)

    def job_handlers(self, db: Database) -> dict[str, Handler]:
        """The job kinds the plugins run: queued plugin actions, and each plugin's own."""
        context = self.context(db)
        handlers: dict[str, Handler] = {}
        for result in self.manager.hook.xrm_job_handlers(context=context):
            handlers.update(result or {})
        handlers[ACTION_JOB] = self._action_job(db)
        return handlers

    def _action_job(self, db: Database) -> Callable[[Any, JobContext], None]:
        def run(payload: Mapping[str, Any], context: JobContext) -> None:
            name = str(payload["action"])
            spec = self.actions.get(name)
            if spec is None:
                raise PluginError(not_installed(name, self.disabled_plugin_of(name)))
            spec.run(
                ActionCall(
                    action=name,
                    settings=payload.get("settings") or {},
                    workflow=str(payload.get("workflow") or ""),
                    entity=payload.get("entity"),
                    record=payload.get("record"),
                    old=payload.get("old"),
                    event=payload.get("event") or {},
                    config=self.settings,
                    db=db,
                    attempt=context.job.attempts,
                    job_id=context.job.id,
                )
            )

        return run


def load(settings: Settings) -> Plugins:
    """The plugins of this installation, discovered through entry points."""
    return Plugins(settings)
