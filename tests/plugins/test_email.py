"""The email plugin against a real SMTP server on 127.0.0.1 (aiosmtpd): templated subject
and body filled from the record, sent from the job queue, retried while the server is away."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import Message
from typing import TYPE_CHECKING, Any

import pytest
from aiosmtpd.controller import Controller

from xrm.errors import DefinitionError
from xrm.platform.identity import Actor
from xrm.platform.jobs import JobStatus, list_jobs

if TYPE_CHECKING:
    from plugin_fixtures import Wired

pytest_plugins = ["plugin_fixtures"]


class Inbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.envelopes.append(list(envelope.rcpt_tos))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


WELCOME = {
    "name": "welcome",
    "entity": "contact",
    "on": ["create"],
    "actions": [
        {
            "type": "email",
            "to": "{{ record.full_name }} <{{ record.email }}>",
            "subject": "환영합니다, {{ record.full_name }}",
            "body": "Dear {{ record.full_name }},\nyour e-mail is {{ record.email }}.\n",
        }
    ],
}


def test_an_email_is_sent_from_the_queue_with_the_records_fields(
    make_wired: Callable[..., Wired], smtp: tuple[Inbox, int], admin: Actor
) -> None:
    inbox, port = smtp
    wired = make_wired(smtp_host="127.0.0.1", smtp_port=port, smtp_from="crm@example.com")
    wired.records.registry.apply([WELCOME])
    with wired.records.session(admin) as session:
        session.create("contact", {"full_name": "김민준", "email": "minjun@example.com"})
    assert inbox.messages == []  # queued with the write
    assert wired.worker().drain() == 1
    (mail,) = inbox.messages
    assert inbox.envelopes == [["minjun@example.com"]]
    assert mail["From"] == "crm@example.com"
    assert str(mail["Subject"]) == "환영합니다, 김민준"
    body = mail.get_content()  # type: ignore[attr-defined]
    assert "Dear 김민준," in body and "minjun@example.com" in body


def test_an_email_waits_and_retries_while_the_smtp_server_is_away(
    make_wired: Callable[..., Wired], admin: Actor
) -> None:
    wired = make_wired(smtp_host="127.0.0.1", smtp_port=free_port())  # nobody listens there
    wired.records.registry.apply([WELCOME])
    with wired.records.session(admin) as session:
        session.create("contact", {"full_name": "Ann", "email": "ann@example.com"})
    wired.worker().drain()
    with wired.db.read() as conn:
        (job,) = list_jobs(conn)
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert job.last_error is not None and "could not reach the SMTP server" in job.last_error


def test_a_template_that_reaches_for_python_internals_fails_the_job_not_the_process(
    make_wired: Callable[..., Wired], smtp: tuple[Inbox, int], admin: Actor
) -> None:
    inbox, port = smtp
    wired = make_wired(smtp_host="127.0.0.1", smtp_port=port)
    sneaky = {
        **WELCOME,
        "actions": [{**WELCOME["actions"][0], "body": "{{ record.__class__.__mro__ }}"}],
    }
    wired.records.registry.apply([sneaky])
    with wired.records.session(admin) as session:
        session.create("contact", {"full_name": "Eve", "email": "eve@example.com"})
    wired.worker().drain()
    with wired.db.read() as conn:
        (job,) = list_jobs(conn)
    assert inbox.messages == []
    assert job.last_error is not None and "body:" in job.last_error


def test_a_template_that_does_not_compile_is_refused_at_definition_naming_it(
    make_wired: Callable[..., Wired],
) -> None:
    wired = make_wired()
    broken = {**WELCOME, "actions": [{**WELCOME["actions"][0], "subject": "Hi {{ record."}]}
    with pytest.raises(DefinitionError) as refused:
        wired.records.registry.apply([broken])
    assert [f.field for f in refused.value.faults] == ["actions.0.subject"]
    assert "not a valid template" in refused.value.faults[0].message
