"""Which workflows a write fires, in which order: one pure function, tested on its own.

The record service says what happened (create, update with the fields that
really changed, delete, link or unlink on a relationship); this picks the
enabled workflows of that stage whose trigger matches, then orders them by
``order`` and name, so several workflows on one event always run the same
way. An update that changed nothing fires nothing (twentyhq/twenty#11322);
``fields`` narrows an update trigger to changes of those fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xrm.entities.events import LINK_WRITES, RECORD_WRITES
from xrm.schemas.workflows import Workflow

RECORD_TRIGGERS = frozenset(RECORD_WRITES)
LINK_TRIGGERS = frozenset(LINK_WRITES)


@dataclass(frozen=True, slots=True)
class Happening:
    """What a write did, as far as triggers care.

    ``entity`` is the record's type; for ``link``/``unlink`` it is the
    relationship's ``from`` side and ``relationship`` names the many-to-many
    relationship or the reference (``<entity>.<property>``). ``changed`` holds
    the fields an update really changed.
    """

    trigger: str
    entity: str
    relationship: str | None = None
    changed: frozenset[str] = frozenset()


def fired(workflows: Iterable[Workflow], what: Happening, stage: str) -> list[Workflow]:
    """The enabled ``stage`` workflows ``what`` fires, by ``order`` then name."""
    chosen = []
    for workflow in workflows:
        if not workflow.enabled or workflow.stage != stage or not workflow.fires_on(what.trigger):
            continue
        if workflow.entity != what.entity:
            continue
        if what.trigger in LINK_TRIGGERS:
            if workflow.relationship != what.relationship:
                continue
        elif what.trigger == "update":
            if not what.changed:
                continue
            if workflow.fields is not None and not (workflow.fields & what.changed):
                continue
        elif what.trigger not in RECORD_TRIGGERS:
            continue  # schedule and manual runs are started by name, never by a write
        chosen.append(workflow)
    chosen.sort(key=lambda w: w.sort_key)
    return chosen
