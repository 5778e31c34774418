"""The built-in email plugin: a workflow action that sends a templated e-mail through SMTP.

``{"type": "email", "to": "{{ record.email }}", "subject": "Welcome {{ record.name }}",
"body": "..."}`` is queued with the write and sent by the job worker (retried
with backoff when the SMTP server is away). ``to``, ``subject`` and ``body``
are Jinja2 templates rendered in a sandbox (``SandboxedEnvironment``: no
attribute tricks reach Python internals) with ``record``, ``old``, ``event``
and ``workflow``; a template that does not compile is refused when the
workflow is defined (:func:`template_problems`), naming the setting.

The server is the installation's: ``XRM_SMTP_HOST``, ``XRM_SMTP_PORT``,
``XRM_SMTP_USER``, ``XRM_SMTP_PASSWORD``, ``XRM_SMTP_FROM``,
``XRM_SMTP_STARTTLS``.
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import getaddresses
from functools import cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from xrm.platform.settings import PluginSettings
from xrm.plugins.spec import ActionCall, ActionSpec, PluginError, hookimpl

MAX_ATTEMPTS = 5
SMTP_TIMEOUT = 30.0

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["to", "subject", "body"],
    "properties": {
        "to": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1000,
            "title": "To",
            "description": "addresses, comma-separated; a template such as {{ record.email }}",
        },
        "subject": {"type": "string", "minLength": 1, "maxLength": 500, "title": "Subject"},
        "body": {"type": "string", "minLength": 1, "maxLength": 100_000, "title": "Body"},
    },
    "additionalProperties": False,
}


@cache
def _environment() -> SandboxedEnvironment:
    # Plain text mail: no HTML escaping; a missing field is an error, not a silent blank.
    return SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def render(template: str, values: Mapping[str, Any], where: str) -> str:
    """``template`` rendered with ``values``; a broken template names the setting."""
    try:
        return _environment().from_string(template).render(**values)
    except TemplateError as exc:
        raise PluginError(f"{where}: {exc.message or type(exc).__name__}") from None


def template_problems(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The settings whose template does not compile, with the compiler's message."""
    problems = []
    for key in ("to", "subject", "body"):
        try:
            _environment().parse(str(settings.get(key, "")))
        except TemplateError as exc:
            problems.append((key, f"not a valid template: {exc.message or type(exc).__name__}"))
    return problems


def message(call: ActionCall, sender: str) -> EmailMessage:
    """The e-mail ``call`` asks for, with the record's fields filled in."""
    values = {
        "record": call.record or {},
        "old": call.old or {},
        "event": call.event,
        "workflow": call.workflow,
    }
    to = render(str(call.settings["to"]), values, "to")
    subject = " ".join(render(str(call.settings["subject"]), values, "subject").split())
    body = render(str(call.settings["body"]), values, "body")
    recipients = [address for _, address in getaddresses([to]) if "@" in address]
    if not recipients:
        raise PluginError(f"to: {to!r} holds no e-mail address")
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = subject
    mail.set_content(body)
    return mail


def send(mail: EmailMessage, config: PluginSettings) -> None:
    """Hand ``mail`` to the configured SMTP server; a refusal or outage is a PluginError
    (the job is retried)."""
    if not config.smtp_host:
        raise PluginError("no SMTP server is set up (XRM_SMTP_HOST)")
    try:
        with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
            if config.smtp_starttls:
                smtp.starttls()
            if config.smtp_user:
                smtp.login(config.smtp_user, config.smtp_password or "")
            smtp.send_message(mail)
    except smtplib.SMTPException as exc:
        raise PluginError(f"the SMTP server refused the e-mail: {exc}") from None
    except OSError as exc:
        raise PluginError(
            f"could not reach the SMTP server {config.smtp_host}:{config.smtp_port}: "
            f"{exc.strerror or type(exc).__name__}"
        ) from None


def _run(call: ActionCall) -> None:
    config = call.config.plugins
    sender = config.smtp_from or (config.smtp_user or "xrm@localhost")
    send(message(call, sender), config)


@hookimpl
def xrm_action_types() -> list[ActionSpec]:
    return [
        ActionSpec(
            name="email",
            title="Send an e-mail",
            schema=SETTINGS_SCHEMA,
            run=_run,
            mode="job",
            max_attempts=MAX_ATTEMPTS,
            check=template_problems,
        )
    ]
