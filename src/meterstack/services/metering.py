"""Metering: consume, check, holds, usage; admission happens only in the store's increments.

Every request runs in one store transaction: the account's state (reloaded when its version
moved), the rules' bounds per scope, one conditional increment per scope in a fixed order, the
idempotency record, then the rules name the outcome. A scope that refuses undoes the scopes
before it inside the same transaction, so a request applies to all of its scopes or to none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from meterstack.errors import (
    IdempotencyKeyReusedError,
    InternalError,
    InvalidInputError,
    MeterstackError,
    StoreUnavailableError,
)
from meterstack.rules.admission import (
    ACCOUNT_SCOPE,
    AdmissionPlan,
    ScopeBound,
    Totals,
    admits,
    classify_admitted,
    classify_refused,
    overage_delta,
    plan_request,
)
from meterstack.rules.decisions import Decision
from meterstack.rules.terms import AccountState
from meterstack.services.batch import consume_batch
from meterstack.services.conflicts import decided_again_on_conflict
from meterstack.services.context import ServiceContext
from meterstack.services.express import Express
from meterstack.services.holds import insert_hold, sweep
from meterstack.services.validation import (
    key_quota,
    validate_idempotency_key,
    validate_meter,
    validate_project,
    validate_quantity,
)
from meterstack.store.sql import Transaction

#: Keys a purge examines per transaction: a window's scan and deletes take milliseconds.
PURGE_WINDOW = 10_000


@dataclass(frozen=True)
class UsageEvent:
    """One unit of metered work to record: ``quantity`` of ``meter`` for an account."""

    account_id: str
    meter: str
    quantity: int
    project_id: str | None = None
    idempotency_key: str | None = None
    #: The API key making the request; its own quota on the meter is one more scope (A8).
    api_key_id: str | None = None


@dataclass(frozen=True)
class HoldRequest:
    """Asks for a hold instead of a consumption; ``ttl`` None = the meter's longest."""

    ttl: timedelta | None = None


class _StaleStateError(Exception):
    """The cached account state was older than the database's: decide again."""


@dataclass(frozen=True)
class _Applied:
    bound: ScopeBound
    after: Totals
    overage: int


class Metering:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.express = Express(ctx)

    # ------------------------------------------------------------------ consume

    def consume_many(
        self, events: Sequence[UsageEvent | MeterstackError]
    ) -> list[Decision | MeterstackError]:
        """Decide every event on its own, all in one transaction (one durable commit).

        Each result is the event's decision or the error that event alone met (an error given
        in place of an event is that event's answer); events are applied in (account, meter,
        project) order so that concurrent batches lock counters in one global order, and
        answered in the order given. An event that fails inside the store fails alone: the
        transaction is decided again without it (see :meth:`_isolated`).
        """
        results: list[Decision | MeterstackError | None] = [
            event if isinstance(event, MeterstackError) else None for event in events
        ]
        asked = [event for event in events if not isinstance(event, MeterstackError)]
        decided = iter(self._isolated(asked) if asked else [])
        return [next(decided) if result is None else result for result in results]

    def _isolated(self, events: list[UsageEvent]) -> list[Decision | MeterstackError]:
        """The batch's results; when its transaction fails, each half is decided on its own.

        A failure that is not one event's answer (a refused row, bad input that reached the
        database, a fault) undoes the whole transaction, so the halves are decided again in
        their own transactions, in order, down to the one event that fails: it alone answers
        with :class:`InternalError`. A database that cannot work at all fails every event.
        """
        try:
            return self._consume_together(events)
        except StoreUnavailableError:
            raise
        except Exception as fault:
            if len(events) > 1:
                middle = len(events) // 2
                return self._isolated(events[:middle]) + self._isolated(events[middle:])
            if isinstance(fault, MeterstackError):
                return [fault]
            failed = InternalError(
                "the request failed in the store and nothing of it was recorded; the requests "
                "decided with it were not affected",
                reason=type(fault).__name__,
            )
            failed.__cause__ = fault
            return [failed]

    @decided_again_on_conflict
    def _consume_together(self, events: list[UsageEvent]) -> list[Decision | MeterstackError]:
        with self.ctx.store.transaction() as tx:
            return consume_batch(self, tx, events, self.ctx.now())

    def decide(self, tx: Transaction, event: UsageEvent, now: datetime) -> Decision:
        """Decide and record one event inside an open transaction."""
        return self._consume(tx, event, now, None)

    @decided_again_on_conflict
    def consume(self, event: UsageEvent) -> Decision:
        decision = self.express.consume(event, request_hash(event, "consume"))
        if decision is not None:
            return decision
        with self.ctx.store.transaction() as tx:
            return self._consume(tx, event, self.ctx.now(), None)

    def _consume(
        self, tx: Transaction, event: UsageEvent, now: datetime, hold_request: HoldRequest | None
    ) -> Decision:
        # The cached terms are used at once; their version is read by the first increment, in
        # the same statement, and a stale cache is reloaded and the request decided again.
        state, verified = self.ctx.cached_state(tx, event.account_id)
        try:
            return self._decide(tx, event, now, hold_request, state, verified)
        except _StaleStateError:
            self.ctx.forget(tx, event.account_id)
            return self._decide(
                tx, event, now, hold_request, self.ctx.state(tx, event.account_id), True
            )

    def _decide(
        self,
        tx: Transaction,
        event: UsageEvent,
        now: datetime,
        hold_request: HoldRequest | None,
        state: AccountState,
        verified: bool,
    ) -> Decision:
        hold = hold_request is not None
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        try:
            validate_meter(catalog, event.meter)
            validate_quantity(catalog, event.meter, event.quantity)
            validate_project(state, event.project_id)
        except MeterstackError:
            if not verified and tx.account_version(state.account_id) != state.version:
                raise _StaleStateError from None
            raise
        key = validate_idempotency_key(event.idempotency_key)
        fingerprint = request_hash(event, "hold" if hold else "consume")
        period = self.ctx.period(catalog, state, now)
        plan = plan_request(
            catalog,
            state,
            event.meter,
            event.quantity,
            period_key=period.key,
            period_end=period.end,
            project_id=event.project_id,
            key_quota=key_quota(tx, state, event, hold=hold),
        )
        outcome = self.admit(
            tx, plan, state, now, hold=hold, check_version=None if verified else state.version
        )
        if isinstance(outcome, tuple):
            refused, current = outcome
            # A retry of an admitted request replays its answer even at the limit (D7).
            stored = self._stored(tx, event.account_id, key, fingerprint, now)
            if stored is not None:
                return stored
            return classify_refused(plan, refused, current, current, now)
        decision = classify_admitted(
            plan,
            outcome[0].after,
            outcome[0].overage,
            now,
            catalog.policies.near_limit_percent,
            hold=hold,
        )
        if hold_request is None:
            self.express.learn(event, state.version, catalog, plan, period, state.pending_at)
        else:
            decision = insert_hold(
                tx,
                catalog,
                account_id=state.account_id,
                project_id=event.project_id,
                decision=decision,
                now=now,
                ttl=hold_request.ttl,
            )
        if key is not None and not self._remember(tx, event.account_id, key, fingerprint, decision):
            # Another request with this key came first: answer with its decision, undo ours.
            try:
                stored = self._stored(tx, event.account_id, key, fingerprint, now)
            except IdempotencyKeyReusedError:
                self._undo(tx, state.account_id, plan, outcome, hold=hold)
                raise
            if stored is None:  # the earlier record had lapsed and is gone: ours stands
                self._remember(tx, event.account_id, key, fingerprint, decision)
                return decision
            self._undo(tx, state.account_id, plan, outcome, hold=hold)
            if decision.reservation_id is not None:
                tx.close_reservation(decision.reservation_id, "released")
            return stored
        return decision

    def admit(
        self,
        tx: Transaction,
        plan: AdmissionPlan,
        state: AccountState,
        now: datetime,
        *,
        hold: bool,
        check_version: int | None = None,
    ) -> list[_Applied] | tuple[ScopeBound, Totals]:
        """Increment every scope within its bound, or none: the applied scopes, or the refusal.

        With ``check_version``, the bounds came from a cached state: the first increment reads
        the account's version, and a mismatch undoes everything and raises ``_StaleStateError``.
        """
        for attempt in range(2):
            applied: list[_Applied] = []
            for bound in plan.scopes:
                read_version = check_version is not None and not applied
                after = tx.increment(
                    state.account_id,
                    plan.item,
                    bound.scope,
                    plan.period_key,
                    d_used=0 if hold else plan.quantity,
                    d_held=plan.quantity if hold else 0,
                    bound=bound.bound,
                    overage_from=None if hold else bound.overage_from,
                    read_version=read_version,
                )
                if after is not None and read_version and tx.last_version != check_version:
                    applied.append(_Applied(bound, after, self._overage(bound, after, plan, hold)))
                    self._undo(tx, state.account_id, plan, applied, hold=hold)
                    raise _StaleStateError
                if after is None:
                    self._undo(tx, state.account_id, plan, applied, hold=hold)
                    if check_version is not None:
                        if tx.account_version(state.account_id) != check_version:
                            raise _StaleStateError
                        check_version = None
                    if attempt == 0 and sweep(tx, state.account_id, now):
                        break  # lapsed holds were released: decide once more
                    current = tx.totals(state.account_id, plan.item, bound.scope, plan.period_key)
                    return bound, current
                applied.append(_Applied(bound, after, self._overage(bound, after, plan, hold)))
                check_version = None
            else:
                return applied
        raise AssertionError("unreachable: the second attempt always returns")

    @staticmethod
    def _overage(bound: ScopeBound, after: Totals, plan: AdmissionPlan, hold: bool) -> int:
        return 0 if hold else overage_delta(bound, after.used, plan.quantity)

    def _undo(
        self,
        tx: Transaction,
        account_id: str,
        plan: AdmissionPlan,
        applied: list[_Applied],
        *,
        hold: bool,
    ) -> None:
        """Take back what ``applied`` added, inside the same transaction."""
        quantity = -plan.quantity
        for step in applied:
            tx.adjust(
                account_id,
                plan.item,
                step.bound.scope,
                plan.period_key,
                d_used=0 if hold else quantity,
                d_held=quantity if hold else 0,
                d_overage=-step.overage,
            )

    # ------------------------------------------------------------------ idempotency (D7)

    def _remember(
        self, tx: Transaction, account_id: str, key: str, request_hash: str, decision: Decision
    ) -> bool:
        return tx.save_idempotency(account_id, key, request_hash, decision.encode(), decision.as_of)

    def _stored(
        self, tx: Transaction, account_id: str, key: str | None, request_hash: str, now: datetime
    ) -> Decision | None:
        """The stored decision for ``key``; 409 if it was made for another request."""
        if key is None:
            return None
        stored = tx.idempotency(account_id, key)
        if stored is None:
            return None
        return self.replay(tx, account_id, key, request_hash, stored, now)

    def replay(
        self,
        tx: Transaction,
        account_id: str,
        key: str,
        request_hash: str,
        record: tuple[str, str, datetime],
        now: datetime,
    ) -> Decision | None:
        """The stored decision to answer with; None (and the record gone) if it lapsed."""
        stored_hash, decision, created_at = record
        if created_at < now - self.ctx.idempotency_retention:
            tx.delete_idempotency(account_id, key)
            return None
        if stored_hash != request_hash:
            raise IdempotencyKeyReusedError(
                f"idempotency key {key!r} was already used for a different request",
                idempotency_key=key,
            )
        return Decision.decode(decision, replayed=True)

    def lost_race(
        self,
        tx: Transaction,
        event: UsageEvent,
        decision: Decision,
        overage: int,
        request_hash: str,
        now: datetime,
        scopes: tuple[str, ...],
    ) -> Decision | MeterstackError:
        """Another request stored this key first: undo this event and answer with its decision."""
        key = event.idempotency_key or ""
        for scope in scopes:
            tx.adjust(
                event.account_id,
                event.meter,
                scope,
                decision.period,
                d_used=-event.quantity,
                d_overage=-overage if scope == ACCOUNT_SCOPE else 0,
            )
        try:
            stored = self._stored(tx, event.account_id, key, request_hash, now)
        except IdempotencyKeyReusedError as error:
            return error
        if stored is None:  # it lapsed meanwhile: this event stands after all
            return self.decide(tx, event, now)
        return stored

    def purge_idempotency_keys(self, window: int = PURGE_WINDOW) -> int:
        """Delete the keys older than the retention (D7), ``window`` keys per transaction;
        how many went."""
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise InvalidInputError("the purge window must be at least one key", field="window")
        before = self.ctx.now() - self.ctx.idempotency_retention
        purged, after = 0, None
        while True:
            with self.ctx.store.transaction() as tx:
                deleted, after = tx.purge_idempotency(before, after, window)
            purged += deleted
            if after is None:
                return purged

    # ------------------------------------------------------------------ check

    @decided_again_on_conflict
    def check(self, event: UsageEvent) -> Decision:
        """The decision ``consume`` would make now; nothing is recorded."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, event.account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            validate_meter(catalog, event.meter)
            validate_quantity(catalog, event.meter, event.quantity)
            validate_project(state, event.project_id)
            sweep(tx, state.account_id, now)
            period = self.ctx.period(catalog, state, now)
            plan = plan_request(
                catalog,
                state,
                event.meter,
                event.quantity,
                period_key=period.key,
                period_end=period.end,
                project_id=event.project_id,
            )
            account_after = Totals()
            overage = 0
            for bound in plan.scopes:
                current = tx.totals(state.account_id, plan.item, bound.scope, plan.period_key)
                if not admits(bound, current, plan.quantity):
                    return classify_refused(plan, bound, current, current, now)
                if bound.scope == ACCOUNT_SCOPE:
                    used = current.used + plan.quantity
                    account_after = Totals(used, current.held, current.overage)
                    overage = overage_delta(bound, used, plan.quantity)
            return classify_admitted(
                plan, account_after, overage, now, catalog.policies.near_limit_percent
            )

    # ------------------------------------------------------------------ holds (D6, C6)

    @decided_again_on_conflict
    def reserve(self, event: UsageEvent, ttl: timedelta | None) -> Decision:
        """Hold ``quantity`` against the limits until committed, released or lapsed."""
        with self.ctx.store.transaction() as tx:
            return self._consume(tx, event, self.ctx.now(), HoldRequest(ttl))


def request_hash(event: UsageEvent, kind: str) -> str:
    """The fingerprint a key's later requests must match (D7); fields cannot contain US."""
    payload = (
        f"{kind}\x1f{event.meter}\x1f{event.quantity}\x1f{event.project_id or ''}"
        f"\x1f{event.api_key_id or ''}"
    )
    return hashlib.sha256(payload.encode()).hexdigest()
