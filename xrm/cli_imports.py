"""The ``xrm import``, ``xrm imports`` and ``xrm export`` commands.

An import runs in the foreground as the first admin, on channel ``import``,
through the record service (with the workflow engine listening, as in the
server), drawing a progress bar on a terminal's stderr and plain lines on a
pipe's. Standard output carries the summary only. Running the same file
again while an import of it is unfinished (killed, crashed) resumes that
import after its last committed batch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from xrm.cli_errors import EXIT_USAGE, CommandError

if TYPE_CHECKING:
    from xrm.entities.imports.run import Outcome, Progress
    from xrm.entities.records import RecordService
    from xrm.platform.db import Database
    from xrm.platform.identity import Actor
    from xrm.platform.settings import Settings

_SHOWN_ERRORS = 50


@contextmanager
def _service(settings: Settings, db: Database) -> Iterator[tuple[RecordService, Actor]]:
    """The record service with the workflow engine listening, and the acting admin."""
    from xrm.entities.records import RecordService
    from xrm.platform.identity import first_admin
    from xrm.plugins.manager import load as load_plugins
    from xrm.workflows.engine import WorkflowEngine
    from xrm.workflows.pool import SandboxPool

    plugins = load_plugins(settings)
    # Imports normalise by the plugins' formats and run workflows with their actions.
    service = RecordService(db, plugins.registry(db), settings)
    pool = SandboxPool(settings.sandbox)  # starts its workers only when a rule runs
    WorkflowEngine(service, pool, plugins.actions)
    try:
        with db.write() as conn:
            actor = first_admin(conn)
        yield service, actor
    finally:
        pool.stop()


@contextmanager
def _progress(label: str) -> Iterator[Progress]:
    """A rich bar on a terminal's stderr; else a plain line per batch (no control codes)."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import Progress as Bar

        with Bar(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(label, total=None)

            def draw(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield draw
        return

    def line(done: int, total: int) -> None:
        print(f"xrm: {label}: {done} of {total} rows", file=sys.stderr, flush=True)

    yield line


def _write_rejects(path: Path, outcome: Outcome) -> Path:
    from xrm.entities.imports.run import rejected_csv

    text = rejected_csv(outcome.headers, outcome.rejects)
    try:
        path.write_text(text, encoding="utf-8-sig")  # with a BOM: Excel then reads it as UTF-8
    except OSError:
        path = Path.cwd() / path.name
        path.write_text(text, encoding="utf-8-sig")
    return path


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def cmd_import(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Import a CSV or XLSX file; exit 0 when it ran, even with rejected rows."""
    from xrm.entities.imports import store
    from xrm.entities.imports.mapping import parse_overrides
    from xrm.entities.imports.run import Importer, Options

    with _service(settings, db) as (service, actor):
        importer = Importer(service, actor)
        resume = None
        if args.resume is not None:
            if args.dry_run:
                raise CommandError("--resume and --dry-run do not go together", EXIT_USAGE)
            with db.read() as conn:
                resume = store.get(conn, args.resume)
                if resume is None:
                    raise CommandError(
                        f"there is no import {args.resume!r} (see `xrm imports list`)"
                    )
                if resume.status != store.RUNNING:
                    raise CommandError(f"import {resume.id} is {resume.status}: nothing to resume")
                data = store.source(conn, resume.id)
            name = resume.file_name
            path = Path(args.file) if args.file else Path.cwd() / Path(name).name
            options = Options.from_stored(resume.entity, resume.options)
        else:
            if not args.entity or not args.file:
                raise CommandError(
                    "give the entity type and the file: xrm import ENTITY FILE", EXIT_USAGE
                )
            path = Path(args.file)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
            name = path.name
            options = Options(
                args.entity,
                parse_overrides(args.map or []),
                args.key,
                args.encoding,
                args.sheet,
                args.duplicates,
            )
            if not args.dry_run:
                with db.read() as conn:
                    resume = store.unfinished(conn, args.entity, store.sha256(data))
                if resume is not None:
                    options = Options.from_stored(resume.entity, resume.options)
                    print(
                        f"xrm: resuming import {resume.id} of {resume.file_name} after "
                        f"{_plural(resume.batches_done, 'batch')} already written "
                        "(with the options it started with)",
                        file=sys.stderr,
                    )
        plan = importer.prepare(name, data, options)
        for column, why in plan.ignored().items():
            print(f"xrm: column {column!r} is not imported: {why}", file=sys.stderr)
        if args.duplicates != "flag" and not plan.entity.duplicates:
            print(
                f"xrm: {plan.entity.name} has no duplicate rules (x-xrm.duplicates): "
                f"--duplicates {args.duplicates} changes nothing",
                file=sys.stderr,
            )
        label = "checking" if args.dry_run else "importing"
        with _progress(f"{label} {name}") as draw:
            outcome = importer.run(plan, dry_run=args.dry_run, resume=resume, progress=draw)
    return _summary(args, outcome, path)


def _summary(args: argparse.Namespace, outcome: Outcome, path: Path) -> int:
    from xrm.entities.imports.run import rejected_path

    rows = _plural(outcome.total, "row")
    if args.dry_run:
        print(
            f"dry run: {rows}: {outcome.created} would be created, {outcome.updated} updated, "
            f"{outcome.unchanged} unchanged, {outcome.rejected} rejected; nothing was written"
        )
        for number, _cells, reason in outcome.rejects[:_SHOWN_ERRORS]:
            print(f"  row {number}: {reason}")
        if outcome.rejected > _SHOWN_ERRORS:
            print(f"  ... and {outcome.rejected - _SHOWN_ERRORS} more in the rejected-rows file")
    else:
        print(
            f"import {outcome.import_id}: {rows}: {outcome.created} created, "
            f"{outcome.updated} updated, {outcome.unchanged} unchanged, "
            f"{outcome.rejected} rejected"
        )
    _duplicates(outcome)
    if outcome.rejects:
        written = _write_rejects(rejected_path(path, outcome.import_id), outcome)
        print(f"rejected rows: {written}")
    else:
        print("rejected rows: none")
    return 0


def _duplicates(outcome: Outcome) -> None:
    """The rows found to duplicate a record or an earlier row (flagged or merged), if any."""
    from xrm.entities.imports.run import flag_text

    flags = outcome.flags
    if not flags:
        return
    merged = sum(1 for f in flags if f.merged)
    print(
        f"duplicates: {_plural(len(flags) - merged, 'row')} flagged, "
        f"{_plural(merged, 'row')} merged"
    )
    for flag in flags[:_SHOWN_ERRORS]:
        print(f"  row {flag.row}: {flag_text(flag)}")
    if len(flags) > _SHOWN_ERRORS:
        print(f"  ... and {len(flags) - _SHOWN_ERRORS} more")


def cmd_imports_list(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """One line per import, newest first: id, status, entity, counts, when, who, file."""
    from xrm.entities.imports import store

    with db.read() as conn:
        rows = store.listing(conn, args.limit)
    for row in rows:
        when = row.created_at.strftime("%Y-%m-%d %H:%M")
        counts = f"{row.created} created, {row.updated} updated, {row.rejected} rejected"
        if row.status == store.RUNNING:
            done = min(row.total_rows, row.batches_done * row.batch_size)
            counts += f", {done}/{row.total_rows} rows"
        print(
            f"{row.id}  {row.status:<7}  {row.entity}  {counts}  {when}  "
            f"{row.actor_email or '-'}  {row.file_name}"
        )
    return 0


def cmd_imports_undo(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Delete what an import created and restore what it updated (refused if changed since)."""
    from xrm.entities.imports.undo import undo

    with _service(settings, db) as (service, actor):
        done = undo(service, actor, args.id)
    print(
        f"undid import {done.import_id}: deleted {_plural(done.deleted, 'record')}, "
        f"restored {_plural(done.restored, 'record')}"
    )
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Write an entity type's records, filtered, to standard output."""
    from xrm.entities.imports import export

    filter = export.parse_filter(args.filter)
    if args.format == "xlsx" and sys.stdout.isatty():
        raise CommandError("an XLSX workbook is binary: redirect it to a file (> FILE.xlsx)")
    with _service(settings, db) as (service, actor):
        et, rows = export.records(service, actor, args.entity, filter)
        writers: dict[str, Callable[[], int]] = {
            "csv": lambda: export.write_csv(et, rows, sys.stdout),
            "json": lambda: export.write_json(et, rows, sys.stdout),
            "xlsx": lambda: export.write_xlsx(et, rows, sys.stdout.buffer),
        }
        writers[args.format]()
        sys.stdout.flush()
    return 0


def add_commands(
    commands: argparse._SubParsersAction,
    command: Callable[..., argparse.ArgumentParser],
    parser_class: type[argparse.ArgumentParser],
) -> None:
    """Register ``import``, ``imports`` and ``export`` with the ``xrm`` parser."""
    imp = command(
        commands, "import", cmd_import, "import records from a CSV or XLSX file (in batches)"
    )
    imp.add_argument("entity", nargs="?", metavar="ENTITY", help="the entity type, e.g. customer")
    imp.add_argument("file", nargs="?", metavar="FILE", help="a .csv or .xlsx file")
    imp.add_argument(
        "--map",
        action="append",
        metavar="COLUMN=field",
        help="fill field from COLUMN (repeatable); COLUMN= leaves a column out",
    )
    imp.add_argument(
        "--key",
        metavar="FIELD",
        help="update the record whose FIELD matches (normalised) instead of creating one",
    )
    imp.add_argument(
        "--duplicates",
        choices=("flag", "skip", "merge"),
        default="flag",
        help="a row that duplicates a record or an earlier row under the type's duplicate "
        "rules: flag it (written and listed), skip it (rejected), or merge it into that "
        "record (default: flag)",
    )
    imp.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    imp.add_argument("--encoding", metavar="NAME", help="the CSV's encoding (default: detected)")
    imp.add_argument("--sheet", metavar="NAME", help="the XLSX sheet (default: the first)")
    imp.add_argument("--resume", metavar="ID", help="continue an unfinished import by its id")

    imports = command(commands, "imports", None, "list and undo imports")
    sub = imports.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=parser_class, required=True
    )
    listing = command(sub, "list", cmd_imports_list, "list imports, newest first")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    undo = command(
        sub, "undo", cmd_imports_undo, "delete what an import created, restore what it updated"
    )
    undo.add_argument("id", metavar="ID")

    exp = command(commands, "export", cmd_export, "write records as CSV, XLSX or JSON to stdout")
    exp.add_argument("entity", metavar="ENTITY")
    exp.add_argument("--format", choices=("csv", "xlsx", "json"), default="csv")
    exp.add_argument(
        "--filter", metavar="JSON", help='a filter as the API takes it: {"tier": {"eq": "gold"}}'
    )


__all__ = ["add_commands"]
