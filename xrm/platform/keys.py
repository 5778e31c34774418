"""The one secret every process signs with: ``XRM_SECRET_KEY``, else one generated and kept.

When the environment gives no key, the first process to need one stores a
random key in ``xrm_state``; every other process (and every restart) reads
that same row, so cookies signed by one worker verify on all of them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa

from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.settings import Settings

_STATE_KEY = "secret_key"


def secret_key(db: Database, settings: Settings) -> bytes:
    """The configured key, or the stored one (created on first use, race-free)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    state = tables.state
    read = sa.select(state.c.value).where(state.c.key == _STATE_KEY)
    with db.read() as conn:
        found = conn.execute(read).scalar_one_or_none()
    if found is None:
        candidate = secrets.token_urlsafe(48)
        try:
            with db.write() as conn:
                conn.execute(state.insert().values(key=_STATE_KEY, value=candidate))
        except sa.exc.IntegrityError:
            pass  # another worker stored its key first: everyone uses that one
        with db.read() as conn:
            found = conn.execute(read).scalar_one()
    return str(found).encode()


def sign(key: bytes, value: str, purpose: str) -> str:
    """``value`` with an HMAC-SHA256 of it for one purpose (a cookie's name), URL-safe."""
    mac = hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return f"{value}.{mac}"


def unsign(key: bytes, signed: str, purpose: str) -> str | None:
    """The value if the signature is ours for this purpose, else None (constant-time check)."""
    value, dot, _ = signed.rpartition(".")
    if not dot or not value:
        return None
    return value if hmac.compare_digest(sign(key, value, purpose), signed) else None
