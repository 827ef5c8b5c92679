"""Batches of usage events: each decided as if it came alone, in the given order, with a few
statements for the whole batch.

Events on the same account and meter form a group: they share its account-wide counter, and
no event of another group touches their counters. A group is admitted by one call of the store
(``Counters.apply``) whose steps are the sum of its events' steps, per scope: the account's
total, each project's, each API key's. Every quantity is positive, so when the totals fit, so
did every event at its turn, and each event's decision follows from the running totals
(``rules.admission.classify_admitted`` with the event's quantity), exactly as if they had come
one by one. When the totals do not fit, the group's events are decided one by one
(``Metering.decide``). The idempotency records are written by the same call, one statement for
the group; a key stored before answers ``Taken`` (nothing applied) and its event replays the
stored decision while the rest of the group is applied again without it. A key repeated inside
the batch is answered by its first event, and a key that two groups share sends both groups one
by one, in the order given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from typing import Any, NamedTuple, Protocol

from meterstack.errors import IdempotencyKeyReusedError, MeterstackError
from meterstack.rules.admission import ACCOUNT_SCOPE, Step, Totals, classify_admitted
from meterstack.rules.decisions import Decision
from meterstack.rules.history import UsageMark
from meterstack.services.alerts.service import Alerts
from meterstack.services.alerts.watch import Notice
from meterstack.services.context import ServiceContext
from meterstack.services.events import UsageEvent, request_hash
from meterstack.services.express import Planned, Plans
from meterstack.services.transactions import validate_transaction
from meterstack.services.validation import validate_idempotency_key, validate_quantity
from meterstack.store.ports import Admission, Applied, KeyRecord, Stale, Taken, UnitOfWork
from meterstack.store.rows import StoredDecision

Result = Decision | MeterstackError


class EventPath(Protocol):
    """What the batch asks of the one path it batches (``services.metering.Metering``): the
    planning, the feature check, the history marks and the replay of one event, and the whole
    decision of one event for those it does not admit together."""

    @property
    def ctx(self) -> ServiceContext: ...

    @property
    def plans(self) -> Plans: ...

    @property
    def alerts(self) -> Alerts: ...

    def decide(
        self,
        tx: UnitOfWork,
        event: UsageEvent,
        now: datetime,
        *,
        found: list[tuple[str, Notice]] | None = None,
        position: int = 0,
    ) -> Decision: ...

    def notices(
        self,
        tx: UnitOfWork,
        account_id: str,
        planned: Planned,
        totals: tuple[Totals[Any], ...],
        events: Sequence[tuple[int, int]],
    ) -> list[tuple[str, Notice]]:
        """What admitted events (position, quantity) fired (D25), from their call's totals."""
        ...

    def feature_refusal(
        self, tx: UnitOfWork, event: UsageEvent, now: datetime
    ) -> Decision | None: ...

    def plan(
        self, tx: UnitOfWork, event: UsageEvent, now: datetime, *, fresh: bool = False
    ) -> Planned: ...

    def marks(self, planned: Planned, event: UsageEvent) -> tuple[UsageMark, ...]: ...

    def replay(
        self,
        tx: UnitOfWork,
        account_id: str,
        key: str,
        request_hash: str,
        record: StoredDecision,
        now: datetime,
    ) -> Decision | None: ...


class _Pending(NamedTuple):
    #: The event's place in the batch, and in the answer.
    position: int
    event: UsageEvent
    request_hash: str
    planned: Planned
    #: (account, meter): the counters this event shares with the others of its group.
    group: tuple[str, str]
    #: The plan came from the cache of plans: its account version is checked by the store.
    cached: bool
    #: The earlier event of the batch with the same key (its place and fingerprint), which
    #: answers for this one.
    first: int | None = None
    first_hash: str = ""


def consume_batch(
    metering: EventPath, tx: UnitOfWork, events: Sequence[UsageEvent], now: datetime
) -> list[Result]:
    results: list[Result | None] = [None] * len(events)
    pending = _planned(metering, tx, events, now, results)
    pending = _marked_repeats(pending)
    tangled = _tangled(pending)
    ordered = sorted((item for item in pending if item.group not in tangled), key=_group_of)
    # What the events fire (D25), written once every group is decided, in the events' order.
    found: list[tuple[str, Notice]] = []
    for _, group in groupby(ordered, key=_group_of):
        _decide_group(metering, tx, list(group), results, now, found)
    for item in pending:  # groups sharing a key with another: one by one, in order
        if item.group in tangled:
            results[item.position] = _alone(metering, tx, item, now, found)
    if found:
        metering.alerts.watcher.record(tx, found, now)
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def _group_of(item: _Pending) -> tuple[str, str]:
    return item.group


def _planned(
    metering: EventPath,
    tx: UnitOfWork,
    events: Sequence[UsageEvent],
    now: datetime,
    results: list[Result | None],
) -> list[_Pending]:
    """Every event checked and planned, or answered with its error; one plan per route."""
    routes: dict[tuple[str, str, str | None, str | None], tuple[Planned, bool]] = {}
    pending: list[_Pending] = []
    for index, event in enumerate(events):
        route = (event.account_id, event.meter, event.project_id, event.api_key_id)
        try:
            # Decided as a lone consume decides it: before its plan, on the state as of now.
            refused = metering.feature_refusal(tx, event, now) if event.requires else None
            if refused is not None:
                results[index] = refused
                continue
            planned, cached = routes.get(route) or (metering.plans.get(event, now), True)
            if planned is None:  # in the order a single consume checks them
                planned, cached = metering.plan(tx, event, now, fresh=True), False
            else:
                validate_quantity(planned.catalog, event.meter, event.quantity)
            routes[route] = planned, cached
            validate_idempotency_key(event.idempotency_key)
            validate_transaction(
                planned.catalog, event.meter, event.quantity, event.amount, event.byok
            )
        except MeterstackError as error:
            results[index] = error
            continue
        fingerprint = request_hash(event, "consume")
        group = (event.account_id, event.meter)
        pending.append(_Pending(index, event, fingerprint, planned, group, cached))
    return pending


def _replanned(
    metering: EventPath,
    tx: UnitOfWork,
    items: list[_Pending],
    now: datetime,
    results: list[Result | None],
) -> list[_Pending]:
    """The items planned again as of this transaction (their cached plans were stale, or of
    different versions); an event whose plan now fails answers with its error."""
    plans: dict[int, Planned | MeterstackError] = {}
    again: list[_Pending] = []
    for item in items:
        planned = plans.get(id(item.planned))
        if planned is None:
            try:
                planned = metering.plan(tx, item.event, now, fresh=True)
            except MeterstackError as error:
                planned = error
            plans[id(item.planned)] = planned
        if isinstance(planned, MeterstackError):
            results[item.position] = planned
        else:
            again.append(item._replace(planned=planned, cached=False))
    return again


def _marked_repeats(pending: list[_Pending]) -> list[_Pending]:
    """The events, each repeat of a key in the batch marked with the first event of that key.

    A key stored before the batch is not looked up here: the store answers ``Taken`` for it
    when its group is applied, and its event replays the stored decision.
    """
    first_of: dict[tuple[str, str], _Pending] = {}
    marked: list[_Pending] = []
    for item in pending:
        key = item.event.idempotency_key
        if key is None:
            marked.append(item)
            continue
        first = first_of.setdefault((item.event.account_id, key), item)
        marked.append(item if first is item else _repeat(item, first))
    return marked


def _repeat(item: _Pending, first: _Pending) -> _Pending:
    return item._replace(first=first.position, first_hash=first.request_hash)


def _tangled(pending: list[_Pending]) -> set[tuple[str, str]]:
    """The groups that share an idempotency key with another group."""
    groups: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for item in pending:
        if item.event.idempotency_key is not None:
            name = (item.event.account_id, item.event.idempotency_key)
            groups.setdefault(name, set()).add(item.group)
    return {group for shared in groups.values() if len(shared) > 1 for group in shared}


def _decide_group(
    metering: EventPath,
    tx: UnitOfWork,
    group: list[_Pending],
    results: list[Result | None],
    now: datetime,
    found: list[tuple[str, Notice]],
) -> None:
    """Admit a group by its totals, or decide its events one by one when they do not fit."""
    if any(item.cached for item in group) and len({item.planned.version for item in group}) > 1:
        group = _replanned(metering, tx, group, now, results)  # plans of different versions
    fresh = [item for item in group if item.first is None]
    while fresh:
        version = next((item.planned.version for item in fresh if item.cached), None)
        outcome = tx.counters.apply(_admission(metering, fresh, now, version))
        if isinstance(outcome, Stale):  # the cached plans were stale: plan again, as of now
            metering.ctx.forget(fresh[0].event.account_id)
            group = _replanned(metering, tx, group, now, results)
            fresh = [item for item in group if item.first is None]
            continue
        if isinstance(outcome, Taken):
            # Another request stored some keys first: those events answer with its decisions,
            # and the rest of the group is admitted without them.
            fresh = _answer_taken(metering, tx, fresh, outcome, results, now)
            continue
        if not isinstance(outcome, Applied):  # a bound refused: one by one, in order
            for item in group:
                if results[item.position] is None:
                    results[item.position] = _alone(metering, tx, item, now, found)
            return
        for item, decision in zip(fresh, outcome.answers, strict=True):
            results[item.position] = decision
        events = [(item.position, item.event.quantity) for item in fresh]
        found += metering.notices(
            tx, fresh[0].event.account_id, fresh[0].planned, outcome.totals, events
        )
        for item in fresh:
            if not item.cached:
                metering.plans.learn(item.event, item.planned)
        break
    for item in group:
        if item.first is not None:
            first = results[item.first]
            if isinstance(first, Decision) and first.allowed:
                results[item.position] = _answer_repeat(item, first)
            else:  # its first event met a stored key and did not count: decide it alone
                results[item.position] = _alone(metering, tx, item, now, found)


def _admission(
    metering: EventPath, fresh: list[_Pending], now: datetime, version: int | None
) -> Admission[Decision]:
    """One admission for the group: per scope, the sum of its events' steps; ``version`` is
    the account version of cached plans, for the store to check."""
    routes: dict[int, tuple[Planned, int]] = {}  # one plan per route: its events' total
    for item in fresh:
        planned, total = routes.get(id(item.planned), (item.planned, 0))
        routes[id(planned)] = planned, total + item.event.quantity
    steps: tuple[Step[Any], ...]
    if len(routes) == 1:  # one route (a project, a key): its plan's steps for the total, kept
        planned, total = next(iter(routes.values()))
        steps = planned.steps(total)  # with the charges step when priced (D26)
    else:
        merged: dict[str, Step[int]] = {}
        for planned, total in routes.values():
            for step in planned.plan.steps(total):
                seen = merged.get(step.scope)
                merged[step.scope] = step if seen is None else _summed(seen, step)
        # The account's scope first, then the rest in one order every batch keeps.
        steps = (
            merged[ACCOUNT_SCOPE],
            *(merged[scope] for scope in sorted(merged) if scope != ACCOUNT_SCOPE),
        )
        charges = fresh[0].planned.charges
        if charges is not None and fresh[0].planned.priced:  # D26, from the account's totals
            steps = (*steps, charges.step)
    quantities = [item.event.quantity for item in fresh]

    def answer(totals: tuple[Totals[int], ...]) -> list[Decision]:
        account = totals[0]
        used = account.used - sum(quantities)
        decisions = []
        for item, quantity in zip(fresh, quantities, strict=True):
            used += quantity
            decisions.append(
                classify_admitted(
                    item.planned.plan,
                    Totals(used, account.held, 0),
                    now,
                    item.planned.near_limit_percent,
                    quantity=quantity,
                )
            )
        return decisions

    return Admission(
        fresh[0].event.account_id,
        steps,
        version,
        answer=answer,
        records=tuple(
            None
            if item.event.idempotency_key is None
            else KeyRecord(item.event.idempotency_key, item.request_hash)
            for item in fresh
        ),
        at=now,
        usage=_marks(metering, fresh),
    )


def _marks(metering: EventPath, fresh: list[_Pending]) -> tuple[UsageMark, ...]:
    """The group's usage for the history (D27), summed per project and key kind before the
    store sums them per bucket (the same buckets either way); transactions one by one."""
    keep = metering.ctx.usage_history
    summed: dict[tuple[str | None, bool], int] = {}
    marks: list[UsageMark] = []
    for item in fresh:
        event = item.event
        if event.amount is not None:
            marks.extend(metering.marks(item.planned, event))
        elif keep:
            key = (event.project_id, event.byok)
            summed[key] = summed.get(key, 0) + event.quantity
    if summed:
        meter, period = fresh[0].event.meter, fresh[0].planned.plan.period_key
        marks += [
            UsageMark(meter, project, quantity, byok, None, period)
            for (project, byok), quantity in summed.items()
        ]
    return tuple(marks)


def _summed(seen: Step[int], step: Step[int]) -> Step[int]:
    """Two events' steps on one counter as one: their quantities added (the same bound)."""
    assert (seen.bound, seen.overage_from) == (step.bound, step.overage_from)
    return Step(
        step.item,
        step.scope,
        step.period,
        seen.quantity + step.quantity,
        0,
        step.bound,
        step.overage_from,
    )


def _answer_taken(
    metering: EventPath,
    tx: UnitOfWork,
    fresh: list[_Pending],
    taken: Taken,
    results: list[Result | None],
    now: datetime,
) -> list[_Pending]:
    """Answer the events whose key was taken meanwhile; the events still to admit."""
    remaining = []
    for item in fresh:
        key = item.event.idempotency_key
        record = None if key not in taken.keys else taken.stored.get(key or "")
        if record is None:
            remaining.append(item)
            continue
        try:
            replayed = metering.replay(
                tx, item.event.account_id, key or "", item.request_hash, record, now
            )
        except IdempotencyKeyReusedError as error:
            results[item.position] = error
            continue
        if replayed is None:
            remaining.append(item)  # it lapsed and is gone: admit this one after all
        else:
            results[item.position] = replayed
    return remaining


def _answer_repeat(item: _Pending, first: Decision) -> Result:
    """A key's later event in the batch: the admitted first event's decision, replayed (D7)."""
    if item.request_hash == item.first_hash:
        return first.but(replayed=True)
    return IdempotencyKeyReusedError(
        f"idempotency key {item.event.idempotency_key!r} was already used for a different request",
        idempotency_key=item.event.idempotency_key,
    )


def _alone(
    metering: EventPath,
    tx: UnitOfWork,
    item: _Pending,
    now: datetime,
    found: list[tuple[str, Notice]],
) -> Result:
    try:
        return metering.decide(tx, item.event, now, found=found, position=item.position)
    except MeterstackError as error:
        return error
