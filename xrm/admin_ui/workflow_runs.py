"""Workflow runs as a business admin reads them: status in words, records by name, changes.

A stored run (``xrm.workflows.runs``) holds ids and raw values; this module
turns them into what the builder's pages show: the record the run was about
by its display name with a link (never its id), the duration, the log and
error, and each change as "Field: old → new" with labels, enum labels and
referenced records' names. Names are read through the signed-in user's own
record session, so a record they may not read stays unnamed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xrm.admin_ui import record_fields as rf
from xrm.admin_ui.record_views import looks_like_id, names_of, record_named
from xrm.admin_ui.run_messages import log_line, run_error
from xrm.entities.records import RecordSession
from xrm.workflows.runs import Run, RunStatus

Gettext = Callable[[str], str]
PAGE = 20  # runs per page of a workflow's history
RECENT = 20  # records offered for a test run, most recently changed first
# Triggers whose runs have no record: only such a workflow may be tried without one.
RECORDLESS = frozenset({"schedule", "manual"})


@dataclass
class RunRow:
    """One run as a row of the history (or as a test run's result)."""

    id: str
    status: str
    status_label: str
    started: str
    duration: str
    trigger: str
    record_name: str = ""
    record_href: str = ""
    error: str = ""
    log: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    retryable: bool = False
    dry_run: bool = False


def status_label(status: RunStatus, _: Gettext) -> str:
    return {
        RunStatus.DONE: _("done"),
        RunStatus.FAILED: _("failed"),
        RunStatus.REJECTED: _("rejected"),
        RunStatus.RUNNING: _("running"),
        RunStatus.QUEUED: _("queued"),
        RunStatus.DEAD: _("dead (gave up)"),
    }[status]


def trigger_label(trigger: str, _: Gettext) -> str:
    return {
        "create": _("created"),
        "update": _("changed"),
        "delete": _("deleted"),
        "link": _("linked"),
        "unlink": _("unlinked"),
        "schedule": _("on schedule"),
        "manual": _("by hand"),
    }.get(trigger, trigger)


def _duration(ms: int | None, _: Gettext) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return _("%(n)s ms") % {"n": ms}
    return _("%(n)s s") % {"n": f"{ms / 1000:.1f}"}


def _entity_of(run: Run, session: RecordSession, was: str | None = None) -> str | None:
    """The type of the run's record: its workflow's, or for a deleted workflow the type it
    was about (``was``), else a change's."""
    workflow = session.catalog.workflows.get(run.workflow)
    if workflow is not None:
        return workflow.entity
    if was is not None:
        return was
    for change in run.changes:
        if change.get("id") == run.record_id and isinstance(change.get("entity"), str):
            return str(change["entity"])
    return None


def _ids_in(run: Run, session: RecordSession, was: str | None) -> dict[str, set[str]]:
    """Every record id a run names, by entity type: its record, changed records, references."""
    catalog = session.catalog
    wanted: dict[str, set[str]] = {}
    entity = _entity_of(run, session, was)
    if run.record_id and entity is not None:
        wanted.setdefault(entity, set()).add(run.record_id)
    for change in run.changes:
        entity = change.get("entity")
        et = catalog.types.get(entity) if isinstance(entity, str) else None
        if et is None:
            continue
        if isinstance(change.get("id"), str):
            wanted.setdefault(et.name, set()).add(change["id"])
        for name, value in (change.get("values") or {}).items():
            prop = et.properties.get(name)
            if prop is not None and prop.ref is not None and isinstance(value, str):
                wanted.setdefault(prop.ref.entity, set()).add(value)
    return wanted


def _change_lines(
    change: Mapping[str, Any],
    session: RecordSession,
    names: Mapping[str, str],
    olds: Mapping[str, Mapping[str, Any]],
    lang: str,
    _: Gettext,
) -> list[str]:
    catalog = session.catalog
    action = change.get("action")
    if action in ("link", "unlink"):
        rel = str(change.get("relationship", ""))
        first = names.get(str(change.get("fromId")), _("a record"))
        second = names.get(str(change.get("toId")), _("a record"))
        said = _("Links %(a)s and %(b)s") if action == "link" else _("Unlinks %(a)s and %(b)s")
        return [said % {"a": first, "b": second} + f" ({rel})"]
    et = catalog.types.get(str(change.get("entity")))
    if et is None:
        return []
    type_name = rf.type_label(et, lang)
    hidden = session.hidden(et.name)
    values = change.get("values") or {}
    old = olds.get(str(change.get("id")))
    parts = []
    for name, value in values.items():
        prop = et.properties.get(name)
        if prop is None or name in hidden:
            continue
        label = rf.field_label(prop, lang)
        if prop.ref is not None and prop.ref.entity not in catalog.types:
            parts.append(f"{label}: {_('a user') if value else '—'}")  # a platform record
            continue
        new = rf.shown_value(prop, value, lang, _, names)
        if old is not None and action in ("update", "set"):
            was = rf.shown_value(prop, old.get(name), lang, _, names)
            parts.append(f"{label}: {was} → {new}")
        else:
            parts.append(f"{label}: {new}")
    if action == "create":
        head = _("Creates a record of %(type)s") % {"type": type_name}
    else:
        who = names.get(str(change.get("id")), _("a record"))
        head = _("Changes %(name)s (%(type)s)") % {"name": who, "type": type_name}
    return [head + (": " + "; ".join(parts) if parts else "")]


def _labeller(session: RecordSession, entity: str | None, lang: str) -> Callable[[str], str]:
    """Field names of the run's type by their labels (another name is kept as it is)."""
    et = session.catalog.types.get(entity) if entity is not None else None

    def label(name: str) -> str:
        prop = et.properties.get(name) if et is not None else None
        return rf.field_label(prop, lang) if prop is not None else name

    return label


def _unnamed(session: RecordSession, entity: str, _: Gettext) -> str:
    """A run's record that has no name to show: one who may read every record of the type
    is told it is gone (deleted, or never saved because the run failed), others only that
    they cannot see it."""
    if entity in session.catalog.types and session.permissions.scope(entity, "read") == "all":
        return _("(deleted, or never saved)")
    return _("(not visible to you)")


def run_rows(
    session: RecordSession,
    found: Iterable[Run],
    lang: str,
    _: Gettext,
    *,
    olds: Mapping[str, Mapping[str, Any]] | None = None,
    was: str | None = None,
) -> list[RunRow]:
    """``found`` as rows; ``olds`` ({id: record as it is now}) shows a dry run's old values;
    ``was`` is the type a deleted workflow was about."""
    found = list(found)
    wanted: dict[str, set[str]] = {}
    for run in found:
        for named, ids in _ids_in(run, session, was).items():
            wanted.setdefault(named, set()).update(ids)
    # References to platform records (a task's ``assignee`` user) have no type to name them by.
    known = {e: ids for e, ids in wanted.items() if e in session.catalog.types}
    names = names_of(session, known, _)
    rows = []
    for run in found:
        entity = _entity_of(run, session, was)
        row = RunRow(
            id=run.id,
            status=run.status.value,
            status_label=status_label(run.status, _),
            started=rf.when(run.started_at) + " UTC",
            duration=_duration(run.duration_ms, _),
            trigger=trigger_label(run.trigger, _),
            error=(
                run_error(run.error, run.status, _, _labeller(session, entity, lang))
                if run.error
                else ""
            ),
            log=[log_line(line, _) for line in run.log],
            retryable=run.job_id is not None and run.status in (RunStatus.FAILED, RunStatus.DEAD),
            dry_run=run.dry_run,
        )
        if run.record_id and entity is not None:
            row.record_name = names.get(run.record_id) or _unnamed(session, entity, _)
            if run.record_id in names:
                row.record_href = f"/admin/records/{entity}/{run.record_id}"
        for change in run.changes:
            row.changes.extend(_change_lines(change, session, names, olds or {}, lang, _))
        rows.append(row)
    return rows


def updated_ids(run: Run) -> dict[str, set[str]]:
    """The records a run updated, by type: their current values are a dry run's old ones."""
    wanted: dict[str, set[str]] = {}
    for change in run.changes:
        if change.get("action") in ("update", "set") and isinstance(change.get("id"), str):
            wanted.setdefault(str(change.get("entity")), set()).add(change["id"])
    return wanted


def olds_of(session: RecordSession, run: Run) -> dict[str, Mapping[str, Any]]:
    """The records a dry run would change, as they are now (its changes' old values)."""
    olds: dict[str, Mapping[str, Any]] = {}
    for entity, ids in updated_ids(run).items():
        if session.permissions.scope(entity, "read") != "none":
            olds.update(session.fetch(entity, sorted(ids)))
    return olds


# --- the records a test run may be tried on ---------------------------------------------------


def recent_choices(records: RecordSession, entity: str, _: Gettext) -> dict[str, Any]:
    """The test run's choices: recently changed records by name, and the typed-name picker."""
    et = records.catalog.types.get(entity)
    if et is None or records.permissions.scope(et.name, "read") == "none":
        return {"recent": [], "picker": ""}
    hidden = records.hidden(et.name)
    shown = rf.display_field(et, hidden)
    found = records.query(
        et.name,
        order_by=[{"updated_at": "DESC"}],
        first=RECENT,
        with_total=False,
        fields=frozenset({shown}) if shown else frozenset(),
    ).items
    recent = [
        (str(r["id"]), f"{rf.record_name(et, r, _, hidden)} · {rf.when(r['updated_at'])}")
        for r in found
    ]
    return {"recent": recent, "picker": f"/admin/records/{et.name}" if shown else ""}


def find_record(
    records: RecordSession, entity: str, typed: str, _: Gettext
) -> tuple[str | None, str | None]:
    """(record id, None) for the record of ``entity`` typed by name, or (None, why not)."""
    et = records.catalog.types.get(entity)
    if et is None:
        return None, _("It does not exist (any more).")
    found, problem = record_named(records, et, typed, _)
    return (found, None) if found is not None else (None, problem)


def pick_record(
    records: RecordSession,
    entity: str,
    triggers: Iterable[str],
    typed: str,
    chosen: str,
    _: Gettext,
) -> tuple[str | None, str | None]:
    """The record a test run is tried on: typed by name, else chosen from the list; (id, None)
    or (None, why not). A workflow that only runs on a schedule or by hand needs none."""
    if not typed and looks_like_id(chosen):
        return chosen, None
    if not typed:
        if set(triggers) <= RECORDLESS:
            return None, None
        return None, _("Choose the record to try it on.")
    return find_record(records, entity, typed, _)
