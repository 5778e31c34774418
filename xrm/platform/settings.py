"""Process settings, read once from the environment and handed down explicitly.

No module reads ``os.environ`` on its own: ``Settings.from_env`` is called by the
CLI (or a test), and the resulting object is passed to whatever needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import phonenumbers

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
    workflow_run_retention_days: int = 30
    schedule_poll_seconds: int = 15
    jobs_in_server: bool = True
    jobs_concurrency: int = 2
    # Imports (docs/import.md): rows per batch (one transaction each), and the largest file
    # (an XLSX counted unpacked) an import reads.
    import_batch_size: int = 500
    import_max_file_mb: int = 100
    # Rule code's worker processes and limits (xrm/workflows, docs/workflows-sandbox.md).
    sandbox: SandboxSettings = field(default_factory=lambda: SandboxSettings())
    # Plugins (xrm/plugins, docs/plugins.md): which are off, where webhooks may go, SMTP.
    plugins: PluginSettings = field(default_factory=lambda: PluginSettings())

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
            phone_region=_region(env.get("XRM_PHONE_REGION") or "KR"),
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
            workflow_run_retention_days=_int(env, "XRM_WORKFLOW_RUN_RETENTION_DAYS", 30),
            schedule_poll_seconds=_int(env, "XRM_SCHEDULE_POLL_SECONDS", 15),
            jobs_in_server=env.get("XRM_JOBS_IN_SERVER", "1").lower()
            not in ("0", "false", "no", "off"),
            import_batch_size=_int(env, "XRM_IMPORT_BATCH_SIZE", 500),
            import_max_file_mb=_int(env, "XRM_IMPORT_MAX_FILE_MB", 100),
            sandbox=SandboxSettings.from_env(env),
            plugins=PluginSettings.from_env(env),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **clean)  # type: ignore[arg-type]


def _region(raw: str) -> str:
    """A phone region phonenumbers knows (``kr`` is ``KR``): an unknown one would make every
    number written without a country code invalid, so it stops the start instead."""
    region = raw.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"XRM_PHONE_REGION must be an ISO 3166 region code such as KR or US, not {raw!r}"
        )
    return region


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


# ---- the workflow sandbox (xrm.workflows): pool size, per-run limits and their ceiling ----


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """How many sandbox workers run, and the limits of one rule run (defaults and ceiling).

    A workflow may ask for other limits (``limits`` in its definition), never
    above the ``max_*`` ceiling the administrator sets here.
    """

    workers: int = 2
    cpu_seconds: float = 1.0
    wall_seconds: float = 2.0
    memory_mb: int = 128
    max_cpu_seconds: float = 10.0
    max_wall_seconds: float = 30.0
    max_memory_mb: int = 512
    runs_per_worker: int = 1000
    max_message_bytes: int = 1_048_576
    max_calls: int = 1000
    queue_seconds: float = 10.0

    def __post_init__(self) -> None:
        for default, ceiling, name in (
            (self.cpu_seconds, self.max_cpu_seconds, "CPU_SECONDS"),
            (self.wall_seconds, self.max_wall_seconds, "WALL_SECONDS"),
            (self.memory_mb, self.max_memory_mb, "MEMORY_MB"),
        ):
            if default > ceiling:
                raise ValueError(
                    f"XRM_SANDBOX_{name} ({default:g}) is above "
                    f"XRM_SANDBOX_MAX_{name} ({ceiling:g})"
                )
        if self.memory_mb < 16:
            raise ValueError(f"XRM_SANDBOX_MEMORY_MB must be at least 16, not {self.memory_mb}")

    @classmethod
    def from_env(cls, env: os._Environ[str]) -> SandboxSettings:
        return cls(
            workers=_int(env, "XRM_SANDBOX_WORKERS", 2),
            cpu_seconds=_seconds(env, "XRM_SANDBOX_CPU_SECONDS", 1.0),
            wall_seconds=_seconds(env, "XRM_SANDBOX_WALL_SECONDS", 2.0),
            memory_mb=_int(env, "XRM_SANDBOX_MEMORY_MB", 128),
            max_cpu_seconds=_seconds(env, "XRM_SANDBOX_MAX_CPU_SECONDS", 10.0),
            max_wall_seconds=_seconds(env, "XRM_SANDBOX_MAX_WALL_SECONDS", 30.0),
            max_memory_mb=_int(env, "XRM_SANDBOX_MAX_MEMORY_MB", 512),
            runs_per_worker=_int(env, "XRM_SANDBOX_RUNS_PER_WORKER", 1000),
            max_message_bytes=_int(env, "XRM_SANDBOX_MAX_MESSAGE_BYTES", 1_048_576),
            max_calls=_int(env, "XRM_SANDBOX_MAX_CALLS", 1000),
            queue_seconds=_seconds(env, "XRM_SANDBOX_QUEUE_SECONDS", 10.0),
        )


def _seconds(env: os._Environ[str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 < value < 86_400:
        raise ValueError(f"{name} must be more than 0 and less than a day, not {raw}")
    return value


# ---- plugins (xrm.plugins): which are switched off, the webhook allow-list, SMTP ----


def _names(raw: str | None) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped, in the order given."""
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class PluginSettings:
    """Settings of the plugin manager and the built-in webhook and email plugins.

    ``disabled`` names plugins (entry-point names) that stay installed but are
    not loaded: their actions, listeners and pages disappear. Webhooks go only
    to ``webhook_allow`` (hosts or URL prefixes); everything else is refused.
    """

    disabled: tuple[str, ...] = ()
    webhook_allow: tuple[str, ...] = ()
    webhook_timeout_seconds: float = 10.0
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = False

    @classmethod
    def from_env(cls, env: os._Environ[str]) -> PluginSettings:
        return cls(
            disabled=_names(env.get("XRM_PLUGINS_DISABLED")),
            webhook_allow=_names(env.get("XRM_WEBHOOK_ALLOW")),
            webhook_timeout_seconds=_seconds(env, "XRM_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            smtp_host=env.get("XRM_SMTP_HOST") or None,
            smtp_port=_int(env, "XRM_SMTP_PORT", 25),
            smtp_user=env.get("XRM_SMTP_USER") or None,
            smtp_password=env.get("XRM_SMTP_PASSWORD") or None,
            smtp_from=env.get("XRM_SMTP_FROM") or None,
            smtp_starttls=env.get("XRM_SMTP_STARTTLS", "0").lower() in ("1", "true", "yes", "on"),
        )
