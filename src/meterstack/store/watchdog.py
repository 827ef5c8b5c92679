"""Deadlines of PostgreSQL units of work: a database that stops answering fails them in time.

A server that is down refuses connections at once, but one that hangs (a network path that
stops relaying, a server frozen mid-statement) leaves the driver waiting on its socket for as
long as TCP lets it: every worker thread ends up waiting, and nothing answers. The server's own
``statement_timeout`` cannot help when the statement never reaches it, so the store keeps a
deadline per unit of work on the client side. One thread looks at the open units a few times
per deadline; a unit past its deadline has its socket shut down, the blocked driver call fails
at once (an ``OperationalError``, so 503 ``store_unavailable``), and the connection is
replaced. A unit that ends in time costs a dictionary insert and a delete.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time


class Watchdog:
    """Shut down the socket of any unit of work still open past its deadline."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        #: token -> (deadline, socket's file descriptor) of the units open now.
        self._open: dict[int, tuple[float, int]] = {}
        self._expired: set[int] = set()
        self._tokens = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def watch(self, fd: int) -> int:
        """Start the deadline of a unit of work on the socket ``fd``; its token."""
        if self._thread is None or self._pid != os.getpid():
            self._start()
        token = next(self._tokens)
        self._open[token] = (time.monotonic() + self.timeout, fd)
        return token

    def release(self, token: int) -> bool:
        """End a unit's deadline; whether it had expired (its socket was shut down)."""
        with self._lock:
            self._open.pop(token, None)
            if token in self._expired:
                self._expired.discard(token)
                return True
        return False

    def close(self) -> None:
        self._stop.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            # A forked child has no thread of its parent's: it starts its own.
            self._pid = os.getpid()
            self._open.clear()
            self._thread = threading.Thread(
                target=self._run, name="meterstack-store-deadlines", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        interval = min(0.1, self.timeout / 10)
        while not self._stop.wait(interval):
            now = time.monotonic()
            late = [token for token, (deadline, _) in list(self._open.items()) if deadline < now]
            for token in late:
                with self._lock:
                    entry = self._open.pop(token, None)
                    if entry is None:
                        continue  # it ended meanwhile
                    self._expired.add(token)
                    _shut_down(entry[1])


def _shut_down(fd: int) -> None:
    """Shut the socket down (both ways): a thread blocked on it wakes with an error."""
    try:
        duplicate = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()
