"""What a job is: its statuses, its row as a frozen object, and the errors the queue raises.

A job moves through five statuses::

    queued --claim--> running --complete--> done
                         |
                         +--fail / lease lost--> failed --(run_after passes)--> running ...
                         +--fail / lease lost, attempts used up--> dead
    failed, dead --retry--> queued

``failed`` means "the last attempt failed; it runs again at ``run_after``". Only
``done`` and ``dead`` are final, and only a manual retry brings a dead job back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    DEAD = "dead"


# A worker may claim a job in these statuses once its run_after has passed.
CLAIMABLE = (JobStatus.QUEUED, JobStatus.FAILED)
# A manual retry accepts only these: the others are either still going or finished well.
RETRIABLE = (JobStatus.FAILED, JobStatus.DEAD)
FINISHED = (JobStatus.DONE, JobStatus.DEAD)


@dataclass(frozen=True, slots=True)
class Job:
    """One row of ``xrm_jobs``, as read at one moment."""

    id: str
    kind: str
    payload: Any
    idempotency_key: str | None
    status: JobStatus
    attempts: int
    max_attempts: int
    run_after: dt.datetime
    claim_token: str | None
    claimed_by: str | None
    claimed_until: dt.datetime | None
    last_error: str | None
    actor_id: str | None
    request_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Job:
        values = dict(row)
        values["status"] = JobStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Claim:
    """A running job and the token that proves this holder still owns it.

    Completing or failing a job needs the token of its current claim: a holder
    whose lease expired and whose job was claimed again holds a stale token,
    and whatever it reports is refused.
    """

    job: Job
    token: str

    @property
    def id(self) -> str:
        return self.job.id


class JobError(Exception):
    """Base of the queue's own errors; the message is fit to show to an admin."""


class JobNotFound(JobError, LookupError):
    """No job has this id (never existed, or pruned)."""


class JobNotRetriable(JobError):
    """A manual retry of a job that is queued, running or done."""


class LeaseLost(JobError):
    """This holder's claim is no longer the job's current one: its work must not count."""


class UnknownJobKind(JobError):
    """No handler is registered for a job's kind (an attempt that fails, then retries)."""
