"""The built-in webhook plugin: a workflow action and event subscriptions, posting signed JSON.

- Action ``{"type": "webhook", "destination": "erp"}``: queued as a job with
  the write, it posts the record and event to the destination named ``erp``.
- Event subscriptions: a destination with an entity type and events gets
  every matching create, update or delete, queued in the write's transaction
  (``webhook.deliver`` jobs), whoever made the write.

Destinations, their secrets and the delivery log are the plugin's own tables
(:mod:`.store`); where a delivery may go is decided by :mod:`.guard`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from xrm.entities.events import RECORD_WRITES, WriteEvent
from xrm.platform.db import Database
from xrm.platform.jobs import enqueue
from xrm.plugins.spec import ActionCall, ActionSpec, PluginContext, hookimpl
from xrm.plugins.webhook import store
from xrm.plugins.webhook.delivery import deliver

if TYPE_CHECKING:
    from xrm.entities.catalog_state import Catalog
    from xrm.entities.records import RecordSession
    from xrm.platform.jobs import Handler, JobContext

DELIVER_JOB = "webhook.deliver"
MAX_ATTEMPTS = 6
SUBSCRIPTIONS_TTL = 5.0  # seconds another process's change of destinations may go unseen

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["destination"],
    "properties": {
        "destination": {
            "type": "string",
            "minLength": 1,
            "maxLength": 80,
            "title": "Destination",
            "description": "the name of a webhook destination set up on the plugins page",
        }
    },
    "additionalProperties": False,
}


def plain(value: Mapping[str, Any] | None) -> Any:
    """A record as JSON data: dates in ISO 8601, decimals and anything else as text."""
    if value is None:
        return None
    return orjson.loads(orjson.dumps(dict(value), default=str, option=orjson.OPT_NON_STR_KEYS))


def _run(call: ActionCall) -> None:
    payload = {
        "id": call.job_id,
        "event": str(call.event.get("type") or ""),
        "entity": call.entity,
        "workflow": call.workflow,
        "record": call.record,
        "old": call.old,
    }
    deliver(
        call.db,
        call.config,
        destination_name=str(call.settings["destination"]),
        payload=payload,
        attempt=call.attempt,
        job_id=call.job_id,
    )


class Subscriptions:
    """The write listener of event subscriptions: queues a delivery per matching destination.

    The destinations are cached (re-read when this process changed them, or
    after a few seconds), so a write that no subscription watches costs no query.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cached: list[store.Destination] = []
        self._read_at = -SUBSCRIPTIONS_TTL
        self._generation = -1

    def _destinations(self) -> list[store.Destination]:
        now = time.monotonic()
        if self._generation != store.generation() or now - self._read_at > SUBSCRIPTIONS_TTL:
            generation = store.generation()
            with self.db.read() as conn:
                self._cached = store.list_destinations(conn)
            self._read_at, self._generation = now, generation
        return self._cached

    def wants(
        self, catalog: Catalog, trigger: str, entity: str, relationship: str | None = None
    ) -> bool:
        if relationship is not None or trigger not in RECORD_WRITES:
            return False
        return any(d.subscribes(entity, trigger) for d in self._destinations())

    def before(self, session: RecordSession, event: WriteEvent) -> Mapping[str, Any] | None:
        return None

    def after(self, session: RecordSession, event: WriteEvent) -> None:
        for destination in self._destinations():
            if not destination.subscribes(event.entity, event.trigger):
                continue
            payload = {
                "event": event.trigger,
                "entity": event.entity,
                "record": plain(event.record),
                "old": plain(event.old),
            }
            enqueue(
                session.conn,
                DELIVER_JOB,
                {"destination": destination.name, "payload": payload},
                max_attempts=MAX_ATTEMPTS,
                actor_id=session.actor.id,
            )


def _deliver_job(context: PluginContext) -> Handler:
    def run(job_payload: Mapping[str, Any], job: JobContext) -> None:
        payload = {"id": job.job.id, **dict(job_payload["payload"])}
        deliver(
            context.db,
            context.settings,
            destination_name=str(job_payload["destination"]),
            payload=payload,
            attempt=job.job.attempts,
            job_id=job.job.id,
        )

    return run


@hookimpl
def xrm_action_types() -> list[ActionSpec]:
    return [
        ActionSpec(
            name="webhook",
            title="Post to a webhook",
            schema=SETTINGS_SCHEMA,
            run=_run,
            mode="job",
            max_attempts=MAX_ATTEMPTS,
        )
    ]


@hookimpl
def xrm_tables() -> list[sa.Table]:
    return [store.destinations, store.deliveries]


@hookimpl
def xrm_record_listeners(context: PluginContext) -> list[Subscriptions]:
    return [Subscriptions(context.db)]


@hookimpl
def xrm_job_handlers(context: PluginContext) -> dict[str, Handler]:
    return {DELIVER_JOB: _deliver_job(context)}
