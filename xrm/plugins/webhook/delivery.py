"""One webhook delivery: check the target, sign the body, POST it, log the attempt.

The body is the JSON payload as bytes; its signature is
``X-Xrm-Signature: sha256=<hex HMAC-SHA256 of the body with the destination's
secret>``, so the receiver can check both who sent it and that it is whole.
A delivery succeeds on a 2xx answer; anything else (a refusal by the guard, a
timeout, a connection error, a redirect, another status) is logged and raised
as :class:`DeliveryFailed`, which fails the job so the queue retries it with
backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from xrm.platform.db import Database
from xrm.platform.settings import Settings
from xrm.plugins.spec import PluginError
from xrm.plugins.webhook import store
from xrm.plugins.webhook.guard import AllowList, Refused, Resolver, Target, check, system_resolver

SIGNATURE_HEADER = "X-Xrm-Signature"
USER_AGENT = "xrm-webhook/1"
MAX_ANSWER_BYTES = 64 * 1024


class DeliveryFailed(PluginError):
    """A delivery attempt did not get a 2xx answer; the message says what happened."""


def signature(secret: str, body: bytes) -> str:
    """The value of the ``X-Xrm-Signature`` header for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def body_of(payload: Mapping[str, Any]) -> bytes:
    """The payload as compact JSON with sorted keys (what is signed is what is sent)."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    duration_ms: int


def post(target: Target, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST ``body`` to the checked address of ``target``; the status code.

    The whole exchange must end within ``timeout`` seconds, so a receiver that
    answers byte by byte is cut off too; the answer's body is read to at most
    64 KiB and thrown away.
    """
    deadline = time.monotonic() + timeout
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    with httpx.Client(
        timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False
    ) as client:
        request = client.build_request(
            "POST",
            target.connect_url(),
            content=body,
            headers={**headers, "Host": target.host_header()},
            extensions=extensions,
        )
        response = client.send(request, stream=True)
        try:
            read = 0
            for chunk in response.iter_bytes():
                read += len(chunk)
                if read > MAX_ANSWER_BYTES or time.monotonic() > deadline:
                    break
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the answer took too long")
        finally:
            response.close()
        return response.status_code


def deliver(
    db: Database,
    settings: Settings,
    *,
    destination_name: str,
    payload: Mapping[str, Any],
    attempt: int,
    job_id: str | None,
    resolve: Resolver = system_resolver,
) -> Answer:
    """Deliver ``payload`` to the named destination once, logging the attempt either way."""
    with db.read() as conn:
        destination = store.get_destination(conn, destination_name)
    if destination is None or not destination.enabled:
        raise DeliveryFailed(f"there is no webhook destination named {destination_name!r}")
    event = str(payload.get("event") or "")
    record = payload.get("record") or payload.get("old") or {}
    record_id = str(record.get("id")) if isinstance(record, Mapping) and record.get("id") else None
    body = body_of(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(destination.secret, body),
        "X-Xrm-Event": event,
        "X-Xrm-Delivery": str(payload.get("id") or ""),
    }
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        target = check(destination.url, AllowList.parse(settings.plugins.webhook_allow), resolve)
        status = post(target, body, headers, settings.plugins.webhook_timeout_seconds)
        if 300 <= status < 400:
            error = f"answered {status} (a redirect; webhooks do not follow redirects)"
        elif not 200 <= status < 300:
            error = f"answered {status}"
    except Refused as exc:
        error = f"refused: {exc}"
    except httpx.TimeoutException:
        error = f"no answer within {settings.plugins.webhook_timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        error = f"could not connect: {type(exc).__name__}"
    duration_ms = round((time.perf_counter() - started) * 1000)
    with db.write() as conn:
        store.log_delivery(
            conn,
            destination=destination.name,
            url=destination.url,
            event=event,
            entity=payload.get("entity"),
            record_id=record_id,
            attempt=attempt,
            status_code=status,
            duration_ms=duration_ms,
            error=error,
            job_id=job_id,
        )
    if error is not None:
        raise DeliveryFailed(f"webhook {destination.name}: {error}")
    assert status is not None
    return Answer(status, duration_ms)
