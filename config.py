"""Every setting the service reads, parsed and validated once at start-up.

A missing or malformed value raises ``ConfigError`` naming the variable, so a bad deploy
fails before it answers a single webhook instead of answering 500s. Tests build
``Settings(...)`` directly and never touch ``os.environ``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent


#: Shortest ``SECRET_KEY`` accepted (characters): 32 random ones are ~190 bits.
MIN_SECRET_KEY = 32


class ConfigError(ValueError):
    """A configuration variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class CelcoinCreds:
    username: bytes
    password: bytes

    def __repr__(self) -> str:  # never print the password, even in a traceback
        return "CelcoinCreds(username=***, password=***)"


class Secrets(tuple[bytes, ...]):
    """One or more HMAC secrets; several during a rotation, any one matching is enough."""

    def __repr__(self) -> str:
        return f"Secrets(<{len(self)} hidden>)"


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    database_url: str | None = None
    kobana_secrets: Secrets | None = None
    transfeera_secrets: Secrets | None = None
    celcoin: CelcoinCreds | None = None
    max_body_bytes: int = 1024 * 1024
    #: Transfeera signs ``t`` but documents no tolerance, and its 3 attempts are spread over an
    #: unpublished interval (providers.md §3.3, §3.7). A replayed body is deduplicated by its
    #: event id anyway, so the window is defence in depth: wide enough (24 h) never to refuse a
    #: genuine retry, narrow enough to refuse a body captured days ago.
    transfeera_tolerance_seconds: int = 24 * 3600
    #: How far in the future ``t`` may be (clock skew between Transfeera and us).
    transfeera_future_skew_seconds: int = 300
    redis_tls_verify: bool = True
    log_format: str = "console"
    log_level: str = "INFO"
    var_dir: Path = field(default=PROJECT_ROOT / "var")
    job_retry_max: int = 5
    job_retry_intervals: tuple[int, ...] = (10, 60, 300, 900, 3600)
    #: A job (its handlers' transaction) is killed after this long. It also bounds how long a
    #: job whose worker was SIGKILLed looks "started": RQ sees it abandoned at timeout + 15 s.
    job_timeout: int = 30
    #: Events a drain job takes from the inbox stream and stores in one transaction.
    drain_batch: int = 200
    #: How often a worker sweeps RQ's registries (re-queues abandoned jobs); RQ's default is 600 s.
    worker_maintenance_interval: int = 15
    #: Worker liveness TTL; an idle worker wakes every ``worker_ttl - 15`` s to do maintenance.
    worker_ttl: int = 30
    #: ``simple`` (no fork per job, measured 4x faster here: README) or ``forking`` (HerokuWorker).
    worker_class: str = "simple"
    #: The built-in reconciliation ledger handlers (docs/reconciliation.md); off → only yours run.
    ledger_enabled: bool = True
    #: A payout still pending after this long is flagged ``payout_pending``.
    ledger_pending_after_hours: int = 24
    #: Web server (read by gunicorn.conf.py): port, processes, threads per process, and the
    #: silence after which gunicorn restarts a worker. Providers wait 5 s; an ack takes ms.
    port: int = 8000
    web_concurrency: int = 2
    web_threads: int = 4
    web_timeout: int = 10
    #: ``/metrics`` needs ``Authorization: Bearer <token>`` when set; without a token it is served
    #: to loopback clients only (behind a PaaS router nothing is loopback, so nothing leaks).
    metrics_token: str | None = field(default=None, repr=False)
    #: When set, metrics are served on this port only (gunicorn's master; the worker's own port
    #: is ``worker_metrics_port``), and ``/metrics`` on the public port answers 404.
    metrics_port: int | None = None
    worker_metrics_port: int | None = None
    #: ``/readyz`` reports not ready past this many jobs waiting on the events queue.
    ready_max_queue_depth: int = 10_000
    sentry_dsn: str | None = field(default=None, repr=False)
    sentry_environment: str | None = None
    #: Signs the console's session cookies. Required by the web entry points (``require_secret_key``);
    #: ``serve.py`` generates one under ``var/``. Unset elsewhere (tests, CLI) → a random per-process key.
    secret_key: str | None = field(default=None, repr=False)
    #: A console session ends after this many hours without a request.
    console_session_hours: int = 12
    #: Proxies in front of the web that set ``X-Forwarded-For``/``-Proto`` (1 on Heroku-like
    #: routers, the default when ``DYNO`` is set). 0 trusts no such header: a direct client could
    #: otherwise claim to be 127.0.0.1 (``/metrics``) or HTTPS.
    proxy_hops: int = 0

    def require_secret_key(self) -> None:
        """The web's start-up check: a missing or short ``SECRET_KEY`` stops it with one line."""
        if not self.secret_key:
            raise ConfigError("SECRET_KEY: required to sign console sessions; set at least 32 random characters")
        if len(self.secret_key) < MIN_SECRET_KEY:
            raise ConfigError(
                f"SECRET_KEY: too short ({len(self.secret_key)} characters); use at least {MIN_SECRET_KEY}"
            )

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def enabled_providers(self) -> tuple[str, ...]:
        names = []
        if self.kobana_secrets:
            names.append("kobana")
        if self.celcoin:
            names.append("celcoin")
        if self.transfeera_secrets:
            names.append("transfeera")
        return tuple(names)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from environment variables, or raise ConfigError naming the culprit."""
        for name in sorted(_EMPTY_IS_AN_ERROR):
            if name in environ and not environ[name].strip():
                raise ConfigError(f"{name}: empty value; unset it to disable the provider")
        env = {k: v for k, v in environ.items() if v != ""}
        celcoin_user = env.get("CELCOIN_WEBHOOK_USERNAME")
        celcoin_pass = env.get("CELCOIN_WEBHOOK_PASSWORD")
        if (celcoin_user is None) != (celcoin_pass is None):
            missing = "CELCOIN_WEBHOOK_PASSWORD" if celcoin_pass is None else "CELCOIN_WEBHOOK_USERNAME"
            raise ConfigError(f"{missing}: must be set together with its pair, or neither")
        celcoin = None
        if celcoin_user is not None and celcoin_pass is not None:
            if ":" in celcoin_user:
                raise ConfigError("CELCOIN_WEBHOOK_USERNAME: must not contain ':' (HTTP Basic forbids it)")
            celcoin = CelcoinCreds(celcoin_user.encode(), celcoin_pass.encode())
        log_format = env.get("LOG_FORMAT", "json" if "DYNO" in env or "PORT" in env else "console")
        if log_format not in ("json", "console"):
            raise ConfigError(f"LOG_FORMAT: expected 'json' or 'console', got {log_format!r}")
        return cls(
            redis_url=_url(env, "REDIS_URL", ("redis://", "rediss://", "unix://")),
            database_url=_database_url(env),
            kobana_secrets=_secrets(env, "KOBANA_WEBHOOK_SECRET"),
            transfeera_secrets=_secrets(env, "TRANSFEERA_WEBHOOK_SECRET"),
            celcoin=celcoin,
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 1024 * 1024, minimum=1024),
            transfeera_tolerance_seconds=_int(env, "TRANSFEERA_TOLERANCE_SECONDS", 24 * 3600, minimum=60),
            redis_tls_verify=_bool(env, "REDIS_TLS_VERIFY", True),
            log_format=log_format,
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            var_dir=Path(env.get("VAR_DIR", str(PROJECT_ROOT / "var"))),
            job_retry_max=_int(env, "JOB_RETRY_MAX", 5, minimum=0),
            job_retry_intervals=_int_list(env, "JOB_RETRY_INTERVALS", (10, 60, 300, 900, 3600)),
            job_timeout=_int(env, "JOB_TIMEOUT", 30, minimum=1),
            drain_batch=_int(env, "DRAIN_BATCH", 200, minimum=1),
            worker_maintenance_interval=_int(env, "WORKER_MAINTENANCE_INTERVAL", 15, minimum=1),
            worker_ttl=_int(env, "WORKER_TTL", 30, minimum=16),
            worker_class=_choice(env, "WORKER_CLASS", ("simple", "forking")),
            ledger_enabled=_bool(env, "LEDGER_ENABLED", True),
            ledger_pending_after_hours=_int(env, "LEDGER_PENDING_AFTER_HOURS", 24, minimum=1),
            port=_int(env, "PORT", 8000, minimum=1),
            web_concurrency=_int(env, "WEB_CONCURRENCY", 2, minimum=1),
            web_threads=_int(env, "WEB_THREADS", 4, minimum=1),
            web_timeout=_int(env, "WEB_TIMEOUT", 10, minimum=1),
            metrics_token=env.get("METRICS_TOKEN"),
            metrics_port=_optional_int(env, "METRICS_PORT"),
            worker_metrics_port=_optional_int(env, "WORKER_METRICS_PORT"),
            ready_max_queue_depth=_int(env, "READY_MAX_QUEUE_DEPTH", 10_000, minimum=1),
            sentry_dsn=_url(env, "SENTRY_DSN", ("https://", "http://")),
            sentry_environment=env.get("SENTRY_ENVIRONMENT"),
            secret_key=env.get("SECRET_KEY"),
            console_session_hours=_int(env, "CONSOLE_SESSION_HOURS", 12, minimum=1),
            proxy_hops=_int(env, "PROXY_HOPS", 1 if "DYNO" in env else 0),
        )


#: Variables where an explicitly empty value is a mistake worth stopping for (an empty HMAC
#: secret would make every forged body verify against ``hmac(b"", ...)``).
_EMPTY_IS_AN_ERROR = frozenset(
    {
        "KOBANA_WEBHOOK_SECRET",
        "TRANSFEERA_WEBHOOK_SECRET",
        "CELCOIN_WEBHOOK_USERNAME",
        "CELCOIN_WEBHOOK_PASSWORD",
        "METRICS_TOKEN",
    }
)


def _secrets(env: Mapping[str, str], name: str) -> Secrets | None:
    value = env.get(name)
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",")]
    if any(not p for p in parts):
        raise ConfigError(f"{name}: empty secret (check for a stray ',' or an empty value)")
    return Secrets(p.encode() for p in parts)


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    value = env.get(name)
    if value is not None and not value.startswith(schemes):
        raise ConfigError(f"{name}: expected a URL starting with one of {', '.join(schemes)}")
    return value


def _database_url(env: Mapping[str, str]) -> str | None:
    value = _url(env, "DATABASE_URL", ("postgres://", "postgresql://", "postgresql+psycopg://", "sqlite://"))
    if value is None:
        return None
    # Heroku-like platforms hand out postgres://; SQLAlchemy wants an explicit driver.
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix) :]
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    return value


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    return _int(env, name, 0, minimum=1) if name in env else None


def _int_list(env: Mapping[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        values = tuple(int(p) for p in raw.split(","))
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated seconds, got {raw!r}") from None
    if not values or any(v < 0 for v in values):
        raise ConfigError(f"{name}: expected non-negative seconds, got {raw!r}")
    return values


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, choices[0]).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")
