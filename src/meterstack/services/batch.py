"""Batches of usage events: each decided on its own, with a few statements for the whole batch.

Events on the same account, meter and project form a group. The group is admitted by one
conditional increment per scope for its total quantity; when the total fits, every event's own
decision follows from the running total, exactly as if they had come one by one in the given
order. When it does not fit, the group is decided event by event. Idempotency records are read
and written with one statement per account. Admission still happens only in the conditional
increments; nothing is decided from a snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING, NamedTuple

from meterstack.catalog.schema import Catalog
from meterstack.errors import IdempotencyKeyReusedError, MeterstackError
from meterstack.rules.admission import Totals, classify_admitted, overage_delta, plan_request
from meterstack.rules.decisions import Decision
from meterstack.services.validation import (
    key_quota,
    validate_idempotency_key,
    validate_meter,
    validate_project,
    validate_quantity,
)
from meterstack.store.sql import Transaction

if TYPE_CHECKING:
    from meterstack.services.metering import Metering, UsageEvent

Result = Decision | MeterstackError


class _Pending(NamedTuple):
    #: The event's place in the batch, and in the answer.
    position: int
    event: UsageEvent
    request_hash: str


def consume_batch(
    metering: Metering, tx: Transaction, events: Sequence[UsageEvent], now: datetime
) -> list[Result]:
    from meterstack.services.metering import request_hash

    ctx = metering.ctx
    results: list[Result | None] = [None] * len(events)
    pending: list[_Pending] = []
    # The catalog of each (account, meter, project, API key) already checked in this batch.
    checked: dict[tuple[str, str, str | None, str | None], Catalog] = {}
    for index, event in enumerate(events):
        try:
            route = (event.account_id, event.meter, event.project_id, event.api_key_id)
            catalog = checked.get(route)
            if catalog is None:  # in the order a single consume checks them
                state = ctx.state(tx, event.account_id)
                catalog = ctx.catalog(tx, state.catalog_hash)
                validate_meter(catalog, event.meter)
                validate_quantity(catalog, event.meter, event.quantity)
                validate_project(state, event.project_id)
                validate_idempotency_key(event.idempotency_key)
                key_quota(tx, state, event)
                checked[route] = catalog
            else:
                validate_quantity(catalog, event.meter, event.quantity)
                validate_idempotency_key(event.idempotency_key)
        except MeterstackError as error:
            results[index] = error
            continue
        pending.append(_Pending(index, event, request_hash(event, "consume")))
    pending, repeats = _without_replays(metering, tx, pending, results, now)
    pending.sort(key=_group_key)
    admitted: list[tuple[_Pending, Decision, int, tuple[str, ...]]] = []
    for _, group in groupby(pending, key=_group_key):
        admitted += _decide_group(metering, tx, list(group), results, now)
    _remember(metering, tx, admitted, results, now)
    # A key repeated inside the batch: its first event is stored now, so the rest replay it.
    for item in repeats:
        try:
            results[item.position] = metering.decide(tx, item.event, now)
        except MeterstackError as error:
            results[item.position] = error
    return [result for result in results if result is not None]


def _group_key(item: _Pending) -> tuple[str, str, str, str]:
    event = item.event
    return (event.account_id, event.meter, event.project_id or "", event.api_key_id or "")


def _without_replays(
    metering: Metering,
    tx: Transaction,
    pending: list[_Pending],
    results: list[Result | None],
    now: datetime,
) -> tuple[list[_Pending], list[_Pending]]:
    """Answer the events whose key was already used; the rest, and the in-batch repeats.

    A key repeated inside the batch is decided once: its later events wait for the first.
    """
    keyed: dict[str, list[_Pending]] = {}
    for item in pending:
        if item.event.idempotency_key is not None:
            keyed.setdefault(item.event.account_id, []).append(item)
    taken: dict[tuple[str, str], tuple[str, str, datetime]] = {}
    for account_id, items in keyed.items():
        keys = sorted({item.event.idempotency_key or "" for item in items})
        for stored_key, stored in tx.idempotency_many(account_id, keys).items():
            taken[account_id, stored_key] = stored
    remaining: list[_Pending] = []
    repeats: list[_Pending] = []
    first_of_key: set[tuple[str, str]] = set()
    for item in pending:
        key = item.event.idempotency_key
        if key is None:
            remaining.append(item)
            continue
        record = taken.get((item.event.account_id, key))
        if record is not None:
            try:
                replayed = metering.replay(
                    tx, item.event.account_id, key, item.request_hash, record, now
                )
            except IdempotencyKeyReusedError as error:
                results[item.position] = error
                continue
            if replayed is not None:
                results[item.position] = replayed
                continue
        if (item.event.account_id, key) in first_of_key:
            repeats.append(item)
            continue
        first_of_key.add((item.event.account_id, key))
        remaining.append(item)
    return remaining, repeats


def _decide_group(
    metering: Metering,
    tx: Transaction,
    group: list[_Pending],
    results: list[Result | None],
    now: datetime,
) -> list[tuple[_Pending, Decision, int, tuple[str, ...]]]:
    """Admit a group by its total, or decide its events one by one when the total does not fit."""
    ctx = metering.ctx
    first = group[0].event
    state = ctx.state(tx, first.account_id)
    catalog = ctx.catalog(tx, state.catalog_hash)
    total = sum(item.event.quantity for item in group)
    period = ctx.period(catalog, state, now)
    plan = plan_request(
        catalog,
        state,
        first.meter,
        total,
        period_key=period.key,
        period_end=period.end,
        project_id=first.project_id,
        key_quota=key_quota(tx, state, first),
    )
    outcome = metering.admit(tx, plan, state, now, hold=False)
    if isinstance(outcome, tuple):
        for item in group:
            try:
                results[item.position] = metering.decide(tx, item.event, now)
            except MeterstackError as error:
                results[item.position] = error
        return []
    account = outcome[0]
    used = account.after.used - total
    scopes = tuple(bound.scope for bound in plan.scopes)
    decided: list[tuple[_Pending, Decision, int, tuple[str, ...]]] = []
    for item in group:
        quantity = item.event.quantity
        used += quantity
        overage = overage_delta(account.bound, used, quantity)
        decision = classify_admitted(
            plan,
            Totals(used, account.after.held, 0),
            overage,
            now,
            catalog.policies.near_limit_percent,
            quantity=quantity,
        )
        results[item.position] = decision
        decided.append((item, decision, overage, scopes))
    return decided


def _remember(
    metering: Metering,
    tx: Transaction,
    admitted: list[tuple[_Pending, Decision, int, tuple[str, ...]]],
    results: list[Result | None],
    now: datetime,
) -> None:
    """Store the admitted decisions under their keys; a key taken meanwhile undoes its event."""
    by_account: dict[str, list[tuple[_Pending, Decision, int, tuple[str, ...]]]] = {}
    for entry in admitted:
        if entry[0].event.idempotency_key is not None:
            by_account.setdefault(entry[0].event.account_id, []).append(entry)
    for account_id, entries in sorted(by_account.items()):
        rows = [
            (item.event.idempotency_key or "", item.request_hash, decision.encode())
            for item, decision, _, _ in entries
        ]
        stored = tx.save_idempotency_many(account_id, rows, now)
        for item, decision, overage, scopes in entries:
            if (item.event.idempotency_key or "") not in stored:
                results[item.position] = metering.lost_race(
                    tx, item.event, decision, overage, item.request_hash, now, scopes
                )
