"""Every setting the service reads, parsed and validated once at start-up.

A missing or malformed value raises ``ConfigError`` naming the variable, so a bad deploy
fails before it answers a single webhook instead of answering 500s. Tests build
``Settings(...)`` directly and never touch ``os.environ``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    #: How long a drain waits for the next events before it lets its job end (workers/jobs.py).
    drain_linger_ms: int = 100
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
    #: Provider APIs (docs/provider-sync.md): registration and recovery of deliveries the provider
    #: gave up on. A provider without API credentials has no sync; its webhooks still work.
    kobana_api_url: str = "https://api.kobana.com.br"
    kobana_api_token: str | None = field(default=None, repr=False)
    transfeera_api_url: str = "https://api.transfeera.com"
    transfeera_auth_url: str = "https://login-api.transfeera.com/authorization"
    transfeera_client_id: str | None = None
    transfeera_client_secret: str | None = field(default=None, repr=False)
    celcoin_api_url: str = "https://api.openfinance.celcoin.com.br"
    celcoin_client_id: str | None = None
    celcoin_client_secret: str | None = field(default=None, repr=False)
    #: Client certificate and key (PEM paths) for the mTLS Celcoin requires in production.
    celcoin_client_cert: Path | None = None
    celcoin_client_key: Path | None = None
    #: Transfeera refuses calls without ``User-Agent: Company (email)``; Kobana asks for one too.
    provider_api_user_agent: str = "webhook-receiver (ops@example.com)"
    #: Seconds between the worker's automatic resyncs of every configured provider.
    provider_sync_interval: int = 900
    #: Alerts (docs/alerts.md). A Slack-compatible incoming webhook; its URL holds a token.
    alert_webhook_url: str | None = field(default=None, repr=False)
    #: ``smtp://user:pass@host:587`` (STARTTLS) or ``smtps://...:465`` (implicit TLS).
    smtp_url: str | None = field(default=None, repr=False)
    alert_email_to: tuple[str, ...] = ()
    alert_email_from: str | None = None
    #: Refused deliveries from one provider within 10 minutes that raise the refusals alert.
    alert_auth_failures: int = 10
    #: Business minutes (Mon-Fri 08:00-20:00 São Paulo) without an accepted event from a provider.
    alert_silence_minutes: int = 360
    #: Age of the oldest event waiting in the inbox stream.
    alert_backlog_seconds: int = 300
    #: An alert still open is sent again at most this often.
    alert_repeat_minutes: int = 60
    #: How often a worker runs the checks (one worker at a time, whichever gets there first).
    alert_check_interval: int = 60
    #: São Paulo time of day at which the digest of the day before goes out.
    digest_at: time = time(7, 0)
    #: The console's base URL, for links in the digest (``<CONSOLE_URL>/console/reconciliation``).
    console_url: str | None = None
    #: Language of alerts and the digest: ``pt_BR`` or ``en``.
    locale: str = "pt_BR"
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

    @property
    def api_providers(self) -> tuple[str, ...]:
        """Providers whose API credentials are set: the ones ``flask providers`` and the sync reach."""
        names = []
        if self.kobana_api_token:
            names.append("kobana")
        if self.celcoin_client_id and self.celcoin_client_secret:
            names.append("celcoin")
        if self.transfeera_client_id and self.transfeera_client_secret:
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
        _pair(env, "TRANSFEERA_CLIENT_ID", "TRANSFEERA_CLIENT_SECRET")
        _pair(env, "CELCOIN_CLIENT_ID", "CELCOIN_CLIENT_SECRET")
        _pair(env, "CELCOIN_CLIENT_CERT", "CELCOIN_CLIENT_KEY")
        log_format = env.get("LOG_FORMAT", "json" if "DYNO" in env or "PORT" in env else "console")
        if log_format not in ("json", "console"):
            raise ConfigError(f"LOG_FORMAT: expected 'json' or 'console', got {log_format!r}")
        settings = cls(
            redis_url=_url(env, "REDIS_URL", ("redis://", "rediss://", "unix://")),
            database_url=_database_url(env),
            kobana_secrets=_secrets(env, "KOBANA_WEBHOOK_SECRET"),
            transfeera_secrets=_secrets(env, "TRANSFEERA_WEBHOOK_SECRET"),
            celcoin=celcoin,
            max_body_bytes=_int(env, "MAX_BODY_BYTES", minimum=1024),
            transfeera_tolerance_seconds=_int(env, "TRANSFEERA_TOLERANCE_SECONDS", minimum=60),
            redis_tls_verify=_bool(env, "REDIS_TLS_VERIFY"),
            log_format=log_format,
            log_level=env.get("LOG_LEVEL", _default("LOG_LEVEL")).upper(),
            var_dir=Path(env["VAR_DIR"]) if "VAR_DIR" in env else _default("VAR_DIR"),
            job_retry_max=_int(env, "JOB_RETRY_MAX", minimum=0),
            job_retry_intervals=_int_list(env, "JOB_RETRY_INTERVALS"),
            job_timeout=_int(env, "JOB_TIMEOUT", minimum=1),
            drain_batch=_int(env, "DRAIN_BATCH", minimum=1),
            drain_linger_ms=_int(env, "DRAIN_LINGER_MS", minimum=0),
            worker_maintenance_interval=_int(env, "WORKER_MAINTENANCE_INTERVAL", minimum=1),
            worker_ttl=_int(env, "WORKER_TTL", minimum=16),
            worker_class=_choice(env, "WORKER_CLASS", ("simple", "forking")),
            ledger_enabled=_bool(env, "LEDGER_ENABLED"),
            ledger_pending_after_hours=_int(env, "LEDGER_PENDING_AFTER_HOURS", minimum=1),
            port=_int(env, "PORT", minimum=1),
            web_concurrency=_int(env, "WEB_CONCURRENCY", minimum=1),
            web_threads=_int(env, "WEB_THREADS", minimum=1),
            web_timeout=_int(env, "WEB_TIMEOUT", minimum=1),
            metrics_token=env.get("METRICS_TOKEN"),
            metrics_port=_optional_int(env, "METRICS_PORT"),
            worker_metrics_port=_optional_int(env, "WORKER_METRICS_PORT"),
            ready_max_queue_depth=_int(env, "READY_MAX_QUEUE_DEPTH", minimum=1),
            sentry_dsn=_url(env, "SENTRY_DSN", ("https://", "http://")),
            sentry_environment=env.get("SENTRY_ENVIRONMENT"),
            kobana_api_url=_api_url(env, "KOBANA_API_URL"),
            kobana_api_token=env.get("KOBANA_API_TOKEN"),
            transfeera_api_url=_api_url(env, "TRANSFEERA_API_URL"),
            transfeera_auth_url=_api_url(env, "TRANSFEERA_AUTH_URL"),
            transfeera_client_id=env.get("TRANSFEERA_CLIENT_ID"),
            transfeera_client_secret=env.get("TRANSFEERA_CLIENT_SECRET"),
            celcoin_api_url=_api_url(env, "CELCOIN_API_URL"),
            celcoin_client_id=env.get("CELCOIN_CLIENT_ID"),
            celcoin_client_secret=env.get("CELCOIN_CLIENT_SECRET"),
            celcoin_client_cert=_file(env, "CELCOIN_CLIENT_CERT"),
            celcoin_client_key=_file(env, "CELCOIN_CLIENT_KEY"),
            provider_api_user_agent=env.get("PROVIDER_API_USER_AGENT", _default("PROVIDER_API_USER_AGENT")),
            provider_sync_interval=_int(env, "PROVIDER_SYNC_INTERVAL", minimum=60),
            **_alert_settings(env),
            secret_key=env.get("SECRET_KEY"),
            console_session_hours=_int(env, "CONSOLE_SESSION_HOURS", minimum=1),
            proxy_hops=_int(env, "PROXY_HOPS", minimum=0) if "PROXY_HOPS" in env or "DYNO" not in env else 1,
        )
        if settings.drain_linger_ms * 3 >= settings.job_timeout * 1000:  # a drain ends within a third of it
            raise ConfigError(
                f"DRAIN_LINGER_MS: must be under a third of JOB_TIMEOUT ({settings.job_timeout} s), "
                f"got {settings.drain_linger_ms}"
            )
        return settings


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Settings)}

#: Loudly announced stand-ins for the provider credentials, so the README's curl lines work on a
#: laptop out of the box (``dev_credentials``); ``wsgi.py`` never uses them.
_DEV_CREDENTIALS = {
    "KOBANA_WEBHOOK_SECRET": "dev-kobana-secret",
    "TRANSFEERA_WEBHOOK_SECRET": "dev-transfeera-secret",
    "CELCOIN_WEBHOOK_USERNAME": "dev-celcoin",
    "CELCOIN_WEBHOOK_PASSWORD": "dev-celcoin-password",
}


def dev_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """The development credentials to add to ``environ``: all of them when it sets no provider
    credential at all, else none, so a real credential is never mixed with development ones.
    A credential set to an empty value counts as set, so ``Settings`` refuses it as everywhere.

    The one rule ``python serve.py`` and the commands that sign (``flask webhooks send``,
    ``flask reconcile demo``) share.
    """
    if any(name in environ for name in _DEV_CREDENTIALS):  # set, even empty: Settings refuses ''
        return {}
    return dict(_DEV_CREDENTIALS)


#: Variables where an explicitly empty value is a mistake worth stopping for (an empty HMAC
#: secret would make every forged body verify against ``hmac(b"", ...)``).
_EMPTY_IS_AN_ERROR = frozenset(
    {
        "KOBANA_WEBHOOK_SECRET",
        "TRANSFEERA_WEBHOOK_SECRET",
        "CELCOIN_WEBHOOK_USERNAME",
        "CELCOIN_WEBHOOK_PASSWORD",
        "METRICS_TOKEN",
        "KOBANA_API_TOKEN",
        "TRANSFEERA_CLIENT_SECRET",
        "CELCOIN_CLIENT_SECRET",
    }
)

#: Hosts where a provider API URL may be plain http (contract servers in tests and demos).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _pair(env: Mapping[str, str], first: str, second: str) -> None:
    if (first in env) != (second in env):
        missing = second if first in env else first
        raise ConfigError(f"{missing}: must be set together with {first if missing == second else second}, or neither")


def _api_url(env: Mapping[str, str], name: str) -> str:
    """An API base URL: https, or http on loopback only (never send credentials in clear)."""
    from urllib.parse import urlsplit

    value = env.get(name, _default(name)).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return value
    raise ConfigError(f"{name}: expected an https:// URL (http only for localhost)")


def _file(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"{name}: no such file")
    return path


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
    if value is None:
        return None
    if not value.startswith(schemes):
        raise ConfigError(f"{name}: expected a URL starting with one of {', '.join(schemes)}")
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"{name}: malformed URL (the port is not a number)") from None
    if parts.scheme not in ("unix", "sqlite") and not parts.hostname:
        raise ConfigError(f"{name}: malformed URL (no host), e.g. {schemes[0]}HOST:PORT/...")
    if parts.scheme == "unix" and not parts.path:
        raise ConfigError(f"{name}: malformed URL (no socket path), e.g. unix:///path/to/redis.sock")
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


def _default(name: str) -> Any:
    """The default of the ``Settings`` field a variable sets (``JOB_TIMEOUT`` → ``job_timeout``):
    written once, on the dataclass."""
    return _DEFAULTS[name.lower()]


def _int(env: Mapping[str, str], name: str, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None:
        return int(_default(name))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    return value


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    return _int(env, name, minimum=1) if name in env else None


def _int_list(env: Mapping[str, str], name: str) -> tuple[int, ...]:
    raw = env.get(name)
    if raw is None:
        return tuple(_default(name))
    try:
        values = tuple(int(p) for p in raw.split(","))
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated seconds, got {raw!r}") from None
    if not values or any(v < 0 for v in values):
        raise ConfigError(f"{name}: expected non-negative seconds, got {raw!r}")
    return values


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], lower: bool = True) -> str:
    value = env.get(name, _default(name)).strip()
    value = value.lower() if lower else value
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _alert_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``ALERT_*``, ``SMTP_URL``, ``DIGEST_AT``, ``CONSOLE_URL`` and ``LOCALE`` settings."""
    smtp_url = _url(env, "SMTP_URL", ("smtp://", "smtps://"))
    if smtp_url is not None and not urlsplit(smtp_url).hostname:
        raise ConfigError("SMTP_URL: no host (expected smtp://user:pass@host:587)")
    to = tuple(a.strip() for a in env.get("ALERT_EMAIL_TO", "").split(",") if a.strip())
    sender = env.get("ALERT_EMAIL_FROM")
    for name, addresses in (("ALERT_EMAIL_TO", to), ("ALERT_EMAIL_FROM", (sender,) if sender else ())):
        if any("@" not in a for a in addresses):
            raise ConfigError(f"{name}: expected e-mail addresses like ops@example.com")
        if addresses and smtp_url is None:
            raise ConfigError(f"{name}: set SMTP_URL too, or unset it")
    if smtp_url is not None and not (to and sender):
        raise ConfigError(f"{'ALERT_EMAIL_TO' if not to else 'ALERT_EMAIL_FROM'}: required when SMTP_URL is set")
    raw_at = env.get("DIGEST_AT")
    try:
        digest_at = _default("DIGEST_AT") if raw_at is None else time.fromisoformat(raw_at)
    except ValueError:
        raise ConfigError(f"DIGEST_AT: expected a time like 07:00, got {raw_at!r}") from None
    return {
        "alert_webhook_url": _url(env, "ALERT_WEBHOOK_URL", ("https://", "http://")),
        "smtp_url": smtp_url,
        "alert_email_to": to,
        "alert_email_from": sender,
        "alert_auth_failures": _int(env, "ALERT_AUTH_FAILURES", minimum=1),
        "alert_silence_minutes": _int(env, "ALERT_SILENCE_MINUTES", minimum=1),
        "alert_backlog_seconds": _int(env, "ALERT_BACKLOG_SECONDS", minimum=1),
        "alert_repeat_minutes": _int(env, "ALERT_REPEAT_MINUTES", minimum=1),
        "alert_check_interval": _int(env, "ALERT_CHECK_INTERVAL", minimum=5),
        "digest_at": digest_at,
        "console_url": _url(env, "CONSOLE_URL", ("https://", "http://")),
        "locale": _choice(env, "LOCALE", ("pt_BR", "en"), lower=False),
    }


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name)
    if raw is None:
        return bool(_default(name))
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")
