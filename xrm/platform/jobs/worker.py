"""The worker: claims due jobs, runs each through its kind's handler, reports the outcome.

One class serves both ways of running jobs: ``xrm serve`` starts a worker's
threads inside the server process (``start`` / ``stop``), and ``xrm worker``
runs one in the foreground until SIGTERM or Ctrl-C (``run_until_signalled``).
Handlers come in as a plain mapping from kind to callable, assembled by
whoever builds the worker; nothing registers itself at import time.

A handler runs in its own transaction, opened the first time it touches
``context.conn``: its writes and the job's completion commit together, or
not at all. So a handler whose effects are database writes takes effect
exactly once, even when a stalled worker's job is swept and run by another:
the stale holder's transaction finds its claim gone and rolls back. A handler
that calls out (a webhook) should do so before it opens the transaction, so
that it holds no lock while it waits; such effects are at least once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.platform.db import Database
from xrm.platform.jobs import admin, queue
from xrm.platform.jobs.job import Claim, Job, LeaseLost, UnknownJobKind
from xrm.platform.settings import Settings

log = logging.getLogger("xrm.jobs")

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How a worker polls, leases, retries and prunes (``XRM_JOBS_*`` settings)."""

    poll_seconds: float = 1.0
    concurrency: int = 2
    lease: dt.timedelta = dt.timedelta(seconds=60)
    backoff: queue.Backoff = field(default_factory=queue.Backoff)
    retention: dt.timedelta = dt.timedelta(days=14)
    prune_every: dt.timedelta = dt.timedelta(minutes=10)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        return cls(
            poll_seconds=float(settings.jobs_poll_seconds),
            concurrency=settings.jobs_concurrency,
            lease=dt.timedelta(seconds=settings.jobs_lease_seconds),
            backoff=queue.Backoff(base=dt.timedelta(seconds=settings.jobs_backoff_seconds)),
            retention=dt.timedelta(days=settings.jobs_retention_days),
        )


class JobContext:
    """What a handler receives beside the payload: its job, the database, its transaction."""

    def __init__(self, job: Job, claim: Claim, db: Database, worker: str) -> None:
        self.job = job
        self.db = db
        self.worker = worker
        self._claim = claim
        self._stack = contextlib.ExitStack()
        self._conn: Connection | None = None

    @property
    def conn(self) -> Connection:
        """The handler's write transaction, opened on first use after checking that this
        worker still holds the job; it commits together with the job's completion."""
        if self._conn is None:
            conn = self._stack.enter_context(self.db.write())
            try:
                queue.lock(conn, self._claim)
            except BaseException as exc:
                self._rollback(exc)
                raise
            self._conn = conn
        return self._conn

    @property
    def in_transaction(self) -> bool:
        return self._conn is not None

    def _commit(self) -> None:
        self._conn = None
        self._stack.close()

    def _rollback(self, exc: BaseException) -> None:
        self._conn = None
        with contextlib.suppress(Exception):
            self._stack.__exit__(type(exc), exc, exc.__traceback__)


Handler = Callable[[Any, JobContext], None]
# Called after a failed attempt, in the transaction that records the failure (the handler's
# own was rolled back): with the job as it now stands (``failed`` or ``dead``) and the error.
# It lets a kind keep its own record of the failure, e.g. a workflow run's status and log.
FailureHook = Callable[[Connection, Job, Exception], None]


@dataclass(slots=True)
class _InFlight:
    claim: Claim
    context: JobContext
    slot: str


class Worker:
    """Claims and runs jobs with ``concurrency`` threads, renewing their leases meanwhile."""

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        config: WorkerConfig | None = None,
        *,
        on_failure: Mapping[str, FailureHook] | None = None,
        name: str | None = None,
        clock: Clock = queue.utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.handlers = dict(handlers)
        self.on_failure = dict(on_failure or {})
        self.config = config or WorkerConfig()
        if self.config.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {self.config.concurrency}")
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.clock = clock
        self.rng = rng
        self._stopping = threading.Event()
        self._slots_done = threading.Event()
        self._bell = threading.Condition()
        self._rung = False
        self._lock = threading.Lock()
        self._in_flight: dict[str, _InFlight] = {}
        self._threads: list[threading.Thread] = []
        self._heartbeat: threading.Thread | None = None
        self._last_sweep: dt.datetime | None = None
        self._last_prune: dt.datetime | None = None

    # -- running one job at a time (the slots' loop, and tests) --------------------------

    def run_once(self, slot: str | None = None) -> bool:
        """Sweep expired leases when due, then claim and run one job; False when none ran."""
        slot = slot or self.name
        with self.db.read() as conn:
            due, expired = queue.pending(conn, now=self.clock())
        self._housekeeping(sweep_needed=expired)
        if not due and not expired:
            return False
        with self.db.write() as conn:
            claims = queue.claim(conn, slot, now=self.clock(), lease=self.config.lease)
        if not claims:
            return False
        held = claims[0]
        context = JobContext(held.job, held, self.db, slot)
        # Checked and registered under the lock that ``stop`` takes to list running jobs,
        # so every claim is either in that list or handed back here.
        with self._lock:
            stopping = self._stopping.is_set()
            if not stopping:
                self._in_flight[held.id] = _InFlight(held, context, slot)
        if stopping:
            with self.db.write() as conn:
                queue.release(conn, held, now=self.clock())
            return False
        try:
            self._run(held, context)
        finally:
            with self._lock:
                self._in_flight.pop(held.id, None)
        return True

    def drain(self) -> int:
        """Run jobs until none is due; how many ran (tests and one-off runs)."""
        count = 0
        while self.run_once():
            count += 1
        return count

    def _run(self, claim: Claim, context: JobContext) -> None:
        job = claim.job
        started = time.monotonic()
        try:
            handler = self.handlers.get(job.kind)
            if handler is None:
                known = ", ".join(sorted(self.handlers)) or "none"
                raise UnknownJobKind(
                    f"no handler for job kind {job.kind!r} in this worker (known: {known})"
                )
            handler(job.payload, context)
            conn = context.conn  # completion shares the handler's transaction
            queue.complete(conn, claim, now=self.clock())
            context._commit()
        except LeaseLost as exc:
            context._rollback(exc)
            log.warning("job %s (%s): %s", job.id, job.kind, exc)
        except Exception as exc:
            context._rollback(exc)
            self._report_failure(claim, exc)
        except BaseException as exc:  # interpreter shutdown: the lease will expire
            context._rollback(exc)
            raise
        else:
            log.debug(
                "job %s (%s) done in %.3f s, attempt %d",
                job.id,
                job.kind,
                time.monotonic() - started,
                job.attempts,
            )

    def _report_failure(self, claim: Claim, exc: Exception) -> None:
        job = claim.job
        try:
            with self.db.write() as conn:
                after = queue.fail(
                    conn,
                    claim,
                    _describe(exc),
                    now=self.clock(),
                    backoff=self.config.backoff,
                    rng=self.rng,
                )
                hook = self.on_failure.get(job.kind)
                if hook is not None:
                    try:  # a broken hook must not lose the job's own failure record
                        with conn.begin_nested():
                            hook(conn, after, exc)
                    except Exception:
                        log.exception("job %s (%s): its failure hook failed", job.id, job.kind)
        except LeaseLost as lost:
            log.warning("job %s (%s) failed, but %s", job.id, job.kind, lost)
            return
        level = logging.ERROR if after.status == "dead" else logging.WARNING
        log.log(
            level,
            "job %s (%s) attempt %d of %d failed; now %s",
            job.id,
            job.kind,
            job.attempts,
            job.max_attempts,
            after.status,
            exc_info=exc,
        )

    def _housekeeping(self, *, sweep_needed: bool) -> None:
        """Sweep expired leases (at most once a poll interval) and prune finished jobs now
        and then, from whichever slot gets here first."""
        now = self.clock()
        poll = dt.timedelta(seconds=self.config.poll_seconds)
        with self._lock:
            sweep = sweep_needed and (self._last_sweep is None or now - self._last_sweep >= poll)
            prune = self._last_prune is None or now - self._last_prune >= self.config.prune_every
            if sweep:
                self._last_sweep = now
            if prune:
                self._last_prune = now
        if sweep:
            with self.db.write() as conn:
                swept = queue.recover_expired(
                    conn, now=now, backoff=self.config.backoff, rng=self.rng
                )
            for job in swept:
                log.warning(
                    "job %s (%s): lease of %s expired; now %s",
                    job.id,
                    job.kind,
                    job.claimed_by,
                    job.status,
                )
        if prune:
            with self.db.write() as conn:
                pruned = admin.prune(conn, now=now, retention=self.config.retention)
            if pruned:
                log.info("pruned %d finished jobs", pruned)

    # -- threads --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the slot threads and the lease heartbeat (daemon threads; ``stop`` ends them)."""
        if self._threads:
            raise RuntimeError("this worker is already started")
        self._stopping.clear()
        self._slots_done.clear()
        for index in range(self.config.concurrency):
            slot = f"{self.name}#{index + 1}"
            self._threads.append(
                threading.Thread(target=self._slot_loop, args=(slot,), name=slot, daemon=True)
            )
        self._heartbeat = threading.Thread(
            target=self._heartbeat_loop, name=f"{self.name}#lease", daemon=True
        )
        for thread in [*self._threads, self._heartbeat]:
            thread.start()
        log.info(
            "job worker %s started: %d at a time, polling every %.3g s",
            self.name,
            self.config.concurrency,
            self.config.poll_seconds,
        )

    @property
    def stopping(self) -> threading.Event:
        """Set once a stop was requested."""
        return self._stopping

    def wake(self) -> None:
        """Look for jobs now instead of at the next poll (e.g. just after enqueueing one)."""
        with self._bell:
            self._rung = True
            self._bell.notify_all()

    def request_stop(self) -> None:
        """Claim nothing more; the running jobs finish (safe to call from a signal handler)."""
        self._stopping.set()
        self.wake()

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop claiming and wait up to ``timeout`` seconds for running jobs to finish.

        True when all finished. Otherwise the unfinished jobs that have not yet
        started writing are handed back (queued, the attempt not counted); the
        others keep their lease and are swept once it expires. Either way the
        stale run cannot complete them.
        """
        self.request_stop()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        alive = [thread for thread in self._threads if thread.is_alive()]
        if alive:
            busy = self._abandon()
            # The others are only finishing a claim (or handing it back): wait for them.
            for thread in alive:
                if thread.name not in busy:
                    thread.join()
            alive = [thread for thread in alive if thread.is_alive()]
        if not alive:
            self._slots_done.set()
            if self._heartbeat is not None:
                self._heartbeat.join()
            self._heartbeat = None
        self._threads = alive
        log.info("job worker %s stopped%s", self.name, " (jobs abandoned)" if alive else "")
        return not alive

    def _abandon(self) -> set[str]:
        """Hand back the running jobs that have not begun writing; the slots still busy."""
        with self._lock:
            running = list(self._in_flight.values())
        for flight in running:
            if flight.context.in_transaction:
                continue
            try:
                with self.db.write() as conn:
                    handed_back = queue.release(conn, flight.claim, now=self.clock())
            except sa.exc.SQLAlchemyError:
                handed_back = False
            log.warning(
                "job %s (%s) abandoned by a stopping worker; %s",
                flight.claim.id,
                flight.claim.job.kind,
                "queued again" if handed_back else "it runs again when its lease expires",
            )
        return {flight.slot for flight in running}

    def _slot_loop(self, slot: str) -> None:
        while not self._stopping.is_set():
            try:
                ran = self.run_once(slot)
            except Exception:
                log.exception("job worker %s: could not reach the queue; trying again", slot)
                ran = False
            if not ran:
                with self._bell:
                    # A wake() that came while this slot was looking counts too.
                    self._bell.wait_for(lambda: self._rung, self.config.poll_seconds)
                    self._rung = False

    def _heartbeat_loop(self) -> None:
        """Renew the leases of running jobs every third of a lease, until the slots are done.

        It outlives ``request_stop`` on purpose: a job still finishing keeps its
        lease, so no other worker takes it up meanwhile.
        """
        every = max(self.config.lease.total_seconds() / 3, 0.01)
        while not self._slots_done.wait(every):
            with self._lock:
                claims = [f.claim for f in self._in_flight.values()]
            if not claims:
                continue
            try:
                with self.db.write() as conn:
                    queue.renew(conn, claims, now=self.clock(), lease=self.config.lease)
            except Exception:
                log.exception("job worker %s: could not renew leases", self.name)


def run_until_signalled(worker: Worker, *, grace: float = 30.0) -> bool:
    """Run ``worker`` in the foreground until SIGTERM or SIGINT (``xrm worker``); then stop
    gracefully, giving running jobs ``grace`` seconds. Call from the main thread."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("job worker %s: %s received, stopping", worker.name, signal.Signals(signum).name)
        worker.request_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.start()
        while not worker.stopping.wait(0.5):
            pass
        return worker.stop(grace)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _describe(exc: Exception) -> str:
    """The error as an admin sees it: never a database message (those go to the log)."""
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return f"a database error stopped this job ({type(exc).__name__}; see the worker's log)"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
