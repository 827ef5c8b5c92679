"""A loopback TCP proxy the test controls: it relays to a server until told to stall.

Stalled, it keeps every connection open and accepts new ones, but relays no byte either way:
to the client, the server looks hung (not stopped: nothing is refused or closed). The shared
database server itself is never paused; only this test's path to it.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StallingProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._relaying = threading.Event()
        self._relaying.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        self._relaying.clear()

    def resume(self) -> None:
        self._relaying.set()

    def close(self) -> None:
        self._closed.set()
        self._relaying.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._relaying.wait()  # stalled: not even the way to the server is opened
        try:
            server = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        self._sockets.append(server)
        self._pump(client, server)

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        try:
            while not self._closed.is_set():
                if not self._relaying.wait(0.05):
                    continue  # stalled: read nothing, send nothing
                ready, _, _ = select.select(list(peers), [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            for sock in peers:
                with contextlib.suppress(OSError):
                    sock.close()


@contextmanager
def stalling_proxy(target: tuple[str, int]) -> Iterator[StallingProxy]:
    proxy = StallingProxy(target)
    try:
        yield proxy
    finally:
        proxy.close()
