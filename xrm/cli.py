"""The ``xrm`` command: the operator's door to a database, from a shell or a script.

Every command reads ``--db`` (else ``XRM_DATABASE_URL``), brings the platform
tables up to date, does one thing and exits. Bad input, an unreachable
database or a refused definition ends in one line on stderr and a non-zero
exit, never a traceback (``XRM_DEBUG=1`` shows it). Standard output carries
only the result (a plan, a token), so scripts can use it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from xrm.cli_accounts import (
    cmd_token_create,
    cmd_token_list,
    cmd_token_revoke,
    cmd_user_create,
    cmd_user_update,
)
from xrm.cli_errors import EXIT_ERROR, EXIT_USAGE, CommandError
from xrm.cli_imports import add_commands as add_import_commands

# Only what parsing the command line needs is imported here: `xrm --help` and
# `xrm token create` must start in a few tenths of a second, so each command
# imports its own tools (SQLAlchemy, Alembic, the registry, the web stack).
if TYPE_CHECKING:
    from xrm.entities.files import DefinitionFile
    from xrm.errors import DefinitionError
    from xrm.platform.db import Database
    from xrm.platform.settings import Settings

Handler = Callable[[argparse.Namespace, "Settings", "Database"], int]


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump): ``xrm apply: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shown_url(settings: Settings) -> str:
    import sqlalchemy as sa

    try:
        shown = sa.make_url(settings.database_url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparsable URL)"
    return f"{shown} (schema {settings.database_schema})" if settings.database_schema else shown


# --- commands ---------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Nothing beyond what every command does first: initialise or upgrade the database."""
    print(f"database {_shown_url(settings)} is up to date")
    return 0


def _fault_lines(error: DefinitionError, files: Sequence[DefinitionFile]) -> list[str]:
    """``source: json.path: message`` per fault; the source is the file, else the type's name."""
    by_name = {f.name: str(f.path) for f in files if f.name}
    single = str(files[0].path) if len(files) == 1 else None
    lines = []
    for fault in error.faults:
        source, path = single, fault.field
        if source is None:
            head, _, rest = fault.field.partition(".")
            if head in by_name:
                source, path = by_name[head], rest
            else:
                source = "definitions"
        lines.append(": ".join(part for part in (source, path, fault.message) if part))
        if fault.records:
            lines.append(_records_line(fault.records, fault.count))
    records = error.extensions.get("records")
    if records and not any(f.records for f in error.faults):
        lines.append(_records_line(records, len(records)))
    return lines


def _records_line(records: Sequence[str], count: int) -> str:
    """``  blocking records: id, id, ...``, saying how many more there are beyond those listed."""
    more = f" (and {count - len(records)} more)" if count > len(records) else ""
    return "  blocking records: " + ", ".join(str(r) for r in records) + more


def _busy(message: str) -> AbstractContextManager[Any]:
    """A spinner with ``message`` on a terminal's stderr while a long step runs; else nothing.

    Standard output stays the command's result alone, and a pipe or a log
    file gets no control characters.
    """
    if not sys.stderr.isatty():
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def cmd_apply(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Apply definition files idempotently, printing the change plan."""
    from xrm.entities.files import read_definition_files
    from xrm.errors import DefinitionError
    from xrm.platform.identity import SYSTEM_ACTOR
    from xrm.plugins.manager import load as load_plugins

    files = read_definition_files(args.paths)
    if not files:
        raise CommandError("no definitions found (looked for *.json in the given paths)")
    # Workflows may use the plugins' action types; their settings are checked here too.
    registry = load_plugins(settings).registry(db)
    doing = "planning" if args.dry_run else "applying"
    try:
        with _busy(f"{doing} {len(files)} definition{'s' if len(files) != 1 else ''}…"):
            plan = registry.apply(
                [f.definition for f in files],
                actor=SYSTEM_ACTOR,
                channel="cli",
                dry_run=args.dry_run,
                confirm_data_loss=args.confirm_data_loss,
            )
    except DefinitionError as exc:
        for line in _fault_lines(exc, files):
            print(line, file=sys.stderr)
        return EXIT_ERROR
    if plan.empty:
        print("nothing to change")
        return 0
    for index, line in enumerate(plan.describe()):
        print(line)
        blocking = plan.blocking_records(index)
        if blocking:  # the step's line says how many records break each rule
            print(_records_line(blocking, len(blocking)))
    changes = f"{len(plan.steps)} change{'s' if len(plan.steps) != 1 else ''}"
    if plan.blocked:
        # Only a dry run answers a blocked plan (applying raises): it would be refused.
        print(f"dry run: {changes} planned, blocked by stored records; nothing applied")
        return EXIT_ERROR
    if args.dry_run:
        print(f"dry run: {changes} planned, nothing applied")
    else:
        print(f"applied {changes}")
    return 0


def cmd_duplicates_scan(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Find every pair of ENTITY's records that its duplicate rules match, replacing the last
    scan's pairs (what ``duplicatePairs`` and /admin/duplicates show)."""
    import time

    from xrm.entities.duplicate_scan import scan
    from xrm.entities.records import RecordService
    from xrm.entities.registry import Registry
    from xrm.platform.identity import SYSTEM_ACTOR

    service = RecordService(db, Registry(db, settings), settings)
    started = time.perf_counter()
    with _busy(f"scanning {args.entity} records…"), service.session(SYSTEM_ACTOR, "cli") as s:
        et = s.catalog.entity(args.entity)
        if not et.duplicates:
            raise CommandError(
                f"{args.entity} has no duplicate rules (x-xrm.duplicates); see docs/duplicates.md"
            )
        found = scan(s, args.entity)
    took = time.perf_counter() - started
    print(f"{args.entity}: {found} duplicate pair{'s' if found != 1 else ''} found ({took:.1f} s)")
    return 0


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def cmd_definitions_export(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Write every stored definition as a file that ``xrm apply`` accepts."""
    from xrm.entities.registry import Registry
    from xrm.schemas.admission import json_faults

    folder: Path = args.dir
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"{folder} exists and is not a folder")
    exported = Registry(db, settings).export()
    # A definition stored by an older release may hold NaN or Infinity, which JSON cannot:
    # refuse before writing anything, naming where, rather than write a file nothing reads.
    for relative, definition in exported:
        for fault in json_faults(definition):
            raise CommandError(
                f"{relative}: {fault.field}: {fault.message}; "
                "apply a corrected definition, then export again (nothing was written)"
            )
    root = folder.resolve()
    for relative, definition in exported:
        target = (folder / relative).resolve()
        if not target.is_relative_to(root):
            raise CommandError(f"refusing to write {relative!r} outside {folder}")
        _write_json(target, definition)
    print(f"wrote {len(exported)} definition{'s' if len(exported) != 1 else ''} to {folder}")
    return 0


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ``XRM_*`` variables from which ``Settings.from_env`` rebuilds ``settings``."""
    env = {"XRM_DATABASE_URL": settings.database_url, "XRM_PHONE_REGION": settings.phone_region}
    if settings.database_schema:
        env["XRM_DATABASE_SCHEMA"] = settings.database_schema
    if settings.secret_key:
        env["XRM_SECRET_KEY"] = settings.secret_key
    if not settings.jobs_in_server:
        env["XRM_JOBS_IN_SERVER"] = "0"
    return env


def _load_demo(settings: Settings, db: Database) -> None:
    from xrm.entities.catalog import definitions, demo_workflows
    from xrm.entities.demo import STEPS, load_demo
    from xrm.entities.records import RecordService
    from xrm.entities.registry import Registry
    from xrm.platform.identity import SYSTEM_ACTOR, first_admin

    registry = Registry(db, settings)
    with _busy("loading the built-in catalog…"):
        registry.apply(definitions(), actor=SYSTEM_ACTOR, channel="system")
    with db.write() as conn:
        admin = first_admin(conn)
    service = RecordService(db, registry, settings)
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("demo records", total=STEPS)
            counts = load_demo(service, admin, progress=lambda step: bar.advance(task))
    else:
        counts = load_demo(service, admin)
    # The demo's workflows come after its records: the sample data is as written.
    registry.apply(demo_workflows(), actor=SYSTEM_ACTOR, channel="system")
    created = sum(counts.values())
    print(f"demo catalog ready ({created} sample records added)" if created else "demo ready")


def cmd_serve(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Serve the application with uvicorn, in one process or several.

    uvicorn runs with xrm's guarded HTTP protocol and timeouts (``xrm.serving``:
    ``XRM_HTTP_*``), so slow or idle clients cannot exhaust the server.
    """
    import uvicorn

    from xrm import serving

    if args.workers < 1:
        raise CommandError("--workers takes a number of at least 1", EXIT_USAGE)
    if args.no_worker:
        settings = dataclasses.replace(settings, jobs_in_server=False)
    if args.demo:
        _load_demo(settings, db)
    db.dispose()  # the server processes open their own connections
    print(f"xrm: listening on http://{args.host}:{args.port} ({_shown_url(settings)})", flush=True)
    serving.configure(settings)  # also fits the open-file limit, which worker processes inherit
    options = serving.uvicorn_options(settings)
    if args.workers > 1:
        # Each worker process imports the factory and reads its settings from the environment.
        os.environ.update(settings_environment(settings))
        uvicorn.run(
            "xrm.app:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            **options,
        )
    else:
        from xrm.app import create_app

        uvicorn.run(create_app(settings, serving=True), host=args.host, port=args.port, **options)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Run background jobs and workflow schedules in the foreground until SIGTERM/Ctrl-C."""
    from xrm.background import Background
    from xrm.entities.events import Listeners
    from xrm.entities.records import RecordService
    from xrm.plugins.manager import load as load_plugins
    from xrm.workflows.engine import WorkflowEngine
    from xrm.workflows.pool import SandboxPool

    plugins = load_plugins(settings)
    plugins.prepare(db)
    pool = SandboxPool(settings.sandbox)
    records = RecordService(db, plugins.registry(db), settings)
    engine = WorkflowEngine(records, pool, plugins.actions, plugins.switched_off())
    plugins.attach(engine)
    records.listener = Listeners(records.listener, *plugins.listeners(db))
    background = Background(engine, settings, plugins.job_handlers(db))
    print(f"xrm: job worker {background.worker.name} on {_shown_url(settings)}", flush=True)
    try:
        finished = background.run_until_signalled(grace=args.grace)
    finally:
        pool.stop()
    return 0 if finished else 1


# --- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; ``--db`` is accepted before or after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="database URL (default: $XRM_DATABASE_URL, else sqlite:///./xrm.db)",
    )
    parser = _Parser(
        prog="xrm",
        description="xrm: a low-code xRM platform.",
        parents=[common],
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    def command(
        sub: Any, name: str, handler: Handler | None, help_text: str
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name, help=help_text, description=help_text, parents=[common]
        )
        if handler is not None:
            p.set_defaults(handler=handler)
        return p

    command(commands, "migrate", cmd_migrate, "initialise or upgrade the database, nothing else")

    serve = command(commands, "serve", cmd_serve, "serve the HTTP API and admin UI")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="run no background-job worker in the server (leave jobs to `xrm worker`)",
    )
    serve.add_argument(
        "--demo", action="store_true", help="load the built-in catalog and sample records first"
    )

    worker = command(
        commands, "worker", cmd_worker, "run background jobs and workflow schedules (no HTTP)"
    )
    worker.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, how long running jobs may take to finish (default 30)",
    )

    apply = command(commands, "apply", cmd_apply, "apply definitions from JSON files or folders")
    apply.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    apply.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    apply.add_argument(
        "--confirm-data-loss",
        action="store_true",
        help="allow steps that drop retired data (purges)",
    )

    definitions = command(commands, "definitions", None, "work with stored definitions")
    definitions_commands = definitions.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=_Parser, required=True
    )
    export = command(
        definitions_commands, "export", cmd_definitions_export, "write every definition to DIR"
    )
    export.add_argument("dir", type=Path, metavar="DIR")

    duplicates = command(commands, "duplicates", None, "find duplicate records")
    duplicates_commands = duplicates.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=_Parser, required=True
    )
    duplicates_scan = command(
        duplicates_commands,
        "scan",
        cmd_duplicates_scan,
        "store every pair of ENTITY records that its duplicate rules match",
    )
    duplicates_scan.add_argument("entity", metavar="ENTITY")

    user = command(commands, "user", None, "users")
    user_commands = user.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=_Parser, required=True
    )
    user_create = command(user_commands, "create", cmd_user_create, "create a user")
    user_create.add_argument("email", metavar="EMAIL")
    user_create.add_argument(
        "--role",
        action="append",
        required=True,
        metavar="ROLE",
        help="a role to hold: admin, editor, viewer or a defined one (repeatable)",
    )
    user_create.add_argument("--name", help="the name shown for the user")
    user_create.add_argument(
        "--locale", help="the user's language and region, e.g. ko or en-GB (admin UI language)"
    )
    user_create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a sign-in password from the first line of standard input",
    )

    user_update = command(
        user_commands,
        "update",
        cmd_user_update,
        "change a user's roles, name, language, activity or password",
    )
    user_update.add_argument("email", metavar="EMAIL")
    user_update.add_argument(
        "--role",
        action="append",
        metavar="ROLE",
        help="the roles to hold from now on, replacing the current ones (repeatable)",
    )
    user_update.add_argument("--name", help="the name shown for the user ('' clears it)")
    user_update.add_argument(
        "--locale", help="language and region, e.g. ko or en-GB ('' follows the browser)"
    )
    active = user_update.add_mutually_exclusive_group()
    active.add_argument(
        "--active", dest="active", action="store_const", const=True, help="let the user in again"
    )
    active.add_argument(
        "--inactive",
        dest="active",
        action="store_const",
        const=False,
        help="shut the user out: ends their sessions, their tokens stop working",
    )
    user_update.add_argument(
        "--password-stdin",
        action="store_true",
        help="set a new sign-in password from the first line of standard input "
        "(ends the user's sessions)",
    )

    add_import_commands(commands, command, _Parser)

    token = command(commands, "token", None, "API tokens")
    token_commands = token.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=_Parser, required=True
    )
    create = command(token_commands, "create", cmd_token_create, "print one new API token")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--admin",
        action="store_true",
        help="for the first admin (created if there is none); stderr names the user",
    )
    who.add_argument("--user", metavar="EMAIL", help="for an existing user")
    create.add_argument("--name", help="a label to recognise the token by")
    create.add_argument("--expires-in", type=float, metavar="DAYS", help="expire after DAYS days")
    listing = command(token_commands, "list", cmd_token_list, "list tokens (never their text)")
    listing.add_argument("--user", metavar="EMAIL", help="only this user's tokens")
    revoke = command(token_commands, "revoke", cmd_token_revoke, "revoke a token by its id")
    revoke.add_argument("id", metavar="ID")
    return parser


# --- running ----------------------------------------------------------------------------------


@contextmanager
def _database(settings: Settings) -> Iterator[Database]:
    import sqlalchemy as sa

    from xrm.platform.db import Database
    from xrm.platform.migrate import upgrade

    try:
        db = Database(settings)
    except sa.exc.ArgumentError as exc:
        raise CommandError(f"bad database URL: {exc}", EXIT_USAGE) from None
    except ImportError as exc:
        raise CommandError(f"no driver for this database URL: {exc}", EXIT_USAGE) from None
    try:
        upgrade(db)
        yield db
    finally:
        db.dispose()


def _describe(exc: BaseException, settings: Settings | None) -> tuple[str, int]:
    """The one line and exit status for an error that ends a command."""
    import sqlalchemy as sa

    from xrm.errors import XrmError

    if isinstance(exc, CommandError):
        return str(exc), exc.exit_code
    if isinstance(exc, XrmError):
        return exc.message, EXIT_ERROR
    if isinstance(exc, sa.exc.DBAPIError):
        where = _shown_url(settings) if settings else "the database"
        return f"database {where}: {exc.orig}", EXIT_ERROR
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return f"database: {exc}", EXIT_ERROR
    if isinstance(exc, ValueError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, OSError):
        return str(exc), EXIT_ERROR
    hint = "set XRM_DEBUG=1 for the traceback"
    return f"internal error: {type(exc).__name__}: {exc} ({hint})", EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xrm`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from xrm.platform.settings import Settings

    settings: Settings | None = None
    try:
        settings = Settings.from_env(database_url=getattr(args, "db", None))
        with _database(settings) as db:
            return handler(args, settings, db)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("XRM_DEBUG") == "1":
            raise
        message, status = _describe(exc, settings)
        print(f"xrm: error: {_one_line(message)}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
