"""Workflows started by an event a plugin emits (``"on": ["plugin"]``).

A plugin says that something happened outside record writes (a mail
arrived, a door opened) through ``PluginContext.emit``; every enabled
workflow listening to that source and event gets one queued run, written in
one transaction with the others: all of them exist, or none. The runs go
through the job queue like async ones (the plugin never waits for a
sandbox), each as the workflow's author (as a scheduled run does), with
the event in ``event``: ``{"type": "plugin", "source", "name", "payload"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from xrm.platform import tables
from xrm.workflows.protocol import PlainError, to_plain
from xrm.workflows.runner import Firing, user_of
from xrm.workflows.runs import Run

if TYPE_CHECKING:
    from xrm.schemas.workflows import Workflow
    from xrm.workflows.engine import WorkflowEngine

CHANNEL = "plugin"
TRIGGER = "plugin"


def event_of(source: str, name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The event a run sees; raises ``ValueError`` when the payload is not plain JSON data."""
    if not isinstance(payload, Mapping):
        raise ValueError("an event's payload is a JSON object (a dict)")
    try:
        plain = to_plain(dict(payload), "payload")
    except PlainError as exc:
        raise ValueError(f"an event's payload is plain JSON data: {exc}") from None
    return {"type": TRIGGER, "source": source, "name": name, "payload": plain}


def emit(
    engine: WorkflowEngine,
    source: str,
    name: str,
    payload: Mapping[str, Any],
    conn: sa.Connection | None = None,
) -> list[Run]:
    """Queue a run of every enabled workflow on ``source``'s event ``name``; the queued runs.

    ``conn``: the transaction to queue them in (a plugin's job emits in its job's own, so
    the runs exist iff the job's work commits); else one of their own.
    """
    event = event_of(source, name, payload)
    listening = sorted(
        (
            w
            for w in engine.records.registry.current().workflows.values()
            if w.enabled and w.fires_on(TRIGGER) and w.source == source and w.event == name
        ),
        key=lambda w: w.sort_key,
    )
    if not listening:
        return []
    if conn is None:
        with engine.records.db.write() as own:
            return _queue(engine, listening, event, own)
    return _queue(engine, listening, event, conn)


def _queue(
    engine: WorkflowEngine,
    listening: list[Workflow],
    event: Mapping[str, Any],
    conn: sa.Connection,
) -> list[Run]:
    """One queued run per workflow, each as the workflow's author."""
    authors = dict(
        conn.execute(
            sa.select(tables.workflows.c.name, tables.workflows.c.author_id).where(
                tables.workflows.c.name.in_([w.name for w in listening])
            )
        ).all()
    )
    queued: list[Run] = []
    for workflow in listening:
        actor = engine.actor_of(conn, authors.get(workflow.name))
        session = engine.records.session_on(conn, actor, CHANNEL)
        firing = Firing(
            workflow=workflow,
            trigger=TRIGGER,
            stage="async",
            entity=workflow.entity,
            record=None,
            old=None,
            event=event,
            user=user_of(actor),
        )
        queued.append(engine.enqueue(session, firing, actor))
    return queued
