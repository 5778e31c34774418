"""Plugin discovery and switching off: the built-in plugins through xrm's own entry points,
a third-party package (tests/plugins/sample_plugin) that xrm knows nothing about through
its own, and what disabling one does to the workflows that use it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from xrm.errors import DefinitionError, XrmError
from xrm.platform.db import Database
from xrm.platform.identity import Actor
from xrm.platform.settings import PluginSettings, Settings
from xrm.plugins.manager import Plugins
from xrm.plugins.spec import ActionSpec, hookimpl
from xrm.workflows import runs
from xrm.workflows.runs import RunStatus

if TYPE_CHECKING:
    from plugin_fixtures import Wired

pytest_plugins = ["plugin_fixtures"]


def plugins(**options: Any) -> Plugins:
    return Plugins(Settings(plugins=PluginSettings(**options)))


def test_the_built_in_plugins_are_found_through_entry_points_with_their_version() -> None:
    found = {p.name: p for p in plugins().infos}
    assert {"webhook", "email"} <= set(found)
    assert found["webhook"].distribution == "xrm" and found["webhook"].version
    assert found["webhook"].provides["actions"] == ("webhook",)
    assert found["webhook"].provides["listeners"] == ("record events",)
    assert found["email"].provides["actions"] == ("email",)


def test_a_disabled_plugin_is_listed_switched_off_and_provides_nothing() -> None:
    manager = plugins(disabled=("webhook",))
    found = {p.name: p for p in manager.infos}
    assert found["webhook"].enabled is False and found["webhook"].provides == {}
    assert "webhook" not in manager.actions and "email" in manager.actions
    assert manager.listeners(db=None) == []  # type: ignore[arg-type]


def test_a_package_xrm_knows_nothing_about_is_discovered(sample_installed: None) -> None:
    found = {p.name: p for p in plugins().infos}
    sample = found["sample"]
    assert (sample.distribution, sample.version, sample.enabled) == (
        "xrm-sample-plugin",
        "0.3.0",
        True,
    )
    assert sample.provides == {
        "actions": ("sample_stamp",),
        "formats": ("sample.voucher",),
        "packs": ("sample_helpdesk",),
        "pages": ("stamps",),
        "triggers": ("sample.door",),
    }


def test_the_sample_pack_installs_and_its_action_runs_until_the_plugin_is_disabled(
    sample_installed: None,
    make_wired: Callable[..., Wired],
    admin: Actor,
) -> None:
    from xrm_sample_plugin import STAMP_TICKETS, STAMPED

    wired = make_wired()
    wired.plugins.install_pack(wired.records.registry, "sample_helpdesk")
    with wired.records.session(admin) as session:
        ticket = session.create("sample_ticket", {"subject": "Printer on fire"})
    assert STAMPED[-1] == {"label": "new", "id": ticket["id"]}

    # The same database, the plugin switched off: the workflow still loads, its run fails.
    off = make_wired(disabled=("sample",))
    assert "sample_stamp" not in off.plugins.actions
    assert "stamp_tickets" in off.records.registry.current().workflows
    with pytest.raises(XrmError) as failed, off.records.session(admin) as session:
        session.create("sample_ticket", {"subject": "Printer on fire again"})
    said = "'sample_stamp' is provided by plugin 'sample', which is disabled"
    assert said in str(failed.value)  # the plugin named, not guessed at
    assert off.plugins.disabled_actions == {"sample_stamp": ("sample", "Stamp the record")}
    with off.db.read() as conn:
        failures = [r for r in runs.list_runs(conn) if r.status is RunStatus.FAILED]
    assert failures and "XRM_PLUGINS_DISABLED" in (failures[0].error or "")
    # ...and a new workflow cannot use the action at all.
    with pytest.raises(DefinitionError) as refused:
        off.records.registry.apply([{**STAMP_TICKETS, "name": "other"}])
    assert [f.field for f in refused.value.faults] == ["actions.0.type"]
    assert "unknown action type 'sample_stamp'" in refused.value.faults[0].message


class Clashing:
    """A plugin whose action types clash with a built-in, with the webhook plugin, or whose
    settings schema is not a JSON Schema; its good one must still work."""

    @hookimpl
    def xrm_action_types(self) -> list[ActionSpec]:
        def noop(call: object) -> None:
            return None

        return [
            ActionSpec("set", {"type": "object"}, noop),
            ActionSpec("webhook", {"type": "object"}, noop),
            ActionSpec("broken", {"type": "no-such-type"}, noop),
            ActionSpec("fine", {"type": "object"}, noop, mode="inline"),
        ]


CLASHING = Clashing()


def test_a_plugin_with_clashing_actions_loses_those_and_nothing_else() -> None:
    points = [
        *entry_points(group="xrm.plugins"),
        EntryPoint("clashing", f"{__name__}:CLASHING", "xrm.plugins"),
    ]
    manager = Plugins(Settings(), points=points)
    assert set(manager.actions) == {"webhook", "email", "fine"}
    assert manager.action_plugin("webhook") == "webhook"
    assert len(manager.problems) == 3 and all(p.startswith("clashing:") for p in manager.problems)
    assert set(manager.action_types().names) == {"webhook", "email", "fine"}


def test_server_workers_starting_side_by_side_create_the_plugin_tables_once(
    db: Database,
) -> None:
    """``xrm serve --workers 2`` prepares the plugins in both processes at once; on
    PostgreSQL two ``CREATE TABLE`` of one name used to race and kill a worker."""
    manager = plugins()
    tables = manager.tables()
    assert tables
    for _ in range(3):
        with db.write() as conn:
            for table in reversed(tables):
                table.drop(conn, checkfirst=True)
        start = threading.Barrier(2)
        failures: list[BaseException] = []

        def prepare(start: threading.Barrier, failures: list[BaseException]) -> None:
            start.wait()
            try:
                manager.prepare(db)
            except BaseException as exc:  # reported below, with the round it failed in
                failures.append(exc)

        workers = [threading.Thread(target=prepare, args=(start, failures)) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert failures == []
        found = set(sa.inspect(db.engine).get_table_names(schema=db.settings.database_schema))
        assert {t.name for t in tables} <= found
