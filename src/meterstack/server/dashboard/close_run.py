"""A period close started from the console: the engine's close on a thread of this process, its
progress as it goes, and its outcome per account once done.

The close itself is the engine's (``Engine.close_period``): safe to run again or from two
processes at once, each account rated on its own, the ones it cannot rate left unclosed and
listed with the reason. What this adds is only for the operator watching: the accounts examined
so far (the close reports each chunk), out of the accounts there were when it started, and the
invoices and failures it ended with. One run at a time per process; the latest run is kept in
memory until the next one (the failures themselves are the store's, ``close_failures``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from meterstack.answers import CloseFailure
from meterstack.engine import Engine
from meterstack.errors import MeterstackError
from meterstack.records.invoicing import Invoice

#: The invoices a finished run lists one by one; beyond them, it counts.
LISTED = 200
#: The name of the thread a run works on, as a thread dump or a log line shows it.
CLOSE_THREAD = "console-close"


@dataclass
class CloseRun:
    started_at: datetime
    #: Accounts when the run started: the bar's whole.
    accounts: int
    examined: int = 0
    finished_at: datetime | None = None
    invoices: list[Invoice] = field(default_factory=list)
    failures: list[CloseFailure] = field(default_factory=list)
    #: Why the close stopped (a database that cannot do the work), when it did.
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    @property
    def percent(self) -> int:
        if not self.running:
            return 100
        if self.accounts <= 0:
            return 0
        return min(99, self.examined * 100 // self.accounts)

    @property
    def listed(self) -> list[Invoice]:
        return self.invoices[:LISTED]

    @property
    def total(self) -> int:
        return len(self.invoices)


class PeriodCloses:
    """The console's runs of the period close on one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self.latest: CloseRun | None = None

    def start(self) -> tuple[CloseRun, bool]:
        """A new run, or the one still running; whether this call started it."""
        with self._lock:
            if self.latest is not None and self.latest.running:
                return self.latest, False
            engine = self._engine
            run = CloseRun(
                started_at=engine.clock.now(), accounts=engine.directory.accounts(size=1).total
            )
            self.latest = run
        threading.Thread(target=self._run, args=(run,), name=CLOSE_THREAD, daemon=True).start()
        return run, True

    def _run(self, run: CloseRun) -> None:
        def advanced(accounts: int) -> None:
            run.examined += accounts

        try:
            closed = self._engine.close_period(progress=advanced)
            run.invoices, run.failures = list(closed), list(closed.failures)
        except MeterstackError as stopped:
            run.error = stopped.message
        except Exception as bug:  # shown to the operator, not lost on a thread
            run.error = f"the close stopped on an internal error ({type(bug).__name__})"
        finally:
            run.finished_at = self._engine.clock.now()
            run.done.set()
