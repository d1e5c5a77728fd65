"""A slow network link into one etcd member, in user space: a TCP relay in front of its peer port.

The lab runs on loopback and this machine has no netem qdisc, so a member's peers reach it through a
relay that holds what they send for ``delay`` seconds (each chunk keeps its order and is sent when its
time comes: a constant latency, not a throttle). What the member sends back goes straight through.
Its peers' round trips to it then grow by the delay, as over a congested or distant link; their round
trips to each other do not. Standard library only; the relays live in the process that started them.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time

CHUNK = 1 << 16


def _close(*socks: socket.socket) -> None:
    for s in socks:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            s.close()


class DelayProxy:
    """Listens on ``listen_port`` and relays each connection to ``target_port`` on 127.0.0.1."""

    def __init__(self, listen_port: int, target_port: int) -> None:
        self.target_port = target_port
        self.delay = 0.0  # seconds added to everything sent to the member, read as each chunk arrives
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", listen_port))
        self._sock.listen(128)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        _close(self._sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:  # the member is down: its peers see the connection dropped
                _close(client)
                continue
            threading.Thread(target=self._inbound, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._outbound, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _outbound(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(CHUNK):
                dst.sendall(data)
        except OSError:
            pass
        _close(src, dst)

    def _inbound(self, src: socket.socket, dst: socket.socket) -> None:
        due: queue.Queue[tuple[float, bytes | None]] = queue.Queue()

        def send() -> None:
            while True:
                at, data = due.get()
                if data is None:
                    break
                if (wait := at - time.monotonic()) > 0:
                    time.sleep(wait)
                try:
                    dst.sendall(data)
                except OSError:
                    break
            _close(src, dst)

        threading.Thread(target=send, daemon=True).start()
        try:
            while data := src.recv(CHUNK):
                due.put((time.monotonic() + self.delay, data))
        except OSError:
            pass
        due.put((0.0, None))


PROXIES: dict[str, DelayProxy] = {}  # member name -> the relay in front of its peer port


def start(name: str, listen_port: int, target_port: int) -> None:
    stop(name)
    PROXIES[name] = DelayProxy(listen_port, target_port)


def stop(name: str | None = None) -> None:
    """Close one member's relay, or every relay."""
    for n in [name] if name else list(PROXIES):
        if (proxy := PROXIES.pop(n, None)) is not None:
            proxy.close()
