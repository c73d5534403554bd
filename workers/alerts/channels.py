"""Where messages go: a Slack-compatible webhook and e-mail, each registered by decorator.

A channel either takes the message or raises ``ChannelError`` with a short reason fit for
``flask alerts list`` (never the webhook URL, whose path is a token, nor SMTP credentials). Both
have short timeouts: the outbox retries a channel that is down, so waiting longer buys nothing
and would only hold up the other channel.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import httpx

from config import Settings
from ops.logconfig import mask_text

#: Seconds a channel may take to connect, and to answer each step.
TIMEOUT = 5.0


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    #: ``(file name, bytes)``: e-mail attaches it; the webhook has no attachments.
    attachment: tuple[str, bytes] | None = None


class ChannelError(Exception):
    """The channel did not take the message; the text says why, without secrets."""


@dataclass(frozen=True)
class Channel:
    name: str
    configured: Callable[[Settings], bool]
    send: Callable[[Settings, Message], None]
    #: Whether the channel carries ``Message.attachment`` (the outbox stores it only for those).
    attachments: bool = False


#: Registered channels, ``{name: Channel}``.
CHANNELS: dict[str, Channel] = {}


Send = Callable[[Settings, Message], None]


def channel(
    name: str, configured: Callable[[Settings], bool], *, attachments: bool = False
) -> Callable[[Send], Channel]:
    def register(send: Send) -> Channel:
        if name in CHANNELS:
            raise ValueError(f"channel {name!r} is already registered")
        CHANNELS[name] = Channel(name, configured, send, attachments)
        return CHANNELS[name]

    return register


def configured(settings: Settings) -> list[str]:
    """Names of the channels these settings enable, in registration order."""
    return [name for name, ch in CHANNELS.items() if ch.configured(settings)]


def send(settings: Settings, name: str, message: Message) -> None:
    CHANNELS[name].send(settings, message)


@channel("webhook", lambda settings: bool(settings.alert_webhook_url))
def _webhook(settings: Settings, message: Message) -> None:
    """POST ``{"text": ...}``, which Slack, Mattermost, Rocket.Chat and Teams' Slack mode accept."""
    assert settings.alert_webhook_url  # noqa: S101 - configured() checked it
    text = f"{message.subject}\n{message.body}"
    try:
        response = httpx.post(settings.alert_webhook_url, json={"text": text}, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise ChannelError(f"webhook unreachable ({type(exc).__name__})") from None
    if response.status_code >= 300:
        raise ChannelError(f"webhook answered HTTP {response.status_code}")


@channel("email", lambda settings: bool(settings.smtp_url and settings.alert_email_to), attachments=True)
def _email(settings: Settings, message: Message) -> None:
    """Send through ``SMTP_URL``: ``smtps://`` is TLS from the first byte; ``smtp://`` upgrades
    with STARTTLS when the server offers it, and refuses to send credentials without it."""
    assert settings.smtp_url and settings.alert_email_from  # noqa: S101 - config validated the pair
    url = urlsplit(settings.smtp_url)
    implicit_tls = url.scheme == "smtps"
    host, port = url.hostname or "", url.port or (465 if implicit_tls else 587)
    mail = _email_message(settings, message)
    try:
        context = ssl.create_default_context()
        with (
            smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=context)
            if implicit_tls
            else smtplib.SMTP(host, port, timeout=TIMEOUT)
        ) as smtp:
            smtp.ehlo()
            if not implicit_tls and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif not implicit_tls and url.username:
                raise ChannelError("SMTP server offers no STARTTLS; refusing to send the password in clear")
            if url.username:
                smtp.login(unquote(url.username), unquote(url.password or ""))
            smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(mask_text(f"SMTP {type(exc).__name__}: {exc}"[:300])) from None


def _email_message(settings: Settings, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = settings.alert_email_from or ""
    mail["To"] = ", ".join(settings.alert_email_to)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=(settings.alert_email_from or "x@alerts").rpartition("@")[2])
    mail.set_content(message.body)
    if message.attachment:
        name, data = message.attachment
        # Bytes go base64-encoded, so the CSV arrives byte for byte (BOM and CRLF included).
        mail.add_attachment(data, maintype="text", subtype="csv", filename=name)
    return mail
