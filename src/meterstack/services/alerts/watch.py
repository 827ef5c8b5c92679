"""What an admission's totals fire (D25, D26), and its record, in the admission's transaction.

An admission that counted units hands the totals its one ``Counters.apply`` call returned to
:meth:`Watcher.notices`: the rules say which thresholds the change crossed
(``rules.alerts``), and :meth:`Watcher.record` writes each alert's state and its event to the
outbox (``services.webhooks.outbox.publish``) in the same transaction, so an alert is exactly as
durable as the usage that fired it. An account with no alerts, no budget and a catalog without
default thresholds pays a dictionary look-up and a few comparisons: what it watches is cached per
account version (:meth:`Watcher.watch`), and every change of its alerts or budget moves the
version, as any change of its terms does.

The first admission of a meter in a new period resolves the alerts of the period before
(``resolved_at`` = the period's start), unless the period close came first. A batch's group
is evaluated event by event from its totals, so it fires what its events would have fired one
by one, in the same order.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterstack.catalog.schema import Catalog
from meterstack.money import round_money
from meterstack.records.alerts import AlertState
from meterstack.rules.admission import Totals, reached
from meterstack.rules.alerts import (
    Alert,
    AlertKind,
    Crossing,
    balance_crossings,
    budget_alert_id,
    budget_alerts,
    catalog_alerts,
    crossed,
    crossing_events,
    money_crossings,
    usage_thresholds,
)
from meterstack.rules.budget import Budget, BudgetMode, percent_of
from meterstack.services.express import Planned
from meterstack.services.webhooks.catalogue import UsageLimitReached
from meterstack.services.webhooks.outbox import publish
from meterstack.store.ports import UnitOfWork

#: Watches kept per engine; past this many the oldest half is forgotten.
MAX_WATCHES = 50_000
#: Thresholds kept per watch: one entry per meter and limit it met.
MAX_MEMO = 1024
#: Catalogs whose default alerts are kept; past this many all are made again.
MAX_CATALOGS = 256
_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Watch:
    """What one account watches, as of one account version."""

    alerts: tuple[Alert, ...] = ()
    budget: Budget | None = None
    usage: dict[str, tuple[Alert, ...]] = field(default_factory=dict)
    #: Charges alerts: the account's own, and a budget's warnings at 75/90/100 %.
    money: tuple[Alert, ...] = ()
    balance: tuple[Alert, ...] = ()
    #: Usage thresholds by (meter, limit, hard limit, catalog defaults), made once each
    #: (:meth:`Watcher.thresholds`).
    memo: dict[tuple[Any, ...], tuple[tuple[int, Alert], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, alerts: Sequence[Alert], budget: Budget | None) -> Watch:
        usage: dict[str, list[Alert]] = {}
        money: list[Alert] = []
        balance: list[Alert] = []
        for alert in alerts:
            if alert.meter is not None:
                usage.setdefault(alert.meter, []).append(alert)
            elif alert.kind is AlertKind.CURRENT_CHARGES:
                money.append(alert)
            elif alert.kind is AlertKind.WALLET_BALANCE:
                balance.append(alert)
        if budget is not None:
            money.extend(budget_alerts(budget.amount))
        return cls(
            tuple(alerts),
            budget,
            {meter: tuple(found) for meter, found in usage.items()},
            tuple(money),
            tuple(balance),
        )

    @property
    def tracks_charges(self) -> bool:
        """Whether the account keeps the period's charges in a counter (D26)."""
        return bool(self.money)

    @property
    def empty(self) -> bool:
        return not self.alerts and self.budget is None

    def fire(self, position: int, crossing: Crossing, period: str, currency: str) -> Fire:
        """The notice of a charges crossing: a soft budget's 100 % is also its excess."""
        soft = self.budget is not None and self.budget.mode is BudgetMode.SOFT
        exceeded = soft and crossing.alert.id == budget_alert_id(_HUNDRED)
        return Fire(position, crossing, period, _money(crossing), currency, exceeded)


NOTHING = Watch()


@dataclass(frozen=True, slots=True)
class Fire:
    """An alert whose threshold a change crossed: fired if armed."""

    position: int
    crossing: Crossing
    period: str
    #: What the event's ``value`` says: a percentage of the limit, units or money.
    shown: str
    currency: str
    #: A soft budget's 100 %: also ``budget.exceeded`` (a hard one announces its refusal).
    exceeded: bool = False


@dataclass(frozen=True, slots=True)
class NewPeriod:
    """The first admission of a meter in a period: the alerts of earlier periods resolve."""

    position: int
    period: str
    start: datetime


@dataclass(frozen=True, slots=True)
class LimitReached:
    position: int
    meter: str
    used: int
    limit: int
    period: str


@dataclass(frozen=True, slots=True)
class BudgetRefused:
    """A hard budget refused a request: ``budget.exceeded``, once per period."""

    position: int
    budget: Budget
    amount: Decimal
    currency: str
    period: str


Notice = Fire | NewPeriod | LimitReached | BudgetRefused


class CatalogAlerts:
    """The catalog's default alerts (C8, ``policies.alert_thresholds``) on each of its meters,
    made once per catalog and meter: every watch that meets a new limit, and every listing of
    an account's alerts, takes them from here instead of building the same alerts again."""

    def __init__(self) -> None:
        # By the catalog's id; each entry holds its catalog, so that id names no other
        # catalog for as long as the entry lives.
        self._made: dict[int, tuple[Catalog, dict[str, tuple[Alert, ...]]]] = {}
        self._lock = threading.Lock()

    def on(self, catalog: Catalog, meter: str) -> tuple[Alert, ...]:
        """The catalog's default alerts on ``meter`` (none when it declares no thresholds)."""
        made = self._made.get(id(catalog))
        if made is None:
            with self._lock:
                if len(self._made) >= MAX_CATALOGS:
                    self._made.clear()
                made = self._made.setdefault(id(catalog), (catalog, {}))
        alerts = made[1].get(meter)
        if alerts is None:
            alerts = catalog_alerts(meter, catalog.policies.alert_thresholds)
            made[1][meter] = alerts
        return alerts


class Watcher:
    """The cache of watches and the evaluation of admissions against them."""

    def __init__(self) -> None:
        self._watches: dict[str, tuple[int, Watch]] = {}
        self._lock = threading.Lock()
        self.catalog_alerts = CatalogAlerts()

    def watch(self, tx: UnitOfWork, account_id: str, version: int) -> Watch:
        """What the account watches at ``version`` (read once per version and process)."""
        cached = self._watches.get(account_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        alerts = tx.alerts.of_account(account_id)
        budget = tx.alerts.budget(account_id)
        found = Watch.of(alerts, budget) if alerts or budget is not None else NOTHING
        with self._lock:
            if len(self._watches) >= MAX_WATCHES:
                for stale in list(self._watches)[: MAX_WATCHES // 2]:
                    self._watches.pop(stale, None)
            self._watches[account_id] = (version, found)
        return found

    def forget(self, account_id: str) -> None:
        with self._lock:
            self._watches.pop(account_id, None)

    def thresholds(
        self, watch: Watch, catalog: Catalog, meter: str, limit: int | None, hard: int | None
    ) -> tuple[tuple[int, Alert], ...]:
        """The usage thresholds of ``meter`` under these terms (the catalog's defaults and the
        account's own), made once per terms and watch."""
        defaults = catalog.policies.alert_thresholds
        key = (meter, limit, hard, defaults)
        found = watch.memo.get(key)
        if found is None:
            alerts = watch.usage.get(meter, ())
            if defaults and limit is not None:
                alerts = (*self.catalog_alerts.on(catalog, meter), *alerts)
            if len(watch.memo) >= MAX_MEMO:  # the shared empty watch meets many limits
                watch.memo.clear()
            found = watch.memo[key] = usage_thresholds(alerts, limit, hard)
        return found

    # ------------------------------------------------------------------ admissions

    @staticmethod
    def quiet(watch: Watch, planned: Planned, before: int, after: int) -> bool:
        """Whether events taking the meter's account counter from ``before`` to ``after`` can
        fire nothing: nothing watched, and the limit's crossing (limit_reached) is not here."""
        if not watch.empty or planned.catalog.policies.alert_thresholds:
            return False
        terms = planned.plan.primary.terms
        limit = None if terms is None else terms.limit
        return limit is None or not before < limit <= after

    def notices(
        self,
        watch: Watch,
        planned: Planned,
        first: Totals[int],
        last: Totals[int],
        events: Sequence[tuple[int, int]],
        charges_after: Decimal | None,
    ) -> list[Notice]:
        """What the events (position, quantity), applied in order to the account's counter of
        the meter from ``first`` to ``last``, fire; ``charges_after`` is the charges counter
        they reached."""
        plan = planned.plan
        terms = plan.primary.terms
        assert terms is not None
        limit, hard = terms.limit, terms.hard_limit
        if self.quiet(watch, planned, first.used, first.used + sum(q for _, q in events)):
            return []
        meter, period, currency = plan.item, plan.period_key, planned.catalog.currency
        thresholds = self.thresholds(watch, planned.catalog, meter, limit, hard)
        notices: list[Notice] = []
        if first.used == 0 and (thresholds or not watch.empty):
            notices.append(NewPeriod(events[0][0], period, planned.period.start))
        quantities = [quantity for _, quantity in events]
        used = [first.used]
        for quantity in quantities:
            used.append(used[-1] + quantity)
        # The group's crossings, each at the event whose units reached it (D25).
        for crossing in crossed(thresholds, first.used, used[-1]):
            index = crossing_events(crossing.at, first.used, quantities)
            reached_at = Crossing(crossing.alert, crossing.at, Decimal(used[index + 1]))
            shown = _shown(reached_at, limit)
            notices.append(Fire(events[index][0], reached_at, period, shown, currency))
        if limit is not None and first.used < limit <= used[-1]:
            index = crossing_events(Decimal(limit), first.used, quantities)
            notices.append(LimitReached(events[index][0], meter, used[index + 1], limit, period))
        if planned.priced and charges_after is not None and watch.money:
            notices += self._money_notices(watch, planned, first, last, events, charges_after)
        return notices

    def _money_notices(
        self,
        watch: Watch,
        planned: Planned,
        first: Totals[int],
        last: Totals[int],
        events: Sequence[tuple[int, int]],
        charges_after: Decimal,
    ) -> list[Notice]:
        """The charges alerts the events crossed, each at the event whose lines crossed it."""
        charges = planned.charges
        assert charges is not None
        priced = charges.step.charge
        assert priced is not None
        if priced(first, last) == 0:
            return []  # no invoice line moved: nothing to cross
        step = planned.plan.steps(1)[0]
        totals: list[tuple[int, Totals[int], Totals[int]]] = []
        before = first
        for position, quantity in events:
            after = reached(step._replace(quantity=quantity), before)
            totals.append((position, before, after))
            before = after
        deltas = [priced(b, a) for _, b, a in totals]
        running = charges.fee + charges_after - sum(deltas, Decimal(0))
        period, currency = planned.plan.period_key, planned.catalog.currency
        notices: list[Notice] = []
        for (position, _, _), delta in zip(totals, deltas, strict=True):
            was, running = running, running + delta
            for crossing in money_crossings(watch.money, was, running):
                notices.append(watch.fire(position, crossing, period, currency))
        return notices

    def charge_notices(
        self,
        watch: Watch,
        period: str,
        currency: str,
        charges: tuple[Decimal, Decimal] | None,
        balance: tuple[Decimal, Decimal],
    ) -> list[Notice]:
        """What a wallet charge fires: the period's charges (before, after, fee included) and
        the balance (before, after)."""
        notices: list[Notice] = []
        if charges is not None:
            for crossing in money_crossings(watch.money, *charges):
                notices.append(watch.fire(0, crossing, period, currency))
        for crossing in balance_crossings(watch.balance, *balance):
            notices.append(Fire(0, crossing, "", _money(crossing), currency))
        return notices

    # ------------------------------------------------------------------ the record

    def record(self, tx: UnitOfWork, notices: Sequence[tuple[str, Notice]], now: datetime) -> None:
        """Write the notices (account, notice): states and events, in the order of the events
        that caused them."""
        for account_id, notice in sorted(notices, key=_position):
            if isinstance(notice, NewPeriod):
                states = tx.alerts.resolve(
                    account_id, None, notice.start, "new_period", before_period=notice.period
                )
                for state in states:
                    resolved(tx, account_id, state, "new_period", notice.start)
            elif isinstance(notice, Fire):
                fire(tx, account_id, notice, now)
            elif isinstance(notice, LimitReached):
                publish(
                    tx,
                    "usage.limit_reached",
                    account_id,
                    UsageLimitReached(
                        account_id=account_id,
                        meter=notice.meter,
                        used=notice.used,
                        limit=notice.limit,
                        period=notice.period,
                    ),
                    at=now,
                )
            else:
                refused_once(tx, account_id, notice, now)


def fire(tx: UnitOfWork, account_id: str, notice: Fire, now: datetime) -> bool:
    """Fire an alert if it is armed: its state and ``alert.triggered`` (and, for a budget's
    100 %, ``budget.exceeded``); False when it had fired and not been resolved since."""
    crossing, period = notice.crossing, notice.period
    alert = crossing.alert
    if not tx.alerts.trigger(account_id, alert, period, notice.shown, now):
        return False
    triggered = {
        "alert_id": alert.id,
        "kind": alert.kind.value,
        "meter": alert.meter,
        "threshold": _threshold(alert),
        "value": notice.shown,
        "period": period,
    }
    publish(tx, "alert.triggered", account_id, triggered, at=now)
    if notice.exceeded:
        assert alert.threshold is not None
        exceeded = {
            "mode": BudgetMode.SOFT.value,
            "budget": round_money(alert.threshold, notice.currency),
            "amount": round_money(crossing.value, notice.currency),
            "percent": percent_of(crossing.value, alert.threshold),
            "currency": notice.currency,
            "period": period,
        }
        publish(tx, "budget.exceeded", account_id, exceeded, at=now)
    return True


def refused_once(tx: UnitOfWork, account_id: str, notice: BudgetRefused, now: datetime) -> None:
    """``budget.exceeded`` for a hard budget's first refusal in a period."""
    marker = Alert("budget_refused", AlertKind.CURRENT_CHARGES, None, notice.budget.amount)
    if not tx.alerts.trigger(account_id, marker, notice.period, str(notice.amount), now):
        return
    exceeded = {
        "mode": BudgetMode.HARD.value,
        "budget": round_money(notice.budget.amount, notice.currency),
        "amount": round_money(notice.amount, notice.currency),
        "percent": percent_of(notice.amount, notice.budget.amount),
        "currency": notice.currency,
        "period": notice.period,
    }
    publish(tx, "budget.exceeded", account_id, exceeded, at=now)


def resolved(tx: UnitOfWork, account_id: str, state: AlertState, reason: str, at: datetime) -> None:
    """``alert.resolved`` for a state just resolved."""
    if state.alert_id == "budget_refused":
        return  # the marker of a hard budget's refusal: no alert of the customer's
    data = {
        "alert_id": state.alert_id,
        "kind": state.kind.value,
        "meter": state.meter,
        "threshold": None if state.threshold is None else _plain(state.threshold),
        "period": state.period,
        "reason": reason,
    }
    publish(tx, "alert.resolved", account_id, data, at=at)


def _shown(crossing: Crossing, limit: int | None) -> str:
    alert = crossing.alert
    if alert.kind is AlertKind.USAGE_PERCENT and limit:
        return _plain((crossing.value * 100 / limit).quantize(Decimal("0.1")))
    return _plain(crossing.value)


def _money(crossing: Crossing) -> str:
    return _plain(crossing.value)


def _threshold(alert: Alert) -> str | None:
    return None if alert.threshold is None else _plain(alert.threshold)


def _plain(value: Decimal) -> str:
    """A decimal without trailing zeros: ``75``, ``90.5``, ``0.49``."""
    return format(value.normalize(), "f")


def _position(item: tuple[str, Any]) -> int:
    position: int = item[1].position
    return position
