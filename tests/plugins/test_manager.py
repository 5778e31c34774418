"""Plugin discovery and switching off: the built-in plugins through xrm's own entry points,
a third-party package (tests/plugins/sample_plugin) that xrm knows nothing about through
its own, and what disabling one does to the workflows that use it."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from xrm.errors import DefinitionError, XrmError
from xrm.platform.identity import Actor
from xrm.platform.settings import PluginSettings, Settings
from xrm.plugins.manager import Plugins
from xrm.workflows import runs
from xrm.workflows.runs import RunStatus

if TYPE_CHECKING:
    from plugin_fixtures import Wired

pytest_plugins = ["plugin_fixtures"]

SAMPLE = Path(__file__).parent / "sample_plugin"


@pytest.fixture
def sample_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Install the sample package the way pip's editable install does: its source on
    sys.path and a ``*.dist-info`` with the entry points its own pyproject.toml declares."""
    project = tomllib.loads((SAMPLE / "pyproject.toml").read_text())["project"]
    info = tmp_path / f"xrm_sample_plugin-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = [
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items())
        for group, points in project["entry-points"].items()
    ]
    (info / "entry_points.txt").write_text("\n".join(lines))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(SAMPLE / "src"))
    yield
    sys.modules.pop("xrm_sample_plugin", None)


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
    assert sample.provides == {"actions": ("sample_stamp",), "packs": ("sample_helpdesk",)}


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
    assert "'sample_stamp' is provided by a plugin that is not installed or is disabled" in str(
        failed.value
    )
    with off.db.read() as conn:
        failures = [r for r in runs.list_runs(conn) if r.status is RunStatus.FAILED]
    assert failures and "XRM_PLUGINS_DISABLED" in (failures[0].error or "")
    # ...and a new workflow cannot use the action at all.
    with pytest.raises(DefinitionError) as refused:
        off.records.registry.apply([{**STAMP_TICKETS, "name": "other"}])
    assert [f.field for f in refused.value.faults] == ["actions.0.type"]
    assert "unknown action type 'sample_stamp'" in refused.value.faults[0].message
