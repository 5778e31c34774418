"""Process settings, read once from the environment and handed down explicitly.

No module reads ``os.environ`` on its own: ``Settings.from_env`` is called by the
CLI (or a test), and the resulting object is passed to whatever needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

DEFAULT_DATABASE_URL = "sqlite:///./xrm.db"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL schema to work in (tests isolate themselves in a fresh one).
    database_schema: str | None = None
    phone_region: str = "KR"
    secret_key: str | None = None
    default_page_size: int = 50
    max_page_size: int = 500

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        settings = cls(
            database_url=env.get("XRM_DATABASE_URL") or DEFAULT_DATABASE_URL,
            database_schema=env.get("XRM_DATABASE_SCHEMA") or None,
            phone_region=env.get("XRM_PHONE_REGION") or "KR",
            secret_key=env.get("XRM_SECRET_KEY") or None,
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **clean)  # type: ignore[arg-type]
