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
    # Records per page: what a list without ``first`` gets, and the most ``first`` may ask.
    # Every reader (graphql-core, the fast path, the one-statement plan, the record
    # service) takes both from here.
    default_page_size: int = 50
    max_page_size: int = 500
    # GraphQL limits (CONTRACT §4); a request over one is refused before it runs.
    graphql_max_depth: int = 12
    graphql_max_aliases: int = 100
    graphql_max_tokens: int = 10_000
    graphql_max_cost: int = 250_000
    graphql_max_filter_depth: int = 10
    graphql_max_filter_width: int = 1_000
    graphql_introspection: bool = True
    # Inputs one request may create or change (``createXs(inputs:)``, ``input`` arguments).
    max_batch: int = 1_000
    # Request bodies larger than this are refused with 413 while they are being read.
    max_body_mb: int = 4
    # What ``xrm serve`` allows a client (seconds; connections per server process).
    http_header_timeout: int = 10
    http_body_timeout: int = 60
    http_keep_alive_timeout: int = 5
    http_max_connections: int = 1_000
    # Background jobs (xrm/platform/jobs, docs/jobs.md): polling, retries, leases, retention.
    jobs_poll_seconds: int = 1
    jobs_max_attempts: int = 10
    jobs_backoff_seconds: int = 10
    jobs_lease_seconds: int = 60
    jobs_retention_days: int = 14
    jobs_concurrency: int = 2

    @property
    def max_body_bytes(self) -> int:
        return self.max_body_mb * 1024 * 1024

    @property
    def page_size(self) -> int:
        """Records a list without ``first`` gets: the default, never above the maximum."""
        return min(self.default_page_size, self.max_page_size)

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
            graphql_max_filter_depth=_int(env, "XRM_GRAPHQL_MAX_FILTER_DEPTH", 10),
            graphql_max_filter_width=_int(env, "XRM_GRAPHQL_MAX_FILTER_WIDTH", 1_000),
            graphql_introspection=env.get("XRM_GRAPHQL_INTROSPECTION", "1").lower()
            not in ("0", "false", "no", "off"),
            max_batch=_int(env, "XRM_MAX_BATCH", 1_000),
            max_body_mb=_int(env, "XRM_MAX_BODY_MB", 4),
            http_header_timeout=_int(env, "XRM_HTTP_HEADER_TIMEOUT", 10),
            http_body_timeout=_int(env, "XRM_HTTP_BODY_TIMEOUT", 60),
            http_keep_alive_timeout=_int(env, "XRM_HTTP_KEEP_ALIVE_TIMEOUT", 5),
            http_max_connections=_int(env, "XRM_HTTP_MAX_CONNECTIONS", 1_000),
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
