"""The webhook plugin end to end: a workflow action and an event subscription posting signed
JSON to a real HTTP server on 127.0.0.1 (allow-listed by the test), through the job queue,
with retries and a delivery log. Nothing here opens a connection anywhere else."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from xrm.errors import DefinitionError, ValidationFailed
from xrm.platform.identity import Actor
from xrm.platform.jobs import JobStatus, list_jobs
from xrm.plugins.webhook import store
from xrm.workflows import runs

if TYPE_CHECKING:
    from plugin_fixtures import Receiver, Wired

pytest_plugins = ["plugin_fixtures"]

SECRET = "s3cret-s3cret-s3cret"


def hook_on_create(destination: str = "erp") -> dict[str, Any]:
    return {
        "name": "tell_erp",
        "entity": "customer",
        "on": ["create"],
        "actions": [{"type": "webhook", "destination": destination}],
    }


def add_destination(wired: Wired, url: str, **options: Any) -> store.Destination:
    with wired.db.write() as conn:
        return store.save_destination(
            conn, wired.settings, name="erp", url=url, secret=SECRET, **options
        )


def deliveries(wired: Wired) -> list[store.Delivery]:
    with wired.db.read() as conn:
        return list(reversed(store.list_deliveries(conn)))


def signed(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def wired(make_wired: Callable[..., Wired], receiver: Receiver) -> Wired:
    return make_wired(webhook_allow=(f"http://127.0.0.1:{receiver.port}/",))


def test_a_workflow_posts_the_new_record_signed_from_the_job_queue(
    wired: Wired, receiver: Receiver, admin: Actor
) -> None:
    add_destination(wired, receiver.url())
    wired.records.registry.apply([hook_on_create()])
    with wired.records.session(admin) as session:
        customer = session.create("customer", {"name": "한빛상사", "email": "a@example.com"})
    assert receiver.received == []  # queued with the write, not sent inside it
    assert wired.worker().drain() == 1
    (got,) = receiver.received
    payload = json.loads(got.body)
    assert payload["event"] == "create" and payload["workflow"] == "tell_erp"
    assert payload["record"]["id"] == customer["id"]
    assert payload["record"]["name"] == "한빛상사"
    assert got.headers["x-xrm-signature"] == signed(got.body)
    assert got.headers["content-type"] == "application/json"
    (logged,) = deliveries(wired)
    assert (logged.status_code, logged.attempt, logged.ok, logged.error) == (200, 1, True, None)
    assert logged.record_id == customer["id"]


def test_a_failing_receiver_is_retried_with_backoff_and_every_attempt_logged(
    wired: Wired, receiver: Receiver, admin: Actor
) -> None:
    add_destination(wired, receiver.url())
    wired.records.registry.apply([hook_on_create()])
    receiver.answers = [500, 503]
    with wired.records.session(admin) as session:
        session.create("customer", {"name": "Retry Co"})
    worker = wired.worker()
    assert worker.drain() == 1
    assert worker.drain() == 0  # the retry waits for its backoff
    wired.later(11)
    assert worker.drain() == 1
    wired.later(21)
    assert worker.drain() == 1
    assert [(d.attempt, d.status_code, d.ok) for d in deliveries(wired)] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    assert deliveries(wired)[0].error == "answered 500"
    with wired.db.read() as conn:
        (job,) = list_jobs(conn)
    assert job.status == JobStatus.DONE and job.attempts == 3
    assert len({r.body for r in receiver.received}) == 1  # the same signed body every time


def test_a_slow_or_redirecting_receiver_is_cut_off_and_logged(
    make_wired: Callable[..., Wired], receiver: Receiver, admin: Actor
) -> None:
    wired = make_wired(
        webhook_allow=(f"http://127.0.0.1:{receiver.port}/",), webhook_timeout_seconds=0.3
    )
    add_destination(wired, receiver.url())
    wired.records.registry.apply([hook_on_create()])
    receiver.delay = 1.0
    with wired.records.session(admin) as session:
        session.create("customer", {"name": "Slow Co"})
    wired.worker().drain()
    receiver.delay = 0.0
    receiver.answers, receiver.redirect_to = [302], "http://169.254.169.254/latest/meta-data"
    wired.later(11)
    wired.worker().drain()
    assert [(d.status_code, d.error) for d in deliveries(wired)] == [
        (None, "no answer within 0.3 s"),
        (302, "answered 302 (a redirect; webhooks do not follow redirects)"),
    ]
    assert len(receiver.received) == 2  # the redirect's target was never asked


def test_an_event_subscription_posts_every_update_whoever_writes(
    wired: Wired, receiver: Receiver, admin: Actor
) -> None:
    add_destination(wired, receiver.url("/events"), entity="customer", events=["update"])
    with wired.records.session(admin) as session:
        customer = session.create("customer", {"name": "Before"})  # not subscribed: create
        session.update("customer", customer["id"], {"name": "After"})
    assert wired.worker().drain() == 1
    (got,) = receiver.received
    payload = json.loads(got.body)
    assert (got.path, payload["event"], payload["entity"]) == ("/events", "update", "customer")
    assert (payload["record"]["name"], payload["old"]["name"]) == ("After", "Before")
    assert got.headers["x-xrm-signature"] == signed(got.body)


def test_a_destination_outside_the_allow_list_is_refused_when_set_up(
    wired: Wired, receiver: Receiver
) -> None:
    for url in (f"http://127.0.0.2:{receiver.port}/hook", "https://example.com/hook"):
        with pytest.raises(ValidationFailed) as refused:
            add_destination(wired, url)
        assert [f.field for f in refused.value.faults] == ["url"]
        assert "allow-list" in refused.value.faults[0].message


def test_bad_webhook_settings_are_refused_when_the_workflow_is_defined(wired: Wired) -> None:
    bad = {**hook_on_create(), "actions": [{"type": "webhook", "destination": "", "x": 1}]}
    with pytest.raises(DefinitionError) as refused:
        wired.records.registry.apply([bad])
    fields = sorted(f.field for f in refused.value.faults)
    assert fields == ["actions.0", "actions.0.destination"]


def test_a_run_of_a_missing_destination_fails_and_the_job_says_why(
    wired: Wired, admin: Actor
) -> None:
    wired.records.registry.apply([hook_on_create("nowhere")])
    with wired.records.session(admin) as session:
        session.create("customer", {"name": "Lost Co"})
    wired.worker().drain()
    with wired.db.read() as conn:
        (job,) = list_jobs(conn)
        (run,) = runs.list_runs(conn)
    assert run.log == (f"webhook: queued as job {job.id}",)  # the run queued it and is done
    assert job.status == JobStatus.FAILED
    assert job.last_error is not None and "no webhook destination named 'nowhere'" in job.last_error
