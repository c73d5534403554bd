"""``ops.gunicorn_response.OneSendResponse``: an answer's headers leave with its body, in one send,
and the bytes on the wire are gunicorn's own.

Each case is answered twice over real loopback connections, by gunicorn's ``Response`` and by ours,
for a request gunicorn's own parser read; the client's side receives what was sent.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from gunicorn import util
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from ops.gunicorn_response import OneSendResponse


class _CountedSocket(socket.socket):
    """A real socket that also counts its ``sendall`` calls."""

    sends = 0

    def sendall(self, data, *args):
        self.sends += 1
        return super().sendall(data, *args)


def _answer(response_class: type[wsgi.Response], request: bytes, status: str, headers: list[tuple[str, str]],
            chunks: list[bytes]) -> tuple[bytes, int]:  # fmt: skip
    """What the client receives, and the number of sends, for one request answered by ``response_class``."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, address = listener.accept()
    served = _CountedSocket(fileno=accepted.detach())
    try:
        client.sendall(request)
        req = next(iter(RequestParser(Config(), served, address)))
        response = response_class(req, served, Config())
        response.start_response(status, headers)
        for chunk in chunks:
            response.write(chunk)
        response.close()
        served.shutdown(socket.SHUT_WR)
        received = b""
        while data := client.recv(65536):
            received += data
        return received, served.sends
    finally:
        for sock in (client, served, listener):
            sock.close()


@pytest.fixture(autouse=True)
def _one_date(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Both answers carry the same Date header, whatever second they are sent in."""
    monkeypatch.setattr(util, "http_date", lambda *_: "Mon, 30 Nov 2026 23:59:59 GMT")
    yield


_POST = b"POST /webhooks/kobana HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
_ACK = b'{"id":"kobana-51c618d799f3a2c9286ead086b15ad9e4e81332a","status":"accepted"}\n'


def test_an_acknowledgement_leaves_in_one_send_with_gunicorns_bytes():
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(_ACK)))]
    ours, sends = _answer(OneSendResponse, _POST, "200 OK", headers, [_ACK])
    gunicorns, gunicorn_sends = _answer(wsgi.Response, _POST, "200 OK", headers, [_ACK])
    assert ours == gunicorns and ours.endswith(b"\r\n\r\n" + _ACK)
    assert (sends, gunicorn_sends) == (1, 2)


@pytest.mark.parametrize(
    ("request_", "status", "headers", "chunks"),
    [
        (_POST, "200 OK", [("Content-Length", "0")], [b""]),  # an empty body
        (b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK", [("Content-Length", "5")], [b"hello"]),  # dropped
        (_POST, "204 No Content", [], [b""]),
        (_POST, "200 OK", [], [b"a", b"", b"bc"]),  # chunked: the headers, then each chunk framed
        (_POST, "200 OK", [("Content-Length", "3")], [b"a", b"bc"]),  # the first write carries them
        (_POST, "200 OK", [("Content-Length", "2")], [b"abc"]),  # cut to the declared length
        (_POST, "500 Internal Server Error", [("Content-Length", "0")], []),  # no write: close sends them
    ],
    ids=["empty", "head", "204", "chunked", "two-writes", "cut", "no-write"],
)
def test_every_other_answer_is_gunicorns_byte_for_byte(request_, status, headers, chunks):
    ours, _ = _answer(OneSendResponse, request_, status, headers, chunks)
    assert ours == _answer(wsgi.Response, request_, status, headers, chunks)[0]
