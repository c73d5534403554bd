"""The one HTTP client every provider API call goes through (httpx).

- timeouts on every call (a provider API that hangs must not hang the worker's sync);
- retries with backoff on 429 and 5xx, honouring ``Retry-After`` (seconds or an HTTP date), but
  never sleeping longer than ``max_wait``: a longer wait (Kobana's 429 says "come back in an
  hour") raises ``RateLimited`` so the caller stops politely and resumes on its next run;
- Kobana's ``ratelimit-remaining`` / ``ratelimit-reset`` headers are remembered (``budget``) so a
  caller can stop *before* spending its last GET of the hour;
- OAuth tokens (``OAuthToken``) cached until shortly before they expire, refreshed once on a 401;
- errors that never carry a credential: every known secret and the current token are masked.

``sleep`` and ``now`` are injected, so tests run backoff without real waits.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from ops.logconfig import mask_text

#: Connect fast, read a little longer: list pages can be slow to build on the provider's side.
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Webhook:
    """A registration as Kobana and Transfeera list it: where they POST, for which events."""

    id: str
    url: str
    events: tuple[str, ...]
    active: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "events": list(self.events), "active": self.active}


class ApiError(Exception):
    """A provider API call failed; the message names the call and status, never a credential."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class RateLimited(ApiError):
    """The provider asks us to wait longer than we are willing to block: stop now, resume later."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


@dataclass
class Budget:
    """What the provider's ``ratelimit-*`` headers said on the last response (None: not sent)."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None


def loads_exact(content: bytes) -> Any:
    """JSON with every non-integer number as ``Decimal``: money from an API stays exact."""
    return json.loads(content, parse_float=Decimal)


class ApiClient:
    """One provider API: base URL, default headers, optional mTLS, retry and budget bookkeeping."""

    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        user_agent: str,
        secrets: Iterable[str | None] = (),
        cert: tuple[Path, Path] | None = None,
        max_attempts: int = 4,
        backoff: float = 1.0,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.now = now
        self.budget = Budget()
        self._secrets = [s for s in secrets if s]
        options: dict[str, Any] = {"timeout": TIMEOUT, "headers": {"User-Agent": user_agent}}
        if cert is not None:
            options["cert"] = (str(cert[0]), str(cert[1]))
        if transport is not None:
            options["transport"] = transport
        self._http = httpx.Client(base_url=base_url.rstrip("/"), **options)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_secret(self, value: str) -> None:
        """A value to mask in every error from now on (a freshly issued token)."""
        if value and value not in self._secrets:
            self._secrets.append(value)

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        files: Any = None,
        ok: Iterable[int] = (),
    ) -> httpx.Response:
        """Send with retries; return the response if 2xx (or in ``ok``), else raise ``ApiError``."""
        accepted = set(ok)
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._http.request(
                    method, path, headers=dict(headers or {}), params=params, json=json_body, files=files
                )
            except httpx.TransportError as exc:
                if attempt == self.max_attempts:
                    raise ApiError(self._scrub(f"{self.name} {method} {path}: {type(exc).__name__}")) from None
                self.sleep(min(self.max_wait, self.backoff * 2 ** (attempt - 1)))
                continue
            self._note_budget(response.headers)
            if response.is_success or response.status_code in accepted:
                return response
            if response.status_code not in RETRY_STATUSES:
                raise self._error(method, path, response)
            wait = self._wait_for(response, attempt)
            if response.status_code == 429 and wait > self.max_wait:
                raise RateLimited(
                    self._scrub(f"{self.name} {method} {path}: rate limited for {wait:.0f} s"), retry_after=wait
                )
            if attempt == self.max_attempts:
                if response.status_code == 429:
                    raise RateLimited(self._scrub(f"{self.name} {method} {path}: still rate limited"), wait)
                raise self._error(method, path, response)
            self.sleep(min(wait, self.max_wait))
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``request`` and decode the body (exact decimals); an empty body is None."""
        response = self.request(method, path, **kwargs)
        if not response.content.strip():
            return None
        try:
            return loads_exact(response.content)
        except ValueError:
            raise ApiError(f"{self.name} {method} {path}: answer is not JSON", response.status_code) from None

    def _wait_for(self, response: httpx.Response, attempt: int) -> float:
        """Seconds to wait: ``Retry-After`` (delta or HTTP date), else ``ratelimit-reset``, else backoff."""
        retry_after = response.headers.get("Retry-After")
        if retry_after:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                parsed = email.utils.parsedate_to_datetime(retry_after) if retry_after.strip() else None
                if parsed is not None:
                    return max(0.0, parsed.timestamp() - self.now())
        if response.status_code == 429 and self.budget.reset_at is not None:
            return max(0.0, self.budget.reset_at - self.now())
        return float(self.backoff * 2 ** (attempt - 1))

    def _note_budget(self, headers: httpx.Headers) -> None:
        limit, remaining, reset = (headers.get(f"ratelimit-{k}") for k in ("limit", "remaining", "reset"))
        if remaining is None:
            return
        try:
            self.budget.remaining = int(remaining)
            self.budget.limit = int(limit) if limit is not None else self.budget.limit
            if reset is not None:
                value = float(reset)
                # Kobana's table says Unix time, its example shows seconds (3600): accept both.
                self.budget.reset_at = value if value > 1_000_000_000 else self.now() + value
        except ValueError:
            return  # a malformed header tells us nothing; the 429 path still protects us

    def _error(self, method: str, path: str, response: httpx.Response) -> ApiError:
        body: Any
        try:
            body = loads_exact(response.content)
        except ValueError:
            body = None
        detail = _error_detail(body) or response.reason_phrase
        return ApiError(
            self._scrub(f"{self.name} {method} {path}: HTTP {response.status_code} {detail}"[:500]),
            response.status_code,
            body,
        )

    def _scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return mask_text(text)


def _error_detail(body: Any) -> str:
    """The provider's own error code/message, from the shapes the three publish."""
    if not isinstance(body, dict):
        return ""
    error = body.get("error") or body.get("errors") or body.get("message")
    if isinstance(error, dict):
        return " ".join(str(error.get(k)) for k in ("errorCode", "code", "message") if error.get(k))
    if isinstance(error, list):
        return "; ".join(str(e.get("message", e) if isinstance(e, dict) else e) for e in error[:3])
    return str(error) if error else ""


class OAuthToken:
    """A client-credentials token, cached until ``margin`` seconds before it expires."""

    def __init__(
        self, fetch: Callable[[], tuple[str, float]], *, now: Callable[[], float] = time.time, margin: float = 60.0
    ) -> None:
        self._fetch = fetch
        self._now = now
        self._margin = margin
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetches = 0

    def get(self) -> str:
        if self._token is None or self._now() >= self._expires_at - self._margin:
            token, expires_in = self._fetch()
            self.fetches += 1
            self._token, self._expires_at = token, self._now() + expires_in
        return self._token

    def invalidate(self) -> None:
        self._token = None


def items_of(body: Any, *keys: str) -> list[Any]:
    """The list inside a page, whatever the wrapping: a bare list, or under one of ``keys``
    (or ``data``/``items``/``results``/``body``), possibly one level deeper."""
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        return []
    for key in (*keys, "data", "items", "results", "body", "content"):
        value = body.get(key)
        if isinstance(value, list):
            return value
        if isinstance(value, dict):
            inner = items_of(value, *keys)
            if inner:
                return inner
    return []
