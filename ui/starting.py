"""The app's address answers at once: the listening socket is bound before Gradio is imported,
and a small "MixingBuddy is starting…" page (standard library only) answers on it until the real
server takes the same socket over (:class:`StartingPage`)."""
from __future__ import annotations

import select
import socket
import threading
import time

__all__ = ["LOOPBACK", "STARTING_HEADER", "StartingPage", "allowed_host_names", "bind_listening_socket",
           "host_allowed", "on_sigterm"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
STARTING_HEADER = "X-MixingBuddy-Starting"  # on every placeholder answer: tells it from the app
REFRESH_S = 1  # the placeholder page reloads itself (same URL, query included) this often
BACKLOG = 128
_MAX_REQUEST_BYTES = 16_384
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{refresh}">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>MixingBuddy is starting…</title>
<style>body{{font-family:ui-sans-serif,system-ui,sans-serif;margin:3rem auto;max-width:36rem;padding:0 1rem;
color:#222}}p{{opacity:.8}}</style></head>
<body><h1>MixingBuddy is starting…</h1>
<p>The app is loading ({elapsed:.0f} s so far); this page reloads itself and opens it as soon as it is ready.</p>
</body></html>
"""


def on_sigterm(signum, frame) -> None:  # noqa: ARG001 - the signal module's signature
    """SIGTERM as an ordinary exit, so ``atexit`` removes the app's temporary folder."""
    raise SystemExit(128 + signum)


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: a free port) and listening, ready to hand to
    uvicorn (``Server.run(sockets=[...])``). A port in use raises ``OSError`` naming it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart rebinds at once
    try:
        sock.bind((host or "0.0.0.0", port))
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"cannot listen on {host}:{port} ({e.strerror}); is another server using it?") from e
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def allowed_host_names(host: str, allowed_hosts: list[str] | None) -> list[str] | None:
    """The Host header values the server answers: ``allowed_hosts`` when given; else the bound
    address (and the loopback names for a loopback bind); None (any) for 0.0.0.0 / :: without it."""
    if allowed_hosts:
        return list(allowed_hosts)
    if host in ("0.0.0.0", "", "::"):
        return None
    return [host] + ([h for h in LOOPBACK if h != host] if host in LOOPBACK else [])


def host_allowed(header: str | None, allowed: list[str] | None) -> bool:
    """Whether a Host header names an allowed host, as Starlette's ``TrustedHostMiddleware``
    decides it (port stripped; ``*`` allows any, ``*.example.com`` its subdomains)."""
    if allowed is None or "*" in allowed:
        return True
    name = (header or "").strip()
    name = name[1:name.index("]")] if name.startswith("[") and "]" in name else name.split(":")[0]
    for pattern in allowed:
        if name == pattern or (pattern.startswith("*") and name.endswith(pattern[1:])):
            return True
    return False


class StartingPage:
    """Answers on a listening socket, in a background thread, until :meth:`stop`: ``GET /`` (any
    query) with a 200 page that reloads itself every ``REFRESH_S`` s, anything else with 503 and
    ``Retry-After``; a Host header not allowed gets 400 as from the real app. Stopping leaves the
    socket open and listening: connections that arrive during the handover wait in its queue
    for the real server, none is refused."""

    def __init__(self, sock: socket.socket, allowed_hosts: list[str] | None = None):
        self.sock = sock
        self.allowed = allowed_hosts
        self.t0 = time.monotonic()
        self.served = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mixingbuddy-starting", daemon=True)

    def start(self) -> StartingPage:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering (the request being answered is finished first)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.sock], [], [], 0.05)
            except (OSError, ValueError):  # the socket was closed: the process is ending
                return
            if not ready or self._stop.is_set():
                continue
            try:
                self.sock.setblocking(False)
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            finally:
                try:
                    self.sock.setblocking(True)
                except OSError:
                    pass
            with conn:
                try:
                    self._answer(conn)
                except OSError:  # the client went away
                    pass

    def _answer(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        conn.settimeout(2.0)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < _MAX_REQUEST_BYTES:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, _, rest = head[0].partition(" ")
        path = rest.split(" ", 1)[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:]) if k}
        if not host_allowed(headers.get("host"), self.allowed):
            status, body, extra = "400 Bad Request", b"Invalid host header", "Content-Type: text/plain\r\n"
        elif method in ("GET", "HEAD") and path.split("?", 1)[0] in ("", "/"):
            page = _PAGE.format(refresh=REFRESH_S, elapsed=time.monotonic() - self.t0)
            status, body, extra = "200 OK", page.encode("utf-8"), "Content-Type: text/html; charset=utf-8\r\n"
        else:
            status, body = "503 Service Unavailable", f"MixingBuddy is starting; retry in {REFRESH_S} s\n".encode()
            extra = f"Content-Type: text/plain\r\nRetry-After: {REFRESH_S}\r\n"
        reply = (f"HTTP/1.1 {status}\r\n{extra}Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
                 f"{STARTING_HEADER}: 1\r\nConnection: close\r\n\r\n").encode("latin-1")
        conn.sendall(reply + (b"" if method == "HEAD" else body))
        self.served += 1

