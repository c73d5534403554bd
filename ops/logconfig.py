"""One logging configuration for web and worker: structlog, JSON or console, masked in one place.

Every line, ours or a library's (gunicorn, rq), goes through ``mask_sensitive``, so a secret,
password, ``Authorization`` header or full CPF/CNPJ cannot reach a log by any path.
"""

from __future__ import annotations

import base64
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from config import Settings

#: Keys whose values are never logged, matched as substrings of the lower-cased key.
SENSITIVE_KEYS = ("secret", "password", "passwd", "pwd", "authorization", "token", "signature", "cookie", "api_key")
MASK = "[masked]"

_CNPJ = re.compile(r"(?<![\w/.-])\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?(\d{2})(?![\w/])")
_CPF = re.compile(r"(?<![\w/.-])\d{3}\.?\d{3}\.?\d{3}-?(\d{2})(?![\w/])")


#: ``Basic``/``Bearer`` credentials inside free text (a library logging a header it was handed).
#: A token has a digit, an upper-case letter or base64 padding, so prose ("Basic credentials") is left alone.
_CREDENTIAL = re.compile(r"\b([Bb]asic|[Bb]earer|[Tt]oken)\s+(?=[a-z._~-]*[A-Z0-9+/=])[A-Za-z0-9+/=._~-]{4,}")
#: The configured secrets themselves, masked wherever they appear (set by ``configure_logging``).
_known_secrets: tuple[str, ...] = ()

#: What must be present somewhere in a text for ``mask_text`` to change it: a known secret, the
#: ``\d{3}\.?\d{3}`` that every CPF and CNPJ holds, or a credential's scheme word and a space.
#: Text without any of them is returned untouched after one C-level search (the secrets'
#: ``replace`` and the three ``sub`` calls would return it unchanged); text with one takes the full
#: path below, unchanged. Rebuilt with the secrets by ``configure_logging``.
_HINTS = r"\d{3}\.?\d{3}|(?:[Bb]asic|[Bb]earer|[Tt]oken)\s"
_maybe_sensitive = re.compile(_HINTS)


def _set_known_secrets(secrets: tuple[str, ...]) -> None:
    global _known_secrets, _maybe_sensitive
    _known_secrets = secrets
    _maybe_sensitive = re.compile("|".join([*map(re.escape, secrets), _HINTS]))


def mask_text(text: str) -> str:
    """Mask CPF and CNPJ numbers (keeping the last two digits for support), credentials and known secrets."""
    if _maybe_sensitive.search(text) is None:
        return text
    for secret in _known_secrets:
        text = text.replace(secret, MASK)
    text = _CREDENTIAL.sub(lambda m: f"{m[1]} {MASK}", text)
    text = _CNPJ.sub(lambda m: f"**.***.***/****-{m[1]}", text)
    return _CPF.sub(lambda m: f"***.***.***-{m[1]}", text)


def _secrets_of(settings: Settings) -> tuple[str, ...]:
    """Every configured secret as text (and the Celcoin Basic token), longest first, 6+ chars only."""
    values = [*(settings.kobana_secrets or ()), *(settings.transfeera_secrets or ())]
    if settings.celcoin:
        values.append(settings.celcoin.password)
        values.append(base64.b64encode(settings.celcoin.username + b":" + settings.celcoin.password))
    texts = {v.decode("utf-8", "replace") for v in values}
    texts.update(s for s in (settings.kobana_api_token, settings.transfeera_client_secret,
                             settings.celcoin_client_secret) if s)  # fmt: skip
    return tuple(sorted((t for t in texts if len(t) >= 6), key=len, reverse=True))


def mask_value(value: Any, depth: int = 0) -> Any:
    if value is None or type(value) in _PLAIN:
        return value
    if depth > 20:
        return "[too deep]"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bytes):
        return mask_text(value.decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {k: MASK if _is_sensitive(k) else mask_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v, depth + 1) for v in value]
    return value


def mask_sensitive(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the single place where masking happens."""
    for key, value in list(event_dict.items()):
        if _is_sensitive(key):
            event_dict[key] = MASK
        elif type(value) is str:
            event_dict[key] = mask_text(value)
        elif value is not None and type(value) not in _PLAIN:
            event_dict[key] = mask_value(value)
    return event_dict


#: Values that carry no text: left as they are (exact types; a ``str`` subclass is still masked).
_PLAIN = frozenset({int, float, bool})
_SENSITIVE_KEY = re.compile("|".join(map(re.escape, SENSITIVE_KEYS)))
#: Verdicts on keys seen so far. Log keys are a small set named in code; bounded all the same.
_key_verdicts: dict[str, bool] = {}


def _is_sensitive(key: object) -> bool:
    if type(key) is str:
        verdict = _key_verdicts.get(key)
        if verdict is None:
            verdict = _SENSITIVE_KEY.search(key.lower()) is not None
            if len(_key_verdicts) < 4096:
                _key_verdicts[key] = verdict
        return verdict
    return _SENSITIVE_KEY.search(str(key).lower()) is not None


def shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.format_exc_info,
        mask_sensitive,
        # After masking: the time is ours, and its microseconds would send it down the full path.
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(settings: Settings) -> None:
    _set_known_secrets(_secrets_of(settings))
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a cached logger ignores any later configure (structlog.testing.capture_logs,
        # a second create_app); resolving a stdlib logger by name costs microseconds per line.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    # Nothing renders the caller's file and line or the thread names (the renderers print the event
    # dict), yet stdlib logging gathers them for every record: a frame walk (structlog's findCaller)
    # and two lookups per line, twice per structlog line since ProcessorFormatter copies the record.
    # The logging HOWTO's "Optimization" section names these switches. The process id stays (cheap,
    # and gunicorn's own format prints it should its handlers ever be used).
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
