"""The ``xrm user`` and ``xrm token`` commands: the operator's side of the identity service.

Every change goes through :class:`xrm.platform.accounts.Accounts` as the
system actor on channel ``cli``, so it is checked and audited exactly like
the same change made on the admin users screen.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from xrm.cli_errors import EXIT_USAGE, CommandError

if TYPE_CHECKING:
    from xrm.platform.accounts import Accounts
    from xrm.platform.db import Database
    from xrm.platform.settings import Settings


def _accounts(conn: Any, *, with_roles: bool = False) -> Accounts:
    """The identity service as the operator at the command line uses it (channel ``cli``)."""
    from xrm.platform.accounts import Accounts
    from xrm.platform.identity import SYSTEM_ACTOR

    defined = {}
    if with_roles:
        from xrm.entities.registry import load_roles

        defined = load_roles(conn)
    return Accounts(conn, SYSTEM_ACTOR, "cli", defined_roles=defined)


def cmd_token_create(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Print one new API token, and only the token; for ``--admin`` say on stderr whose it is."""
    if args.expires_in is not None and args.expires_in <= 0:
        raise CommandError("--expires-in takes a positive number of days", EXIT_USAGE)
    with db.write() as conn:
        accounts = _accounts(conn)
        if args.admin:
            admin, created = accounts.first_admin()
            assert admin.id is not None
            user = accounts.user(admin.id)
        else:
            user = accounts.user_by_email(args.user)
        token, _info = accounts.create_token(user.id, args.name, args.expires_in)
    print(token)
    if args.admin:  # stdout stays the token alone; whose it is goes to stderr
        how = " (created as the first admin)" if created else ""
        print(f"xrm: issued a token for {user.email}{how}", file=sys.stderr)
    return 0


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def cmd_token_list(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """One line per token: id, state, owner, name, created, last used, expires (never the token)."""
    from xrm.platform.identity import list_tokens

    with db.read() as conn:
        infos = list_tokens(conn, args.user)
    for info in infos:
        print(
            "\t".join(
                [
                    info.id,
                    info.state,
                    info.user_email,
                    info.name or "-",
                    f"created {_when(info.created_at)}",
                    f"used {_when(info.last_used_at)}",
                    f"expires {_when(info.expires_at)}",
                ]
            )
        )
    return 0


def cmd_token_revoke(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Revoke one token by id; it stops working on the next request, on every process."""
    with db.write() as conn:
        info = _accounts(conn).revoke_token(args.id)
    print(f"revoked token {info.id} of {info.user_email}")
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    from xrm.platform.accounts import password_problem

    if not args.password_stdin:
        return None
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise CommandError("--password-stdin: standard input held no password", EXIT_USAGE)
    if problem := password_problem(password):
        raise CommandError(f"--password-stdin: {problem}", EXIT_USAGE)
    return password


def cmd_user_create(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Create one user holding the given roles (built-in or defined); audited as a CLI change."""
    password = _read_password(args)
    with db.write() as conn:
        user = _accounts(conn, with_roles=True).create_user(
            args.email, args.role, name=args.name, password=password, locale=args.locale
        )
    print(f"created user {user.email} ({', '.join(user.roles)})")
    return 0


def cmd_user_update(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    """Change a user's roles, name, language, activity or password; audited as a CLI change."""
    from xrm.platform.accounts import UNSET, UserChange

    password = _read_password(args)
    given = (args.role, args.name, args.locale, args.active, password)
    if all(value is None for value in given):
        raise CommandError(
            "nothing to change: give --role, --name, --locale, --active/--inactive "
            "or --password-stdin",
            EXIT_USAGE,
        )
    change = UserChange(
        roles=args.role if args.role is not None else UNSET,
        name=(args.name or None) if args.name is not None else UNSET,
        locale=(args.locale or None) if args.locale is not None else UNSET,
        active=args.active if args.active is not None else UNSET,
        password=password if password is not None else UNSET,
    )
    with db.write() as conn:
        accounts = _accounts(conn, with_roles=True)
        before = accounts.user_by_email(args.email)
        after = accounts.update_user(before.id, change)
    changed = [
        label
        for label, old, new in (
            ("roles", before.roles, after.roles),
            ("name", before.name, after.name),
            ("locale", before.locale, after.locale),
            ("active" if after.active else "inactive", before.active, after.active),
        )
        if old != new
    ]
    if password is not None:
        changed.append("password")
    state = "active" if after.active else "inactive"
    summary = f"{after.email} ({', '.join(after.roles)}; {state})"
    print(f"updated user {summary}: {', '.join(changed)}" if changed else f"{summary}: no change")
    return 0
