"""SQLite checkpoints off the request path.

In WAL mode a commit appends pages to the write-ahead log; a checkpoint copies them back into
the database file and syncs it. By default SQLite runs the checkpoint inside the commit that
takes the log past 1,000 pages, so one request in a few hundred waits for a file sync (about
10 ms on a virtual disk) while the others take tens of microseconds. Here a thread of the store
checkpoints every ``interval`` seconds instead, in PASSIVE mode, which never blocks a reader or
a writer. The commits' own checkpoint stays as a backstop at :data:`BACKSTOP_PAGES`, should the
thread fall behind a sustained burst or be missing (a forked child, until its first new
connection starts it again).

Durability does not change: a commit is acknowledged once it is in the log, as before; the
checkpoint only moves committed pages from the log into the database file.

A process forked while the thread is inside SQLite would inherit SQLite's internal locks held
by a thread that does not exist in the child, and hang at its first statement. So the thread
enters SQLite only through a gate, and a fork waits at that gate, and for a thread being
started, to be done (``os.register_at_fork``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable

#: Log pages past which a commit checkpoints by itself (SQLite's default is 1,000).
BACKSTOP_PAGES = 10_000
#: Seconds between two background checkpoints.
INTERVAL = 0.05

_log = logging.getLogger(__name__)


class Checkpointer:
    """A daemon thread checkpointing one SQLite database file."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], interval: float = INTERVAL
    ) -> None:
        self._connect = connect
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0
        self._starting = threading.Lock()
        #: Held while the thread is inside SQLite, and by a fork in progress.
        self._gate = threading.Lock()
        #: Checkpoints run so far (tests and diagnostics).
        self.runs = 0
        _LIVE.add(self)

    @property
    def running(self) -> bool:
        """Whether the thread is alive now: started, in this process, and not yet ended."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def started(self) -> int:
        """Threads started so far in this process's copy (a forked child starts its own)."""
        return self._started

    def ensure_running(self) -> None:
        """Start the thread, or start it again where it is gone (after a fork)."""
        with self._starting:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._run, name="meterstack-checkpoint", daemon=True
            )
            self._thread.start()
            self._started += 1

    def stop(self) -> None:
        """Ask the thread to end after its current round (it holds nothing worth waiting for)."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        with self._starting:
            thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        """Copy what the log holds into the database file, as far as no reader needs it."""
        with self._gate:
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.OperationalError as error:  # busy or locked: the next round will do
                _log.debug("checkpoint skipped: %s", error)
        self.runs += 1

    def _run(self) -> None:
        try:
            with self._gate:
                connection = self._connect()
        except sqlite3.Error:
            _log.warning("background checkpoints are off: the database cannot be opened")
            return
        try:
            while not self._stop.wait(self._interval):
                self.checkpoint(connection)
        finally:
            with self._gate:
                connection.close()


_LIVE: weakref.WeakSet[Checkpointer] = weakref.WeakSet()


def _close_gates() -> None:
    """Before a fork: no thread of ours is starting, nor inside SQLite, until it is done."""
    for checkpointer in list(_LIVE):
        checkpointer._starting.acquire()
        checkpointer._gate.acquire()


def _open_gates() -> None:
    for checkpointer in list(_LIVE):
        for lock in (checkpointer._gate, checkpointer._starting):
            if lock.locked():
                lock.release()


if hasattr(os, "register_at_fork"):  # POSIX; a platform without fork needs no gate
    os.register_at_fork(
        before=_close_gates, after_in_parent=_open_gates, after_in_child=_open_gates
    )
