"""The durable job queue: background work as rows in ``xrm_jobs`` (DESIGN decision 6).

A job is written with :func:`enqueue` in the same transaction as the change
that causes it, so it exists exactly when that change does (the outbox).
Workers (:class:`Worker`, run inside ``xrm serve`` or as ``xrm worker``) claim
due jobs under a lease, run the handler registered for the job's kind, and
mark it done, or failed with an exponential backoff, or dead after its last
attempt. A dead job stays visible until an admin retries it or it is pruned.

Modules: ``job`` (statuses, the row, errors), ``payload`` (what may go in),
``queue`` (the writes), ``admin`` (reading and pruning), ``worker`` (the loop).
"""

from xrm.platform.jobs.admin import count_by_status, get_job, list_jobs, prune
from xrm.platform.jobs.job import (
    Claim,
    Job,
    JobError,
    JobNotFound,
    JobNotRetriable,
    JobStatus,
    LeaseLost,
    UnknownJobKind,
)
from xrm.platform.jobs.queue import (
    DEFAULT_MAX_ATTEMPTS,
    Backoff,
    claim,
    complete,
    enqueue,
    fail,
    lock,
    pending,
    recover_expired,
    release,
    renew,
    retry,
)
from xrm.platform.jobs.worker import (
    Handler,
    JobContext,
    Worker,
    WorkerConfig,
    run_until_signalled,
)

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "Backoff",
    "Claim",
    "Handler",
    "Job",
    "JobContext",
    "JobError",
    "JobNotFound",
    "JobNotRetriable",
    "JobStatus",
    "LeaseLost",
    "UnknownJobKind",
    "Worker",
    "WorkerConfig",
    "claim",
    "complete",
    "count_by_status",
    "enqueue",
    "fail",
    "get_job",
    "list_jobs",
    "lock",
    "pending",
    "prune",
    "recover_expired",
    "release",
    "renew",
    "retry",
    "run_until_signalled",
]
