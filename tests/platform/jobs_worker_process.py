"""A job worker process for the queue tests: the test handlers, run the way ``xrm worker`` runs.

Reads the database from ``XRM_DATABASE_URL`` / ``XRM_DATABASE_SCHEMA``. With
``--ready FILE --go FILE`` it announces that it started and waits for the
test's go-ahead, so that several processes begin claiming at the same moment.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

from jobs_support import HANDLERS

from xrm.platform.db import Database
from xrm.platform.jobs import Backoff, Worker, WorkerConfig, run_until_signalled
from xrm.platform.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument("--backoff", type=float, default=10.0)
    parser.add_argument("--ready", type=Path)
    parser.add_argument("--go", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    db = Database(Settings.from_env())
    config = WorkerConfig(
        poll_seconds=args.poll,
        concurrency=args.concurrency,
        lease=dt.timedelta(seconds=args.lease),
        backoff=Backoff(base=dt.timedelta(seconds=args.backoff)),
    )
    worker = Worker(db, HANDLERS, config, name=args.name)
    if args.ready is not None:
        args.ready.touch()
    if args.go is not None:
        while not args.go.exists():
            time.sleep(0.01)
    try:
        return 0 if run_until_signalled(worker, grace=30.0) else 1
    finally:
        db.dispose()


if __name__ == "__main__":
    sys.exit(main())
