"""MAX_BODY_BYTES is enforced while reading, against the real gunicorn: endless bodies are cut off."""

from __future__ import annotations

import select
import socket
import time
import urllib.request
from io import BytesIO

import pytest

from tests.helpers import kobana_signature, queued, sample
from tests.procs import gunicorn, service_env

LIMIT = 64 * 1024


def _head(extra: bytes, path: bytes = b"/webhooks/kobana") -> bytes:
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"X-Kobana-Signature: sha256=" + b"0" * 64 + b"\r\n" + extra + b"\r\n"
    )


def _push_until_answered(port: int, head: bytes, piece: bytes, pause: float, timeout: float = 15.0) -> dict:
    """Send ``head`` then ``piece`` forever; stop when the server answers. Never ends the body."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head)
    sock.setblocking(False)
    sent, answer, closed, started, answered = 0, b"", False, time.monotonic(), None
    try:
        while time.monotonic() - started < timeout:
            readable, writable, _ = select.select([sock], [sock], [], 0.5)
            if readable:
                data = sock.recv(65536)
                if not data:
                    closed = True
                    break
                answer += data
                answered = answered or time.monotonic() - started
                continue
            if writable:  # keep sending after the answer, as a hostile client would
                try:
                    sent += sock.send(piece)
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                time.sleep(pause)
    finally:
        sock.close()
    return {
        "answer": answer,
        "sent": sent,
        "closed": closed,
        "answered": answered,
        "seconds": time.monotonic() - started,
    }


@pytest.fixture
def web(redis_url, redis_conn, tmp_path):
    env = service_env({"REDIS_URL": redis_url, "MAX_BODY_BYTES": str(LIMIT), "VAR_DIR": str(tmp_path)})
    # One thread: a connection stuck draining a body would block the next test.
    with gunicorn(env, workers=1, threads=1, log=tmp_path / "gunicorn.log") as port:
        yield port


def _accepted_after(port: int) -> int:
    """A genuine small delivery right after: the single worker thread is free again."""
    raw = sample("kobana", "bank_billet.paid.json")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/kobana",
        data=raw,
        headers={"Content-Type": "application/json", "X-Kobana-Signature": kobana_signature(raw)},
    )
    with urllib.request.urlopen(request, timeout=3) as response:
        return int(response.status)


def test_endless_chunked_body_is_cut_off_at_the_limit_with_413(web, redis_conn):
    """A chunked body that never ends gets 413 while the client is still sending, and the connection closes."""
    chunk = b"x" * 16384
    result = _push_until_answered(web, _head(b"Transfer-Encoding: chunked\r\n"), b"4000\r\n" + chunk + b"\r\n", 0.001)
    assert result["answer"].startswith(b"HTTP/1.1 413"), result["answer"][:200]
    assert b'"body_too_large"' in result["answer"]
    assert result["answered"] < 3
    assert result["closed"] and result["seconds"] < 12  # gunicorn drains at most 64 KiB, then closes
    assert _accepted_after(web) == 200
    assert len(queued(redis_conn)) == 1  # only the genuine delivery


@pytest.mark.slow  # ~5 s: gunicorn's bounded drain of the unread body (its 5 s data timeout)
def test_huge_content_length_sent_slowly_is_refused_before_reading(web, redis_conn):
    """Content-Length of a terabyte trickled slowly is refused at once from the header alone."""
    result = _push_until_answered(web, _head(b"Content-Length: 1000000000000\r\n"), b"x" * 1024, 0.2)
    assert result["answer"].startswith(b"HTTP/1.1 413")
    assert result["answered"] < 3  # from the header alone (generous: CI machines are shared)
    assert result["closed"] and result["seconds"] < 12  # the keep-alive drain gives up within its deadline
    assert _accepted_after(web) == 200


def test_chunked_body_within_the_limit_is_accepted(web, redis_conn):
    """Chunked transfer itself is fine: a signed chunked body under the limit is accepted."""
    raw = sample("kobana", "pix.paid.json")
    head = _head(b"Transfer-Encoding: chunked\r\n").replace(b"sha256=" + b"0" * 64, kobana_signature(raw).encode())
    body = b"%x\r\n" % len(raw) + raw + b"\r\n0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", web), timeout=5) as sock:
        sock.sendall(head + body)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert len(queued(redis_conn)) == 1


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 498), (LIMIT + 1, 413)], ids=["at-limit", "one-over"])
def test_streamed_body_without_length_is_measured_exactly(settings, redis_conn, size, status):
    """Without Content-Length the limit is exact: LIMIT bytes are read (and judged), LIMIT + 1 is 413."""
    from app import create_app

    client = create_app(settings.replace(max_body_bytes=LIMIT)).test_client()
    response = client.post(
        "/webhooks/kobana",
        input_stream=BytesIO(b"x" * size),
        headers={"X-Kobana-Signature": "sha256=" + "0" * 64},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == status
    assert queued(redis_conn) == []
