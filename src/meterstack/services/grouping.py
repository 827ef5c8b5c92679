"""Group commit: concurrent ``consume`` calls of one engine share a transaction.

A durable decision costs a commit; on SQLite one writer commits at a time, so threads that
consume at once would queue for the lock one commit each. Instead the first caller becomes the
leader: it decides its own event alone (the express lane, when nothing waits), and while it
does, the callers that arrive queue up. When it is done it decides them too, in one transaction
with ``consume_many`` (each event still decided on its own and in arrival order), wakes them and
passes the lead to whoever queued meanwhile, who does the same. The leader keeps the work rather
than handing it to a waiting thread at once: on one interpreter that hand-over is a thread switch
per transaction, which made eight threads slower than one on SQLite; the leader's own answer
waits for that one transaction more. No caller returns before the transaction holding its event
has committed, so every answer is as durable as a lone one.

A leader whose last transaction was shared expects company again: rather than decide its own
event alone while the others queue (on one interpreter they would take turns with it, and both
its lone transaction and theirs grow slower), it waits a moment, at most ``GATHER_SECONDS``,
for as many callers as the last group held, then decides them all, its own event first, in one
transaction. A caller alone never waits: its last group was itself.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from meterstack.errors import InternalError, MeterstackError
from meterstack.rules.decisions import Decision
from meterstack.services.events import UsageEvent

#: The most events one shared transaction decides; the rest wait for the next.
MAX_GROUP = 256
#: How long a leader that expects company waits for it before deciding without it.
GATHER_SECONDS = 0.0002


class _Caller:
    """One waiting ``consume``: its event, then its answer."""

    __slots__ = ("_gate", "decision", "error", "event", "leads", "shared")

    def __init__(self, event: UsageEvent) -> None:
        self.event = event
        self._gate = threading.Lock()
        self._gate.acquire()
        self.decision: Decision | None = None
        self.error: BaseException | None = None
        #: Woken to lead the next group rather than with an answer.
        self.leads = False
        #: ``error`` is the whole group's (its transaction failed), not this event's own.
        self.shared = False

    def wait(self) -> None:
        self._gate.acquire()

    def wake(self) -> None:
        self._gate.release()

    def answer(self) -> Decision:
        if self.error is not None:
            if self.shared:
                # Each caller raises its own copy, with its own traceback, caused by the group's.
                raise _own_copy(self.error) from self.error
            if isinstance(self.error, InternalError) and self.error.__cause__ is not None:
                raise self.error.__cause__  # what this request met alone, as a lone call raises
            raise self.error
        assert self.decision is not None
        return self.decision


def _own_copy(error: BaseException) -> BaseException:
    """A copy of an exception (type, message, details), or an equivalent where none can be made."""
    try:
        return copy.copy(error)
    except Exception:
        return RuntimeError(f"the shared transaction failed: {error!r}")


class Deciding(Protocol):
    """The path a group commit feeds (``services.metering.Metering``): one event alone, or
    many in one transaction, each with its own answer."""

    def consume(self, event: UsageEvent) -> Decision: ...

    def consume_many(
        self, events: Sequence[UsageEvent | MeterstackError]
    ) -> list[Decision | MeterstackError]: ...


class GroupCommit:
    """``consume`` for concurrent callers; ``on_queued``, when given, hears the number of
    callers waiting each time one joins the queue (under the queue's lock: keep it short);
    ``gather_seconds`` is how long a leader expecting company waits for it."""

    def __init__(
        self,
        metering: Deciding,
        *,
        on_queued: Callable[[int], None] | None = None,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        self.metering = metering
        self._on_queued = on_queued
        self._gather_seconds = gather_seconds
        self._mutex = threading.Lock()
        #: Signalled when as many callers wait as a gathering leader expects.
        self._gathered = threading.Condition(self._mutex)
        self._waiting: list[_Caller] = []
        self._deciding = False
        #: The size of the last group decided: the company a new leader expects.
        self._expected = 1
        #: While a leader gathers: how many waiting callers it wants (0: none gathers).
        self._wanted = 0

    def consume(self, event: UsageEvent) -> Decision:
        gathered: _Caller | None = None
        company = 0
        with self._mutex:
            if self._deciding:
                queued = _Caller(event)
                self._waiting.append(queued)
                caller: _Caller | None = queued
                if self._on_queued is not None:
                    self._on_queued(len(self._waiting))
                if self._wanted and len(self._waiting) >= self._wanted:
                    self._gathered.notify()
            else:
                self._deciding = True
                caller = None
                if self._expected > 1:  # the last group was shared: company is on its way
                    gathered, company = _Caller(event), self._expected - 1
        if gathered is not None:
            try:
                self._gather(company)
            finally:  # whatever interrupts the wait, the queue is decided and the lead passed
                self._lead(gathered)
            return gathered.answer()
        if caller is None:
            try:
                return self.metering.consume(event)
            finally:
                # Whoever queued meanwhile is decided now, by this thread, which holds the
                # interpreter already: handing the lead to a waiting thread costs a switch.
                self._lead(None)
        caller.wait()
        if caller.leads:
            self._lead(caller)
        return caller.answer()

    def _gather(self, wanted: int) -> None:
        """Wait (the queue's lock released while waiting) until ``wanted`` callers queue, or
        the gathering time passes."""
        with self._mutex:
            self._wanted = wanted
            try:
                self._gathered.wait_for(lambda: len(self._waiting) >= wanted, self._gather_seconds)
            finally:
                self._wanted = 0

    def _lead(self, first: _Caller | None) -> None:
        """Decide ``first`` (when it leads) and the callers queued behind it in one
        transaction, then pass the lead on."""
        with self._mutex:
            if first is None and not self._waiting:
                self._deciding = False  # nobody came meanwhile: stand down
                self._expected = 1
                return
            group = [] if first is None else [first]
            group += self._waiting[: MAX_GROUP - len(group)]
            del self._waiting[: len(group) - (first is not None)]
            self._expected = len(group) + (first is None)  # with the leader's lone event
        try:
            if len(group) == 1:
                results: list[Decision | MeterstackError] = [self._alone(group[0].event)]
            else:
                results = self.metering.consume_many([caller.event for caller in group])
        except BaseException as error:  # the transaction failed: every caller hears why
            for caller in group:
                caller.error = error
                caller.shared = True
        else:
            for caller, result in zip(group, results, strict=True):
                if isinstance(result, MeterstackError):
                    caller.error = result
                else:
                    caller.decision = result
        finally:
            self._hand_over()
            for caller in group:
                if caller is not first:
                    caller.wake()

    def _alone(self, event: UsageEvent) -> Decision | MeterstackError:
        try:
            return self.metering.consume(event)
        except MeterstackError as error:
            return error

    def _hand_over(self) -> None:
        """Pass the lead to the first queued caller, or stand down when none waits."""
        with self._mutex:
            if not self._waiting:
                self._deciding = False
                return
            following = self._waiting.pop(0)
        following.leads = True
        following.wake()
