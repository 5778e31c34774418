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
    # GraphQL limits (CONTRACT §4); a request over one is refused before it runs.
    graphql_max_depth: int = 12
    graphql_max_aliases: int = 100
    graphql_max_tokens: int = 10_000
    graphql_max_cost: int = 250_000
    graphql_introspection: bool = True
    # Background jobs (xrm/platform/jobs, docs/jobs.md): polling, retries, leases, retention.
    jobs_poll_seconds: int = 1
    jobs_max_attempts: int = 10
    jobs_backoff_seconds: int = 10
    jobs_lease_seconds: int = 60
    jobs_retention_days: int = 14
    jobs_concurrency: int = 2

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        settings = cls(
            database_url=env.get("XRM_DATABASE_URL") or DEFAULT_DATABASE_URL,
            database_schema=env.get("XRM_DATABASE_SCHEMA") or None,
            phone_region=env.get("XRM_PHONE_REGION") or "KR",
            secret_key=env.get("XRM_SECRET_KEY") or None,
            max_page_size=_int(env, "XRM_GRAPHQL_MAX_PAGE", 500),
            graphql_max_depth=_int(env, "XRM_GRAPHQL_MAX_DEPTH", 12),
            graphql_max_aliases=_int(env, "XRM_GRAPHQL_MAX_ALIASES", 100),
            graphql_max_tokens=_int(env, "XRM_GRAPHQL_MAX_TOKENS", 10_000),
            graphql_max_cost=_int(env, "XRM_GRAPHQL_MAX_COST", 250_000),
            graphql_introspection=env.get("XRM_GRAPHQL_INTROSPECTION", "1").lower()
            not in ("0", "false", "no", "off"),
            jobs_poll_seconds=_int(env, "XRM_JOBS_POLL_SECONDS", 1),
            jobs_max_attempts=_int(env, "XRM_JOBS_MAX_ATTEMPTS", 10),
            jobs_backoff_seconds=_int(env, "XRM_JOBS_BACKOFF_SECONDS", 10),
            jobs_lease_seconds=_int(env, "XRM_JOBS_LEASE_SECONDS", 60),
            jobs_retention_days=_int(env, "XRM_JOBS_RETENTION_DAYS", 14),
            jobs_concurrency=_int(env, "XRM_JOBS_CONCURRENCY", 2),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **clean)  # type: ignore[arg-type]


def _int(env: os._Environ[str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value
