"""Workflows started by an event a plugin emits: the sample plugin's ``sample.door``
(a package xrm knows nothing about) emits ``opened`` from its own job, and the workflows
listening run from the job queue with the event's payload; what cannot work is refused
when the workflow is saved, and a plugin switched off is said to leave its workflows idle."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.errors import DefinitionError
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_user
from xrm.platform.jobs import enqueue
from xrm.platform.settings import PluginSettings, Settings
from xrm.plugins.spec import PluginError
from xrm.workflows import runs
from xrm.workflows.runs import RunStatus

if TYPE_CHECKING:
    from plugin_fixtures import Wired

pytest_plugins = ["plugin_fixtures"]

PASSWORD = "correct horse battery"

ON_THE_DOOR: dict[str, Any] = {
    "name": "door_ticket",
    "entity": "sample_ticket",
    "on": ["plugin"],
    "source": "sample.door",
    "event": "opened",
    "actions": [
        {
            "type": "script",
            "code": (
                "who = event['payload']['who']\n"
                "log('opened by', who)\n"
                "create('sample_ticket', {'subject': 'Door opened by ' + who})"
            ),
        }
    ],
}


@pytest.fixture
def wired(sample_installed: None, make_wired: Callable[..., Wired]) -> Wired:
    from xrm_sample_plugin import TICKET

    on = make_wired()
    on.records.registry.apply([TICKET, ON_THE_DOOR])
    return on


def subjects(wired: Wired, admin: Actor) -> list[str]:
    with wired.records.session(admin, write=False) as session:
        found = session.query("sample_ticket", first=100, with_total=False).items
    return sorted(t["subject"] for t in found)


def door_runs(db: Database) -> list[runs.Run]:
    with db.read() as conn:
        return [r for r in runs.list_runs(conn) if r.workflow == "door_ticket"]


def test_the_plugins_job_emits_and_the_workflow_runs_from_the_queue_with_the_payload(
    wired: Wired, admin: Actor
) -> None:
    from xrm_sample_plugin import KNOCK_JOB

    with wired.db.write() as conn:
        enqueue(conn, KNOCK_JOB, {"who": "김민수"})
    assert subjects(wired, admin) == []  # nothing runs inside the plugin's call
    worker = wired.worker()
    assert worker.drain() == 2  # the knock, then the run it queued
    assert subjects(wired, admin) == ["Door opened by 김민수"]
    [run] = door_runs(wired.db)
    assert (run.trigger, run.status, run.record_id) == ("plugin", RunStatus.DONE, None)
    assert run.log == ("opened by 김민수",)
    # Emitting directly (as an admin page or a listener would) queues one run per workflow.
    context = wired.plugins.context(wired.db)
    assert context.emit("sample.door", "opened", {"who": "Lee"}) == 1
    assert context.emit("sample.door", "closed", {"who": "Lee"}) == 0  # nobody listens
    assert worker.drain() == 1
    assert subjects(wired, admin) == ["Door opened by Lee", "Door opened by 김민수"]


def test_a_test_run_sees_the_shape_of_the_plugins_event(wired: Wired, admin: Actor) -> None:
    probe = {
        **ON_THE_DOOR,
        "name": "probe",
        "actions": [
            {"type": "script", "code": "log(event['source'], event['name'], event['payload'])"}
        ],
    }
    run = wired.engine.test(admin, probe)
    assert (run.status, run.dry_run, run.log) == (RunStatus.DONE, True, ("sample.door opened {}",))


def test_an_unknown_source_or_event_is_refused_when_saved_and_when_emitted(
    wired: Wired,
) -> None:
    registry = wired.records.registry
    for changes, field, words in (
        ({"source": "sample.window"}, "source", "unknown trigger source 'sample.window'"),
        ({"source": "nowhere.door"}, "source", "unknown trigger source 'nowhere.door'"),
        ({"source": "door"}, "source", "'door' is not a trigger source name"),
        ({"event": "exploded"}, "event", "sample.door emits no event 'exploded'"),
        ({"on": ["create"]}, "source", "source goes with a plugin trigger"),
    ):
        with pytest.raises(DefinitionError) as bad:
            registry.apply([{**ON_THE_DOOR, "name": "other", **changes}])
        assert bad.value.faults[0].field == field
        assert words in bad.value.faults[0].message
    without = {k: v for k, v in ON_THE_DOOR.items() if k not in ("source", "event")}
    with pytest.raises(DefinitionError) as bad:
        registry.apply([{**without, "name": "other"}])
    assert [f.field for f in bad.value.faults] == ["source", "event"]
    context = wired.plugins.context(wired.db)
    with pytest.raises(PluginError, match=re.escape("unknown trigger source 'sample.window'")):
        context.emit("sample.window", "opened", {})
    with pytest.raises(PluginError, match=re.escape("sample.door emits no event 'exploded'")):
        context.emit("sample.door", "exploded", {})
    with pytest.raises(
        PluginError, match=re.escape("an event's payload is plain JSON data: payload.when")
    ):
        context.emit("sample.door", "opened", {"when": object()})
    assert door_runs(wired.db) == []


def test_a_plugin_trigger_in_the_before_stage_is_refused(wired: Wired) -> None:
    with pytest.raises(DefinitionError) as bad:
        wired.records.registry.apply([{**ON_THE_DOOR, "name": "early", "stage": "before"}])
    assert [f.field for f in bad.value.faults] == ["stage"]
    assert "use stage 'after' or 'async'" in bad.value.faults[0].message
    record_action = {"type": "update", "values": {"subject": "x"}}
    with pytest.raises(DefinitionError) as bad:
        wired.records.registry.apply([{**ON_THE_DOOR, "name": "own", "actions": [record_action]}])
    assert [f.field for f in bad.value.faults] == ["actions.0.type"]
    assert "plugin trigger does not have" in bad.value.faults[0].message


sources = st.one_of(
    st.sampled_from(["sample.door", "sample.window", "Sample.Door", "sample.", ".door", "a.b.c"]),
    st.text(max_size=40),
)


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(source=sources, event=st.one_of(st.sampled_from(["opened", "closed"]), st.text()))
def test_any_source_and_event_is_saved_only_when_the_plugin_emits_it(
    wired: Wired, source: str, event: str
) -> None:
    definition = {**ON_THE_DOOR, "name": "probe", "source": source, "event": event}
    try:
        wired.records.registry.apply([definition])
    except DefinitionError as exc:
        assert {f.field for f in exc.faults} <= {"source", "event"}
        assert (source, event) not in (("sample.door", "opened"), ("sample.door", "closed"))
        return
    assert source == "sample.door" and event in ("opened", "closed")
    assert wired.records.registry.current().workflows["probe"].event == event


def signed_in(settings: Settings, db: Database) -> Iterator[TestClient]:
    with db.write() as conn:
        create_user(conn, "ann@example.com", ("admin",), password=PASSWORD)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        form = {"email": "ann@example.com", "password": PASSWORD}
        form["csrf"] = csrf_of(client.get("/admin/login").text)
        assert client.post("/admin/login", data=form).status_code == 303
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_the_builder_offers_the_plugins_events_and_saves_one(
    wired: Wired, settings: Settings, db: Database
) -> None:
    for ann in signed_in(settings, db):
        ann.headers["Accept-Language"] = "ko"
        page = ann.get("/admin/workflows/new").text
        assert (
            '<option value="sample.door:opened">현관문: opened (플러그인 sample)</option>' in page
        )
        assert "플러그인이 이벤트를 알릴 때" in page
        form = {
            "csrf": csrf_of(page),
            "name": "door_log",
            "entity": "sample_ticket",
            "on": "plugin",
            "plugin_event": "sample.door:closed",
            "stage": "before",
            "actions.0.type": "script",
            "actions.0.code": "log(event['payload'])",
            "enabled": "1",
        }
        refused = ann.post("/admin/workflows/new", data=form)
        assert refused.status_code == 400
        assert "작업 큐에서 워크플로를 시작합니다" in html.unescape(refused.text)
        saved = ann.post(
            "/admin/workflows/new", data={**form, "stage": "async", "csrf": csrf_of(refused.text)}
        )
        assert saved.status_code == 303, saved.text
    stored = wired.records.registry.current().workflows["door_log"]
    assert (stored.source, stored.event, stored.stage) == ("sample.door", "closed", "async")


def test_a_disabled_plugin_leaves_its_workflows_idle_and_the_page_says_so(
    wired: Wired, make_wired: Callable[..., Wired], settings: Settings, db: Database
) -> None:
    off = make_wired(disabled=("sample",))
    assert "door_ticket" in off.records.registry.current().workflows  # still loads
    assert off.plugins.sources() == {}
    with pytest.raises(PluginError, match=re.escape("unknown trigger source 'sample.door'")):
        off.plugins.context(off.db).emit("sample.door", "opened", {"who": "Kim"})
    with pytest.raises(DefinitionError) as bad:
        off.records.registry.apply([{**ON_THE_DOOR, "name": "another"}])
    assert "comes from plugin 'sample', which is disabled" in bad.value.faults[0].message
    assert door_runs(db) == []
    switched_off = dataclasses.replace(settings, plugins=PluginSettings(disabled=("sample",)))
    for ann in signed_in(switched_off, db):
        listed = ann.get("/admin/workflows").text
        said = "sample.door: opened (not triggered: plugin sample is switched off)"
        assert said in listed
        page = ann.get("/admin/workflows/door_ticket").text
        assert said in page and "afterwards, from the job queue" in page
        assert f'<option value="sample.door:opened" selected>{said}</option>' in page
