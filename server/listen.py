"""One accept queue per worker: ``xinyi serve --workers N`` listens with ``SO_REUSEPORT`` on Linux.

Sanic binds one listening socket in its main process and every worker accepts from it. Linux
wakes the waiter that slept last, so the worker that has just accepted is the one that takes
the next connections too, and keep-alive connections (a reverse proxy's upstream pool, cashier
apps) then stay where they landed. Measured here with two workers: 4 and 16 connections opened
together all went to one worker, which ran at 81-84 % of a core while the other did nothing,
and 64 connections split 60 % / 22 % of CPU between the two.

With ``SO_REUSEPORT`` every worker listens on a socket of its own, bound to the same address,
and the kernel spreads new connections over them by a hash of each connection's addresses and
ports. The main process binds the address first (so the port is held, and reported, before any
worker starts) but never listens on that socket: a bound socket that does not listen is given
no connections. Each worker, before its server starts, puts its own listening socket in place
of the one it inherited (same file descriptor number, so Sanic serves it unchanged).

What changes with it: a worker that dies takes the connections waiting in its own queue with
it (their clients see a reset and reconnect), where a shared queue would have left them to
the other workers. Other platforms (macOS and the BSDs do not spread connections over such
sockets) keep Sanic's shared socket.
"""

from __future__ import annotations

import os
import socket
import sys
from ipaddress import ip_address

SUPPORTED = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
BACKLOG = 1024  # per worker; the kernel caps it at net.core.somaxconn


def bind(host: str, port: int, *, per_worker: bool) -> socket.socket:
    """The main process's socket on ``host:port``, handed to Sanic.

    ``per_worker`` (several workers, on Linux): bound with ``SO_REUSEPORT`` and never listening;
    each worker listens on a socket of its own (``listen_own``). Otherwise a listening socket
    that every worker accepts from, as Sanic would make it.
    """
    try:
        family = socket.AF_INET6 if ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a host name: the first address it resolves to
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if per_worker:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if not per_worker:
            sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def is_reserved(sock: socket.socket) -> bool:
    """True for a socket made by ``bind(..., per_worker=True)``: ``SO_REUSEPORT`` set and not listening."""
    return (
        SUPPORTED
        and sock.type == socket.SOCK_STREAM
        and sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0
    )


def listen_own(inherited: socket.socket, *, backlog: int = BACKLOG) -> None:
    """In a worker: a listening socket of its own on the reserved address, in place of ``inherited``.

    ``inherited``'s file descriptor number then refers to the new socket, so whatever holds
    ``inherited`` (Sanic's server, about to start) listens on it without knowing.
    """
    own = socket.socket(inherited.family, socket.SOCK_STREAM)
    try:
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        own.bind(inherited.getsockname())
        own.listen(backlog)
        os.dup2(own.fileno(), inherited.fileno(), inheritable=False)
    finally:
        own.close()
