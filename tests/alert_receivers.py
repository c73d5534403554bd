"""Real receivers on loopback for the alert channels: an HTTP webhook endpoint and an SMTP server.

``WebhookReceiver`` records every JSON body POSTed to it and answers ``status`` (set it to 500 to
play a webhook that is down). ``SmtpReceiver`` is aiosmtpd's real SMTP server keeping every
message it accepted; ``stop()``/``start()`` on the same port play an SMTP server that goes away
and comes back; given a TLS context and a login it plays a submission server (port 587's usual
setup): STARTTLS required, then AUTH. Used by tests/test_alerts*.py and bench/alerts_demo.py.
"""

from __future__ import annotations

import json
import ssl
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.servers import free_port

_DIGESTS = ("[Resumo diário]", "[Daily digest]")


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.status < 300:
                    receiver.received.append(json.loads(body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def texts(self) -> list[str]:
        return [body["text"] for body in self.received]

    @property
    def alert_texts(self) -> list[str]:
        """Every text but the daily digests (a test's clock may cross DIGEST_AT)."""
        return [text for text in self.texts if not text.startswith(_DIGESTS)]


class _Keep:
    def __init__(self, messages: list[EmailMessage], over_tls: list[bool]) -> None:
        self.messages = messages
        self.over_tls = over_tls

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(mail)  # type: ignore[arg-type]
        self.over_tls.append(session.ssl is not None)
        return "250 OK"


class SmtpReceiver:
    def __init__(
        self, port: int | None = None, *, tls: ssl.SSLContext | None = None, login: tuple[str, str] | None = None
    ) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        #: Per accepted message: whether its session had upgraded with STARTTLS.
        self.over_tls: list[bool] = []
        #: Per AUTH attempt: the user name, and whether the password matched.
        self.logins: list[tuple[str, bool]] = []
        self._tls, self._login = tls, login
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        secure: dict[str, Any] = {}
        if self._tls is not None:  # STARTTLS before anything else, AUTH only over it
            secure = {"tls_context": self._tls, "require_starttls": True, "auth_require_tls": True}
        if self._login is not None:
            secure |= {"auth_required": True, "authenticator": self._authenticate}
        self._controller = Controller(
            _Keep(self.messages, self.over_tls), hostname="127.0.0.1", port=self.port, **secure
        )
        self._controller.start()

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        user, password = data.login.decode(), data.password.decode()
        matched = (user, password) == self._login
        self.logins.append((user, matched))
        return AuthResult(success=matched)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    @property
    def alert_subjects(self) -> list[str]:
        """Every subject but the daily digests'."""
        return [s for s in self.subjects if not s.startswith(_DIGESTS)]


def attachment(mail: EmailMessage) -> tuple[str, bytes]:
    """The one attachment of ``mail``: its file name and its exact bytes."""
    for part in mail.iter_attachments():
        return part.get_filename() or "", part.get_payload(decode=True)  # type: ignore[return-value]
    raise AssertionError("no attachment")


def text_of(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")
