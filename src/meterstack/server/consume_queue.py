"""The consume lane's engine calls: queued by the event loop, decided in groups by one thread.

The lane first ran each request's ``Engine.consume`` in a pool of worker threads, as FastAPI
runs a sync route. Each request then cost a hand-over to a thread, the engine's group commit
waking the threads that queued behind its leader, and a hand-back to the event loop: about ten
thread switches a request, and as much CPU in the kernel as the engine's own decision. Here
the event loop queues the requests it reads and one thread takes all that queued while it was
busy: alone, it decides the request with ``Engine.consume``; several, it decides them in one
transaction with ``Engine.consume_many``, as the group commit does, each on its own and in
arrival order. The answers go back to the event loop in one call a group.

The event loop never waits for the database: a database that hangs holds this thread (and the
requests queued behind it, which then share the next transaction and its timeout), never the
loop, so ``/health`` and every other route still answer. The thread stops after
:data:`IDLE_SECONDS` without work and is started again by the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence

from meterstack.engine import Engine
from meterstack.errors import InternalError
from meterstack.rules.decisions import Decision
from meterstack.server.operator import record_usage
from meterstack.services.events import UsageEvent

#: The most requests one transaction decides; the rest wait for the next.
MAX_GROUP = 256
#: How long the thread waits for work before it stops.
IDLE_SECONDS = 1.0

#: An answer: the decision, or the exception the request raises.
Outcome = Decision | BaseException
_Queued = tuple[UsageEvent, "asyncio.Future[Outcome]", asyncio.AbstractEventLoop]


class ConsumeQueue:
    """``decide(event)`` for the lane's requests, from any event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._mutex = threading.Lock()
        self._queued: list[_Queued] = []
        #: Released to wake the thread when it waits for work (``_asleep``).
        self._bell = threading.Lock()
        self._bell.acquire()
        self._asleep = False
        self._thread: threading.Thread | None = None
        self._closing = False

    async def decide(self, event: UsageEvent) -> Decision:
        """The decision on ``event``, or the error it meets, as ``Engine.consume`` answers."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        with self._mutex:
            self._queued.append((event, future, loop))
            ring = self._asleep
            self._asleep = False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="meterstack-consume", daemon=True
                )
                self._thread.start()
        if ring:
            self._bell.release()
        outcome = await future
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    @property
    def waiting(self) -> int:
        """How many requests wait for the thread to take them."""
        return len(self._queued)

    @property
    def running(self) -> bool:
        """Whether its thread runs (it stops after :data:`IDLE_SECONDS` without work)."""
        return self._thread is not None

    def close(self) -> None:
        """Stop the thread once the queued requests are decided (a later request starts it
        again)."""
        with self._mutex:
            self._closing = True
            thread = self._thread
            ring = self._asleep
            self._asleep = False
        if ring:
            self._bell.release()
        if thread is not None:
            thread.join()
        with self._mutex:
            self._closing = False

    def _run(self) -> None:
        while True:
            with self._mutex:
                group = self._queued[:MAX_GROUP]
                del self._queued[:MAX_GROUP]
                if not group:
                    if self._closing:
                        self._thread = None
                        return
                    self._asleep = True
            if group:
                self._answer(group, self._outcomes([event for event, _, _ in group]))
            elif not self._bell.acquire(timeout=IDLE_SECONDS) and self._stand_down():
                return

    def _stand_down(self) -> bool:
        """After a wait that timed out: stop, unless a request rang the bell meanwhile."""
        with self._mutex:
            if self._asleep:  # nobody rang
                self._asleep = False
                self._thread = None
                return True
        self._bell.acquire()  # rung just after the timeout: take the ring, and go on
        return False

    def _outcomes(self, events: Sequence[UsageEvent]) -> list[Outcome]:
        try:
            if len(events) == 1:
                return [record_usage(self.engine, events[0])]
            results = self.engine.consume_many(events)
        except Exception as error:  # the transaction failed: every request hears why
            return [error] * len(events)
        # An event that failed alone in the store raises what it met, as a lone call does.
        return [
            result.__cause__
            if isinstance(result, InternalError) and result.__cause__ is not None
            else result
            for result in results
        ]

    def _answer(self, group: list[_Queued], outcomes: list[Outcome]) -> None:
        """Hand the outcomes to their event loops: one call each loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], Outcome]]]
        by_loop = {}
        for (_, future, loop), outcome in zip(group, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((future, outcome))
        for loop, answers in by_loop.items():
            # A loop that is closed has nobody waiting for these answers any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[tuple[asyncio.Future[Outcome], Outcome]]) -> None:
    for future, outcome in answers:
        if not future.done():  # a request whose client left may have been cancelled
            future.set_result(outcome)
