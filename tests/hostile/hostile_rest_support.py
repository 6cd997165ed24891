"""Misbehaving HTTP servers of the tests' own, on raw sockets over 127.0.0.1, and
the checks the hostile REST tests share.

Each server runs in its own thread, so a sync client blocking the test's thread
(or its event loop) still gets its answer, or its trickle.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Handler = Callable[[socket.socket, bytes], None]
"""Answers one connection, given the request (head and body) it sent."""

ORG_JSON = b'{"id": "org_1", "name": "Hostile"}'


def read_request(conn: socket.socket) -> bytes:
    """One request off ``conn``: its head and its ``Content-Length`` body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def response(status: str, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A whole HTTP/1.1 response that closes the connection."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def answer(*replies: bytes) -> Handler:
    """A handler giving the n-th connection the n-th reply (the last one after that)."""
    count = iter(range(10**9))

    def handle(conn: socket.socket, request: bytes) -> None:
        conn.sendall(replies[min(next(count), len(replies) - 1)])

    return handle


@dataclass
class RawServer:
    """A TCP server on 127.0.0.1 whose connections go to ``handler``."""

    handler: Handler
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    raw_first_bytes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        port: int = self._listener.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                first = conn.recv(5, socket.MSG_PEEK)
                self.raw_first_bytes.append(first)
                if not first[:1].isalpha():  # A TLS ClientHello, not HTTP: hang up.
                    return
                request = read_request(conn)
                self.requests.append(request)
                self.handler(conn, request)
            except OSError:
                pass  # The client hung up on a trickle: what the test wanted.

    def __enter__(self) -> RawServer:
        self._accepter.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._listener.close()
        self._accepter.join(5)
        for thread in self._threads:
            thread.join(5)


@contextmanager
def raw_server(handler: Handler) -> Iterator[RawServer]:
    with RawServer(handler) as server:
        yield server


def texts_of(obj: object) -> list[str]:
    """Everything a user could print of ``obj``, with the exceptions chained to it."""
    import traceback

    texts = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        texts += [repr(arg) for arg in obj.args]
        texts += [str(getattr(obj, name, "") or "") for name in ("message", "body", "url")]
        texts.append("".join(traceback.format_exception(type(obj), obj, obj.__traceback__)))
        if obj.__cause__ is not None:
            texts += texts_of(obj.__cause__)
        if obj.__context__ is not None:
            texts += texts_of(obj.__context__)
    return texts


def assert_not_shown(secret: str, *objects: object) -> None:
    assert secret
    for obj in objects:
        for text in texts_of(obj):
            assert secret not in text, f"the secret shows in {type(obj).__name__}: {text[:200]!r}"
