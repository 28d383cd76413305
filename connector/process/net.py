"""Sockets the connector's own servers listen on (health, the sandbox)."""

from __future__ import annotations

import socket


def listen(host: str, port: int) -> socket.socket:
    """A bound, non-blocking socket, so that port 0 tells us the port it got."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
