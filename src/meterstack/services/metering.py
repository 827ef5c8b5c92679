"""Metering: consume, check, reserve; every one of them admitted by the store's one call.

A request is planned (``rules.admission.plan_request``: the bound of every scope it touches, or
the cached plan of the same route, ``services.express``; a request that requires features its
tier lacks is refused there, C3), applied by ``tx.counters.apply`` with
its idempotency record, all or none, and named by the rules' classification. :meth:`Metering.
decide` is that path; ``consume``, ``reserve``, group commit and the batch's events that are not
admitted together all go through it. What the store answers decides what happens next: admitted;
refused (after sweeping lapsed holds once, C6, and replaying a stored answer, D7); planned on a
cached state that moved (plan again); or its key taken by an earlier request (replay its answer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from meterstack.errors import (
    IdempotencyKeyReusedError,
    InternalError,
    InvalidInputError,
    MeterstackError,
    StoreUnavailableError,
)
from meterstack.rules.admission import (
    ACCOUNT_SCOPE,
    Step,
    Totals,
    advance,
    classify_admitted,
    classify_refused,
    increment_before,
    plan_request,
)
from meterstack.rules.decisions import Decision, DecisionCode
from meterstack.rules.features import required_refusal
from meterstack.rules.history import UsageMark
from meterstack.services.alerts.service import Alerts
from meterstack.services.alerts.watch import BudgetRefused, Notice
from meterstack.services.batch import consume_batch
from meterstack.services.conflicts import decided_again_on_conflict
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.events import UsageEvent, request_hash
from meterstack.services.express import Planned, Plans
from meterstack.services.holds import hold_ttl, sweep
from meterstack.services.transactions import validate_transaction
from meterstack.services.validation import (
    key_quota,
    validate_idempotency_key,
    validate_meter,
    validate_project,
    validate_quantity,
    validate_required,
)
from meterstack.store.ports import Admission, Applied, KeyRecord, Refused, Stale, UnitOfWork
from meterstack.store.rows import ReservationRow, StoredDecision

#: Keys a purge examines per transaction: a window's scan and deletes take milliseconds.
PURGE_WINDOW = 10_000
#: Attempts of one decision: planned again once (stale), swept once (C6), replay lapsed once.
_ATTEMPTS = 4


@dataclass(frozen=True)
class HoldRequest:
    """Asks for a hold instead of a consumption; ``ttl`` None = the meter's longest."""

    ttl: timedelta | None = None


class Metering:
    def __init__(self, ctx: ServiceContext, plans: Plans | None = None) -> None:
        self.ctx = ctx
        #: The express lane's cache of plans.
        self.plans = Plans() if plans is None else plans
        self.alerts = Alerts(ctx)

    # ------------------------------------------------------------------ consume

    @decided_again_on_conflict
    def consume(self, event: UsageEvent) -> Decision:
        with self.ctx.store.transaction() as tx:
            return self.decide(tx, event, self.ctx.now())

    def consume_many(
        self, events: Sequence[UsageEvent | MeterstackError]
    ) -> list[Decision | MeterstackError]:
        """Decide every event on its own, all in one transaction (one durable commit).

        Each result is the event's decision or the error that event alone met (an error given
        in place of an event is that event's answer), in the order given; each decision is the
        one the event would have had alone, in that order. An event that fails inside the store
        fails alone: the transaction is decided again without it (see :meth:`_isolated`).
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

    # ------------------------------------------------------------------ the one path

    def decide(
        self,
        tx: UnitOfWork,
        event: UsageEvent,
        now: datetime,
        hold: HoldRequest | None = None,
        *,
        found: list[tuple[str, Notice]] | None = None,
        position: int = 0,
    ) -> Decision:
        """Decide and record one event inside an open transaction: plan, apply, classify.

        What the admission fires (alerts, D25; events) is written in the same transaction: at
        once, or, when ``found`` is given (a batch), added to it at the event's ``position`` for
        the batch to write in its events' order.
        """
        if event.requires:
            refused = self.feature_refusal(tx, event, now)
            if refused is not None:
                return refused
        key = validate_idempotency_key(event.idempotency_key)
        fingerprint = (
            "" if key is None else request_hash(event, "consume" if hold is None else "hold")
        )
        planned = self.plans.get(event, now) if hold is None else None
        cached = planned is not None
        if planned is None:
            planned = self.plan(tx, event, now, hold=hold is not None)
        else:
            validate_quantity(planned.catalog, event.meter, event.quantity)
        validate_transaction(planned.catalog, event.meter, event.quantity, event.amount, event.byok)
        swept = False
        for _ in range(_ATTEMPTS):
            held = None if hold is None else new_hold(planned, event, now, hold.ttl)
            steps = (
                planned.steps(event.quantity)
                if held is None
                else planned.plan.steps(event.quantity)
            )
            admission: Admission[Decision] = Admission(
                event.account_id,
                steps,
                planned.version if cached or not planned.verified else None,
                _answer(planned, event.quantity, now, held),
                (None if key is None else KeyRecord(key, fingerprint),),
                now,
                () if held is not None else self.marks(planned, event),
            )
            outcome = tx.counters.apply(admission)
            if isinstance(outcome, Applied):
                if held is not None:
                    tx.reservations.insert(held)
                else:
                    if not cached:
                        self.plans.learn(event, planned)
                    notices = self.notices(
                        tx, event.account_id, planned, outcome.totals, [(position, event.quantity)]
                    )
                    self._write(tx, event.account_id, notices, now, found)
                decision: Decision = outcome.answers[0]
                return decision
            if isinstance(outcome, Stale):
                self.ctx.forget(event.account_id)
                planned, cached = (
                    self.plan(tx, event, now, hold=hold is not None, fresh=True),
                    False,
                )
                continue
            if isinstance(outcome, Refused):
                if not swept:
                    swept = True
                    if sweep(tx, event.account_id, now):
                        continue  # lapsed holds were released: decide once more
                # A retry of an admitted request replays its answer even at the limit (D7).
                stored = None if key is None else tx.idempotency.get(event.account_id, key)
                replayed = self._replayed(tx, event, key, fingerprint, stored, now)
                if replayed is not None:
                    return replayed
                plan = planned.plan
                if planned.priced and hold is None and outcome.position == len(steps) - 1:
                    return self._over_budget(
                        tx, event, planned, outcome.totals, now, found, position
                    )
                return classify_refused(
                    plan,
                    plan.scopes[outcome.position],
                    outcome.totals,
                    now,
                    quantity=event.quantity,
                )
            # Another request stored this key first: answer with its decision, unless it lapsed
            # (its record is gone now, and this request is decided anew).
            stored = outcome.stored.get(key or "")
            replayed = self._replayed(tx, event, key, fingerprint, stored, now)
            if replayed is not None:
                return replayed
        raise AssertionError("unreachable: every cause of another attempt happens once")

    def notices(
        self,
        tx: UnitOfWork,
        account_id: str,
        planned: Planned,
        totals: tuple[Totals[Any], ...],
        events: Sequence[tuple[int, int]],
    ) -> list[tuple[str, Notice]]:
        """What admitted events (position, quantity) fired, from the totals of their call."""
        watcher = self.alerts.watcher
        watch = watcher.watch(tx, account_id, planned.version)
        total = events[0][1] if len(events) == 1 else sum(quantity for _, quantity in events)
        reached = totals[0].used
        if watcher.quiet(watch, planned, reached - total, reached):
            return []  # most admissions: nothing watched, no limit crossed
        primary = planned.plan.primary
        step = Step(planned.plan.item, ACCOUNT_SCOPE, "", total, 0, None, primary.overage_from)
        first = increment_before(step, totals[0])
        charges = totals[-1].used if planned.priced else None
        found = self.alerts.watcher.notices(watch, planned, first, totals[0], events, charges)
        return [(account_id, notice) for notice in found]

    def _write(
        self,
        tx: UnitOfWork,
        account_id: str,
        notices: list[tuple[str, Notice]],
        now: datetime,
        found: list[tuple[str, Notice]] | None,
    ) -> None:
        if not notices:
            return
        if found is None:
            self.alerts.watcher.record(tx, notices, now)
        else:
            found.extend(notices)

    def _over_budget(
        self,
        tx: UnitOfWork,
        event: UsageEvent,
        planned: Planned,
        charges: Totals[Any],
        now: datetime,
        found: list[tuple[str, Notice]] | None,
        position: int,
    ) -> Decision:
        """A hard budget refused the request (D26): 402 ``budget_exceeded``, nothing counted;
        ``budget.exceeded`` is announced at the period's first such refusal."""
        terms = planned.charges
        assert terms is not None
        assert terms.budget is not None
        plan = planned.plan
        counter = tx.counters.totals(event.account_id, plan.item, ACCOUNT_SCOPE, plan.period_key)
        actual = terms.fee + charges.used
        budget = terms.budget.amount
        currency = planned.catalog.currency
        notice = BudgetRefused(position, terms.budget, actual, currency, plan.period_key)
        self._write(tx, event.account_id, [(event.account_id, notice)], now, found)
        primary = plan.primary.terms
        assert primary is not None
        return Decision(
            allowed=False,
            code=DecisionCode.BUDGET_EXCEEDED,
            http_status=402,
            meter=plan.item,
            quantity=event.quantity,
            used=counter.used,
            held=counter.held,
            limit=primary.limit,
            hard_limit=primary.hard_limit,
            remaining=None if primary.limit is None else max(0, primary.limit - counter.used),
            overage_units=0,
            warnings=(),
            as_of=now,
            period=plan.period_key,
            scope=ACCOUNT_SCOPE,
            message=(
                f"{plan.item}: {event.quantity} more would take the period's charges past the "
                f"budget of {budget} {currency} (charges so far {actual})"
            ),
            period_end=plan.period_end,
            extra={"budget": str(budget), "charges": str(actual)},
        )

    def marks(self, planned: Planned, event: UsageEvent) -> tuple[UsageMark, ...]:
        """What an admitted consumption adds to the history (D27), if the engine keeps one; a
        transaction's amount is kept either way, as period close rates it."""
        if not self.ctx.usage_history and event.amount is None:
            return ()
        quantity = event.quantity if self.ctx.usage_history else 0
        return (
            UsageMark(
                event.meter,
                event.project_id,
                quantity,
                event.byok,
                event.amount,
                planned.plan.period_key,
            ),
        )

    def _replayed(
        self,
        tx: UnitOfWork,
        event: UsageEvent,
        key: str | None,
        fingerprint: str,
        stored: StoredDecision | None,
        now: datetime,
    ) -> Decision | None:
        if key is None or stored is None:
            return None
        return self.replay(tx, event.account_id, key, fingerprint, stored, now)

    def feature_refusal(self, tx: UnitOfWork, event: UsageEvent, now: datetime) -> Decision | None:
        """The refusal of an event whose tier lacks a feature it requires (C3), or None.

        Decided on the account's state as of this transaction, before anything is applied:
        a refused request records nothing, and its key stays free.
        """
        state = self.ctx.state(tx, event.account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        required = validate_required(catalog, event.requires)
        return required_refusal(catalog, state, required, event.meter, event.quantity, now)

    def plan(
        self,
        tx: UnitOfWork,
        event: UsageEvent,
        now: datetime,
        *,
        hold: bool = False,
        fresh: bool = False,
    ) -> Planned:
        """Plan ``event`` on the account's state: from the cache (the store then checks its
        version), or as of this transaction with ``fresh``."""
        if fresh:
            state, verified = self.ctx.state(tx, event.account_id), True
        else:
            state, verified = self.ctx.cached_state(tx, event.account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        try:
            validate_meter(catalog, event.meter)
            validate_quantity(catalog, event.meter, event.quantity)
            validate_project(state, event.project_id)
        except MeterstackError:
            if not verified and tx.accounts.version(state.account_id) != state.version:
                self.ctx.forget(event.account_id)
                return self.plan(tx, event, now, hold=hold, fresh=True)
            raise
        period = self.ctx.period(catalog, state, now)
        charges = None
        if not hold:
            watch = self.alerts.watcher.watch(tx, state.account_id, state.version)
            charges = self.alerts.charges_terms(tx, watch, catalog, state, event.meter, period)
        plan = plan_request(
            catalog,
            state,
            event.meter,
            event.quantity,
            period_key=period.key,
            period_end=period.end,
            project_id=event.project_id,
            key_quota=key_quota(tx, state, event, hold=hold),
            hold=hold,
        )
        return Planned(plan, catalog, period, state.version, verified, state.pending_at, charges)

    # ------------------------------------------------------------------ idempotency (D7)

    def replay(
        self,
        tx: UnitOfWork,
        account_id: str,
        key: str,
        request_hash: str,
        record: StoredDecision,
        now: datetime,
    ) -> Decision | None:
        """The stored decision to answer with; None (and the record gone) if it lapsed."""
        if record.created_at < now - self.ctx.idempotency_retention:
            tx.idempotency.delete(account_id, key)
            return None
        if record.request_hash != request_hash:
            raise IdempotencyKeyReusedError(
                f"idempotency key {key!r} was already used for a different request",
                idempotency_key=key,
            )
        return Decision.decode(record.decision, replayed=True)

    def purge_idempotency_keys(self, window: int = PURGE_WINDOW) -> int:
        """Delete the keys older than the retention (D7), ``window`` keys per transaction;
        how many went."""
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise InvalidInputError("the purge window must be at least one key", field="window")
        before = self.ctx.now() - self.ctx.idempotency_retention
        purged, after = 0, None
        while True:
            with self.ctx.store.transaction() as tx:
                swept = tx.idempotency.purge(before, after, window)
            purged += swept.deleted
            after = swept.last
            if after is None:
                return purged

    # ------------------------------------------------------------------ check

    @decided_again_on_conflict
    def check(self, event: UsageEvent) -> Decision:
        """The decision ``consume`` would make now; nothing is recorded.

        The same plan as ``consume``, and the rules' own :func:`advance` on the counters as
        they stand in place of the store's conditional write.
        """
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            refused = self.feature_refusal(tx, event, now) if event.requires else None
            if refused is not None:
                return refused
            planned = self.plan(tx, event, now, fresh=True)
            sweep(tx, event.account_id, now)
            plan, steps = planned.plan, planned.plan.steps()
            current = [
                tx.counters.totals(event.account_id, step.item, step.scope, step.period)
                for step in steps
            ]
            reached = advance(steps, current)
            if isinstance(reached, int):
                return classify_refused(plan, plan.scopes[reached], current[reached], now)
            return classify_admitted(plan, reached[0], now, planned.near_limit_percent)

    # ------------------------------------------------------------------ holds (D6, C6)

    @decided_again_on_conflict
    def reserve(self, event: UsageEvent, ttl: timedelta | None) -> Decision:
        """Hold ``quantity`` against the limits until committed, released or lapsed."""
        with self.ctx.store.transaction() as tx:
            return self.decide(tx, event, self.ctx.now(), HoldRequest(ttl))


def new_hold(
    planned: Planned, event: UsageEvent, now: datetime, ttl: timedelta | None
) -> ReservationRow:
    """The row of a hold about to be placed (D6), its time to live capped by the meter (C6)."""
    return ReservationRow(
        id=new_id("rsv"),
        account_id=event.account_id,
        item=event.meter,
        period=planned.plan.period_key,
        project_id=event.project_id,
        quantity=event.quantity,
        status="open",
        created_at=now,
        expires_at=now + hold_ttl(planned.catalog, event.meter, ttl),
        committed_quantity=None,
    )


def _answer(
    planned: Planned, quantity: int, now: datetime, hold: ReservationRow | None
) -> Callable[[tuple[Totals[int], ...]], tuple[Decision]]:
    """How the store names an admitted request: the rules' classification (and its hold)."""
    plan, near = planned.plan, planned.near_limit_percent

    def answer(totals: tuple[Totals[int], ...]) -> tuple[Decision]:
        decision = classify_admitted(plan, totals[0], now, near, quantity=quantity)
        if hold is not None:
            decision = decision.but(
                reservation_id=hold.id,
                extra={**decision.extra, "expires_at": hold.expires_at.isoformat()},
            )
        return (decision,)

    return answer
