"""The plugin specification: the hooks a plugin may implement, and what each one hands back.

A plugin is any module or object with functions marked ``@hookimpl`` whose
names are the hooks below; it is found through the ``xrm.plugins`` entry-point
group (see :mod:`xrm.plugins.manager`), the built-in ones exactly like third
party ones. Every hook returns a list (pluggy gathers the lists of all enabled
plugins), and every hook is optional.

What a plugin receives is deliberately small: the data classes here, the
process :class:`~xrm.platform.settings.Settings` and the database. A plugin
never imports the API or admin UI internals; the layer that needs a hook
calls it through the manager that ``app.py`` hands down (DESIGN decision 7).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pluggy

if TYPE_CHECKING:
    import sqlalchemy as sa

    from xrm.entities.events import WriteListener
    from xrm.platform.db import Database
    from xrm.platform.jobs import Handler
    from xrm.platform.settings import Settings

PROJECT = "xrm"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# The job kind that runs a plugin action queued by a workflow (mode "job").
ACTION_JOB = "plugin.action"


class PluginError(Exception):
    """What a plugin raises when its work failed for a reason the user should read.

    The message is shown in the run's error and the job's last error, so it
    says what went wrong in words (never a traceback or a database message).
    """


def not_installed(action: str, plugin: str | None = None) -> str:
    """The error of a workflow whose action's plugin is disabled (``plugin``, when it is
    known: installed but switched off) or gone."""
    if plugin is not None:
        return (
            f"action type {action!r} is provided by plugin {plugin!r}, which is disabled "
            "(XRM_PLUGINS_DISABLED); enable it or change the workflow"
        )
    return (
        f"action type {action!r} is provided by a plugin that is not installed or is "
        "disabled (XRM_PLUGINS_DISABLED); enable it or change the workflow"
    )


@dataclass(frozen=True, slots=True)
class ActionCall:
    """One run of a plugin action: its settings (already checked), and what fired it.

    ``record`` is the record as the workflow saw it (property names and ``id``),
    ``event`` CONTRACT §5's event dict; ``attempt`` counts from 1 (a job's
    retries raise it); ``db`` is for the plugin's own tables.
    """

    action: str
    settings: Mapping[str, Any]
    workflow: str
    entity: str | None
    record: Mapping[str, Any] | None
    old: Mapping[str, Any] | None
    event: Mapping[str, Any]
    config: Settings
    db: Database
    attempt: int = 1
    job_id: str | None = None


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """A workflow action type: ``{"type": name, ...settings}`` in a workflow's ``actions``.

    ``schema`` is the JSON Schema of the settings (checked when the workflow is
    defined, faults named by path; the workflow builder draws a form from it).
    ``mode`` says how it runs: ``inline`` inside the workflow's own run and
    transaction (a failure fails the run), or ``job`` queued with the write
    and run by the job worker, retried with backoff up to ``max_attempts``.
    """

    name: str
    schema: Mapping[str, Any]
    run: Callable[[ActionCall], None]
    mode: Literal["inline", "job"] = "job"
    title: str = ""
    max_attempts: int = 5
    # What the schema cannot say: (setting, problem) pairs for settings it accepted.
    check: Callable[[Mapping[str, Any]], list[tuple[str, str]]] | None = None


@dataclass(frozen=True, slots=True)
class TriggerSource:
    """Something outside record writes that starts workflows (an inbox, a feed, a door).

    A workflow names it ``"on": ["plugin"], "source": "<plugin>.<name>", "event": ...``;
    the plugin emits through :meth:`PluginContext.emit`. ``events`` names what it
    emits (empty: any event name); ``title`` (text, or one per language) is what
    the workflow builder shows.
    """

    name: str
    title: str | Mapping[str, str]
    events: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldFormat:
    """A string format for entity type properties: ``"format": "<plugin>.<name>"``.

    Both functions receive the value already trimmed (never empty, never with
    NUL). ``problem`` says in a few words why a value is refused (None when it
    is fine; the user reads it after the value, so "is not a voucher code");
    ``normalize`` turns an accepted value into its stored spelling, which is
    what unique keys and duplicate rules compare. A function that raises, or
    returns something else than text, refuses the write with a generic
    message (the exception goes to the log). ``label`` (text, or one per
    language) names the format in the type designer; ``translations`` gives
    each text ``problem`` may return in other languages (``{text: {"ko": ...}}``),
    for the admin UI.
    """

    name: str
    problem: Callable[[str], str | None]
    normalize: Callable[[str], str] = str
    label: str | Mapping[str, str] = ""
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CatalogPack:
    """Entity types, relationships and workflows that belong together, installed in one apply.

    ``title`` is text, or one per language (``{"en": ..., "ko": ...}``).
    """

    name: str
    title: str | Mapping[str, str]
    definitions: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class AdminPage:
    """A page of the admin UI a plugin adds, at ``/admin/plugins/<plugin>/<path>``.

    Only users whose role has ``define_workflows`` reach it (the admin UI checks
    the sign-in, the right and, for a POST, the CSRF token before calling it).
    ``endpoint(request)`` (plain or async) returns a Starlette response, or an
    HTML fragment (``str``, escaped by the plugin) that the admin UI puts in
    its page layout under ``title``; a form on it carries
    ``request.state.csrf`` as its ``csrf`` field. ``menu_label`` (text, or one
    per language: ``{"en": ..., "ko": ...}``) adds it to the menu.
    """

    path: str
    endpoint: Callable[..., Any]
    title: str | Mapping[str, str] = ""
    menu_label: str | Mapping[str, str] | None = None
    methods: tuple[str, ...] = ("GET",)


# How a context emits: (``<plugin>.<source>``, event, payload, connection) -> runs queued.
Emitter = Callable[[str, str, Mapping[str, Any], "sa.Connection | None"], int]


@dataclass(frozen=True, slots=True)
class PluginContext:
    """What hooks that need the running process receive."""

    settings: Settings
    db: Database
    extra: Mapping[str, Any] = field(default_factory=dict)
    emitter: Emitter | None = None

    def emit(
        self,
        source: str,
        event: str,
        payload: Mapping[str, Any] | None = None,
        *,
        conn: sa.Connection | None = None,
    ) -> int:
        """Start the workflows listening to ``event`` of ``source`` (``"sample.door"``, the
        plugin's name first); returns how many runs were queued (the job queue runs them).

        ``conn``: queue the runs in this transaction (a job handler passes its job's
        ``context.conn``: the runs then exist iff its work commits); else in their own.

        Raises :class:`PluginError` for a source no enabled plugin declares, an event it
        does not list, or a payload that is not a JSON object.
        """
        if self.emitter is None:
            raise PluginError("this process runs no workflows, so it cannot emit events")
        return self.emitter(source, event, payload or {}, conn)


class Hooks:
    """The hook specifications (pluggy reads the method names and signatures)."""

    @hookspec
    def xrm_action_types(self) -> list[ActionSpec]:  # type: ignore[empty-body]
        """Workflow action types this plugin adds."""

    @hookspec
    def xrm_trigger_sources(self) -> list[TriggerSource]:  # type: ignore[empty-body]
        """Trigger sources this plugin adds."""

    @hookspec
    def xrm_field_formats(self) -> list[FieldFormat]:  # type: ignore[empty-body]
        """Field formats (validation and normalisation) this plugin adds."""

    @hookspec
    def xrm_catalog_packs(self) -> list[CatalogPack]:  # type: ignore[empty-body]
        """Catalog packs this plugin ships."""

    @hookspec
    def xrm_record_listeners(  # type: ignore[empty-body]
        self, context: PluginContext
    ) -> list[WriteListener]:
        """Listeners told about record writes, in the write's transaction (see
        :class:`xrm.entities.events.WriteListener`)."""

    @hookspec
    def xrm_admin_pages(self) -> list[AdminPage]:  # type: ignore[empty-body]
        """Admin UI pages this plugin adds."""

    @hookspec
    def xrm_tables(self) -> list[sa.Table]:  # type: ignore[empty-body]
        """The plugin's own tables (created when missing, at start-up)."""

    @hookspec
    def xrm_job_handlers(  # type: ignore[empty-body]
        self, context: PluginContext
    ) -> dict[str, Handler]:
        """Job kinds this plugin runs in the job worker, by kind."""
