"""The webhook plugin's tables: destinations an admin set up, and the log of every delivery.

A **destination** is a name, a URL and the secret its deliveries are signed
with; with an entity type and events it is also an **event subscription**
(every create, update or delete of that type is posted to it). Workflow
actions name a destination rather than carrying a URL and a secret, so the
secret is never in a workflow definition or a job's payload.

The **delivery log** keeps one row per attempt: status code, duration,
attempt number and error, written in its own transaction so a failed attempt
(whose job is rolled back and retried) is still on record.
"""

from __future__ import annotations

import datetime as dt
import secrets as random_secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.errors import Fault, ValidationFailed
from xrm.platform.ids import new_id
from xrm.platform.settings import Settings
from xrm.plugins.webhook.guard import AllowList, Refused, Resolver, check, system_resolver
from xrm.schemas.naming import name_problem
from xrm.schemas.tables import UTCDateTime, id_type

EVENTS = ("create", "update", "delete")
MAX_ERROR = 1000

metadata = sa.MetaData()

destinations = sa.Table(
    "xrm_webhook_destinations",
    metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("secret", sa.Text(), nullable=False),
    sa.Column("entity", sa.String(40), nullable=True),
    sa.Column("events", sa.JSON(), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

deliveries = sa.Table(
    "xrm_webhook_deliveries",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("destination", sa.String(80), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("event", sa.String(20), nullable=False),
    sa.Column("entity", sa.String(40), nullable=True),
    sa.Column("record_id", sa.String(64), nullable=True),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("duration_ms", sa.Integer(), nullable=False),
    sa.Column("ok", sa.Boolean(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("job_id", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_xrm_webhook_deliveries_created", "created_at"),
)


@dataclass(frozen=True, slots=True)
class Destination:
    name: str
    url: str
    secret: str
    entity: str | None
    events: tuple[str, ...]
    enabled: bool

    def subscribes(self, entity: str, event: str) -> bool:
        return self.enabled and self.entity == entity and event in self.events


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    destination: str
    url: str
    event: str
    entity: str | None
    record_id: str | None
    attempt: int
    status_code: int | None
    duration_ms: int
    ok: bool
    error: str | None
    created_at: dt.datetime


# Bumped whenever destinations change in this process, so the write listener's cache
# of subscriptions is dropped at once (other processes re-read it within seconds).
_generation = 0
_generation_lock = threading.Lock()


def generation() -> int:
    return _generation


def _bump() -> None:
    global _generation
    with _generation_lock:
        _generation += 1


def _destination(row: Mapping[Any, Any]) -> Destination:
    return Destination(
        name=row["name"],
        url=row["url"],
        secret=row["secret"],
        entity=row["entity"],
        events=tuple(row["events"] or ()),
        enabled=bool(row["enabled"]),
    )


def list_destinations(conn: Connection) -> list[Destination]:
    rows = conn.execute(sa.select(destinations).order_by(destinations.c.name)).mappings()
    return [_destination(row) for row in rows]


def get_destination(conn: Connection, name: str) -> Destination | None:
    if not isinstance(name, str) or "\x00" in name:
        return None
    row = conn.execute(sa.select(destinations).where(destinations.c.name == name)).mappings()
    found = row.first()
    return _destination(found) if found is not None else None


def save_destination(
    conn: Connection,
    settings: Settings,
    *,
    name: str,
    url: str,
    secret: str | None = None,
    entity: str | None = None,
    events: Iterable[str] = (),
    entities: Iterable[str] | None = None,
    resolve: Resolver = system_resolver,
) -> Destination:
    """Add or replace a destination; every bad field is named (``ValidationFailed``).

    The URL must pass the allow-list and address check now, so a destination
    that could never be delivered to is refused when it is set up. A blank
    secret keeps the stored one, or makes a new random one.
    """
    faults: list[Fault] = []
    name = (name or "").strip()
    if problem := name_problem(name):
        faults.append(Fault("name", problem))
    url = (url or "").strip()
    try:
        check(url, AllowList.parse(settings.plugins.webhook_allow), resolve)
    except Refused as exc:
        faults.append(Fault("url", str(exc)))
    chosen = tuple(dict.fromkeys(events))
    for event in chosen:
        if event not in EVENTS:
            faults.append(Fault("events", f"{event!r} is not one of {', '.join(EVENTS)}"))
    entity = (entity or "").strip() or None
    if entity is not None and entities is not None and entity not in set(entities):
        faults.append(Fault("entity", f"no entity type named {entity!r}"))
    if entity is not None and not chosen:
        faults.append(Fault("events", "choose at least one event to post"))
    if entity is None and chosen:
        faults.append(Fault("entity", "events are posted for an entity type: choose one"))
    secret = (secret or "").strip()
    if secret and len(secret) < 16:
        faults.append(Fault("secret", "a secret has at least 16 characters"))
    if faults:
        raise ValidationFailed(faults)
    existing = get_destination(conn, name)
    secret = secret or (existing.secret if existing else random_secrets.token_hex(32))
    values = {
        "url": url,
        "secret": secret,
        "entity": entity,
        "events": list(chosen),
        "enabled": True,
    }
    if existing is None:
        conn.execute(
            destinations.insert().values(name=name, created_at=dt.datetime.now(dt.UTC), **values)
        )
    else:
        conn.execute(destinations.update().where(destinations.c.name == name).values(**values))
    _bump()
    found = get_destination(conn, name)
    assert found is not None
    return found


def remove_destination(conn: Connection, name: str) -> bool:
    if not isinstance(name, str) or "\x00" in name:
        return False
    done = conn.execute(destinations.delete().where(destinations.c.name == name))
    _bump()
    return bool(done.rowcount)


def log_delivery(
    conn: Connection,
    *,
    destination: str,
    url: str,
    event: str,
    entity: str | None,
    record_id: str | None,
    attempt: int,
    status_code: int | None,
    duration_ms: int,
    error: str | None,
    job_id: str | None,
) -> None:
    conn.execute(
        deliveries.insert().values(
            id=new_id(),
            destination=destination,
            url=url,
            event=event,
            entity=entity,
            record_id=record_id,
            attempt=attempt,
            status_code=status_code,
            duration_ms=duration_ms,
            ok=error is None,
            error=error[:MAX_ERROR] if error else None,
            job_id=job_id,
            created_at=dt.datetime.now(dt.UTC),
        )
    )


def list_deliveries(conn: Connection, limit: int = 50) -> list[Delivery]:
    t = deliveries
    rows = conn.execute(
        sa.select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
    ).mappings()
    return [
        Delivery(
            id=str(row["id"]),
            destination=row["destination"],
            url=row["url"],
            event=row["event"],
            entity=row["entity"],
            record_id=row["record_id"],
            attempt=row["attempt"],
            status_code=row["status_code"],
            duration_ms=row["duration_ms"],
            ok=bool(row["ok"]),
            error=row["error"],
            created_at=row["created_at"],
        )
        for row in rows
    ]
