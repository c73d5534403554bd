"""gunicorn's HTTP/1.1 response, sending its headers in the same ``sendall`` as the body's first bytes.

gunicorn sends the status line and headers in one ``sendall`` and each body chunk in another, so an
acknowledgement (about 190 bytes of headers, 77 of JSON) leaves as two TCP segments: two system
calls here, and two wake-ups of the client's reader for one answer. Here the headers are held
while ``write`` runs and go out with the body bytes it sends, one system call and one segment.
Everything else is gunicorn's: what is sent, and when the headers go alone (a chunked body's
framing, a body that must not be sent, an empty one, ``sendfile``, ``close`` with no body) is
decided by gunicorn's own ``write``, ``sendfile`` and ``close``.

gthread builds its HTTP/1.1 responses by the module name ``gunicorn.http.wsgi.Response`` (no
``response_class`` is passed for them), so ``install`` puts this class there, in a worker process
(``ops.gunicorn_worker.ThreadWorker.init_process``).
"""

from __future__ import annotations

from gunicorn import util
from gunicorn.http import wsgi


class OneSendResponse(wsgi.Response):
    _holding = False
    _held = b""

    def write(self, arg: bytes) -> None:
        self._holding = True
        try:
            super().write(arg)
        finally:
            self._holding = False
            self._send_held()  # the body was dropped or empty: the headers go alone, as before

    def send_headers(self) -> None:
        if not self._holding or self.headers_sent:
            super().send_headers()
            return
        # gunicorn 27's send_headers, holding the bytes instead of sending them
        tosend = self.default_headers()
        tosend.extend([f"{k}: {v}\r\n" for k, v in self.headers])
        self._held = util.to_bytestring("".join(tosend) + "\r\n", "latin-1")
        self.headers_sent = True

    def _emit_body(self, data: bytes) -> None:
        if self._held and not self.chunked:
            data, self._held = self._held + data, b""
        self._send_held()  # before a chunk's own framing
        super()._emit_body(data)  # type: ignore[misc]  # gunicorn 27 (types-gunicorn predates it)

    def _send_held(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            util.write(self.sock, held)


def install() -> None:
    """Have gthread build its HTTP/1.1 responses as ``OneSendResponse`` in this process."""
    wsgi.Response = OneSendResponse  # type: ignore[misc]
