"""Background work of one process: the job worker, the workflow schedule, run pruning.

``xrm serve`` starts it inside the server (unless ``--no-worker`` or
``XRM_JOBS_IN_SERVER=0``), and ``xrm worker`` runs it alone in the foreground,
so jobs scale out over more processes on the same PostgreSQL. Every process
that runs it also looks at the workflow schedule about every
``XRM_SCHEDULE_POLL_SECONDS``; the claim on a tick's row makes each tick run once
whichever process sees it first (:mod:`xrm.workflows.schedule`).
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Mapping
from types import FrameType

from xrm.platform.jobs import Handler, Worker, WorkerConfig
from xrm.platform.settings import Settings
from xrm.workflows import runs
from xrm.workflows.engine import WorkflowEngine

log = logging.getLogger("xrm.background")


class Background:
    """A job worker running the engine's job kinds, and a thread for the schedule."""

    def __init__(
        self,
        engine: WorkflowEngine,
        settings: Settings,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        """``handlers``: more job kinds to run beside the engine's (the plugins')."""
        self.engine = engine
        self.settings = settings
        self.worker = Worker(
            engine.records.db,
            {**(handlers or {}), **engine.job_handlers()},
            WorkerConfig.from_settings(settings),
            on_failure=engine.failure_hooks(),
        )
        self._stopping = threading.Event()
        self._schedule: threading.Thread | None = None
        self._last_prune: dt.datetime | None = None

    def start(self) -> None:
        self._stopping.clear()
        self.worker.start()
        self._schedule = threading.Thread(
            target=self._schedule_loop, name=f"{self.worker.name}#schedule", daemon=True
        )
        self._schedule.start()

    def stop(self, grace: float = 30.0) -> bool:
        """Stop the schedule, then the worker (running jobs get ``grace`` seconds)."""
        self._stopping.set()
        if self._schedule is not None:
            self._schedule.join()
            self._schedule = None
        return self.worker.stop(grace)

    def run_until_signalled(self, grace: float = 30.0) -> bool:
        """``xrm worker``: run until SIGTERM or SIGINT, then stop gracefully."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("%s received, stopping", signal.Signals(signum).name)
            self._stopping.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not self._stopping.wait(0.5):
                pass
            return self.stop(grace)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def step(self, now: dt.datetime | None = None) -> None:
        """One look at the schedule and, now and then, pruning of old runs."""
        now = now or dt.datetime.now(dt.UTC)
        ticks = self.engine.tick(now=now, holder=self.worker.name)
        if ticks:
            self.worker.wake()
        if self._last_prune is None or now - self._last_prune >= dt.timedelta(hours=1):
            self._last_prune = now
            retention = dt.timedelta(days=self.settings.workflow_run_retention_days)
            with self.engine.records.db.write() as conn:
                pruned = runs.prune(conn, now=now, retention=retention)
            if pruned:
                log.info("pruned %d workflow runs", pruned)

    def _schedule_loop(self) -> None:
        every = float(self.settings.schedule_poll_seconds)
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception:
                log.exception("the workflow schedule could not be checked; trying again")
            self._stopping.wait(every)
