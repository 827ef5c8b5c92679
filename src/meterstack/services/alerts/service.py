"""Alerts and the budget guard (C8, D25, D26): what customers and operators set, and what it
costs the admissions.

An account's alerts (at most 50, besides the catalog's default thresholds) and its budget are
rows of their own; every change moves the account's version, so a plan cached by the express
lane is made again with the new watch (``services.alerts.watch``). A budget, or an alert on
current charges, makes the account keep the period's charges in a counter of money: set from
the period's charges so far when it starts, and moved after that by a step of every admission
that changes them (``rules.budget``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from meterstack.bounds import MAX_AMOUNT, MAX_QUANTITY
from meterstack.catalog.schema import Catalog
from meterstack.errors import InvalidInputError, NotFoundError, RefusedError
from meterstack.money import LEDGER_PLACES, round_money
from meterstack.records.alerts import AlertState, AlertView, BudgetView
from meterstack.records.audit import PYTHON, Actor
from meterstack.rules.admission import ACCOUNT_SCOPE, Step
from meterstack.rules.alerts import (
    MAX_ALERTS,
    USAGE_KINDS,
    Alert,
    AlertKind,
    Crossing,
    balance_holds,
    usage_holds,
)
from meterstack.rules.budget import (
    CHARGES_ITEM,
    ZERO,
    Budget,
    BudgetMode,
    ChargesTerms,
    budget_bound,
    charges_step,
    lines_delta,
    meter_lines,
    percent_of,
)
from meterstack.rules.insights import monthly_fee
from meterstack.rules.periods import Period
from meterstack.rules.terms import AccountState, item_terms, plan_of
from meterstack.rules.wallet import BALANCE_ITEM, BALANCE_PERIOD
from meterstack.services.alerts.watch import Fire, Watch, Watcher, fire, resolved
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext, new_id
from meterstack.store.ports import Admission, Applied, UnitOfWork


class TooManyAlertsError(RefusedError):
    def __init__(self, account_id: str) -> None:
        super().__init__(
            "too_many_alerts",
            409,
            f"an account has at most {MAX_ALERTS} alerts; delete one first",
            account_id=account_id,
            most=MAX_ALERTS,
        )


class Alerts:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.watcher = Watcher()

    # ------------------------------------------------------------------ planning

    def charges_terms(
        self, tx: UnitOfWork, watch: Watch, catalog: Catalog, state: AccountState,
        meter: str | None, period: Period,
    ) -> ChargesTerms | None:  # fmt: skip
        """The charges step of a consumption of ``meter``, when the account keeps them."""
        if not watch.tracks_charges:
            return None
        plan = plan_of(catalog, state)
        fee = self._fee(tx, catalog, state)
        lines = None if meter is None else meter_lines(catalog, plan, meter)
        priced = None if lines is None else lines_delta(lines)
        bound = budget_bound(watch.budget, fee)
        return ChargesTerms(charges_step(period.key, bound, ZERO, priced), fee, watch.budget)

    def _fee(self, tx: UnitOfWork, catalog: Catalog, state: AccountState) -> Decimal:
        row = tx.accounts.get(state.account_id)
        interval = "monthly" if row is None else row.billing_interval
        return monthly_fee(catalog, plan_of(catalog, state), interval) or ZERO

    # ------------------------------------------------------------------ alerts

    def create(
        self,
        account_id: str,
        kind: str,
        *,
        meter: str | None = None,
        threshold: Decimal | int | str | None = None,
        actor: Actor = PYTHON,
    ) -> AlertView:
        """A new alert on the account (at most 50); it is armed at once."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            alert = _checked(catalog, kind, meter, threshold)
            if tx.alerts.count(account_id) >= MAX_ALERTS:
                raise TooManyAlertsError(account_id)
            now = self.ctx.now()
            tx.alerts.insert(account_id, alert, now)
            if alert.kind is AlertKind.CURRENT_CHARGES:
                self._start_charges(tx, catalog, state, now)
            self._changed(tx, account_id)
            record(tx, now, actor, account_id, "alert.created", after=_alert_state(alert))
            return AlertView.of(alert, None)

    def of_account(self, account_id: str) -> list[AlertView]:
        """The account's alerts: the catalog's defaults on its limited meters, then its own."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            states = {found.alert_id: found for found in tx.alerts.states(account_id)}
            alerts = [*self._defaults(catalog, state), *tx.alerts.of_account(account_id)]
            return [AlertView.of(alert, states.get(alert.id)) for alert in alerts]

    def get(self, account_id: str, alert_id: str) -> AlertView:
        for view in self.of_account(account_id):
            if view.id == alert_id:
                return view
        raise NotFoundError(f"no alert {alert_id!r} on this account", alert_id=alert_id)

    def delete(self, account_id: str, alert_id: str, *, actor: Actor = PYTHON) -> None:
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            found = [alert for alert in tx.alerts.of_account(account_id) if alert.id == alert_id]
            if not found or not tx.alerts.delete(account_id, alert_id):
                raise NotFoundError(
                    f"no alert {alert_id!r} of this account (the catalog's defaults cannot be "
                    "deleted)",
                    alert_id=alert_id,
                )
            self._changed(tx, account_id)
            before = _alert_state(found[0])
            record(tx, self.ctx.now(), actor, account_id, "alert.deleted", before=before)

    def states(self, account_id: str) -> list[AlertState]:
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            return tx.alerts.states(account_id)

    def _defaults(self, catalog: Catalog, state: AccountState) -> list[Alert]:
        """The catalog's default alerts on the meters the account's terms limit."""
        if not catalog.policies.alert_thresholds:
            return []
        found: list[Alert] = []
        for meter in catalog.meters:
            if item_terms(catalog, state, meter).limit is not None:
                found.extend(self.watcher.catalog_alerts.on(catalog, meter))
        return found

    def _changed(self, tx: UnitOfWork, account_id: str) -> None:
        self.ctx.changed(tx, account_id)
        self.watcher.forget(account_id)

    # ------------------------------------------------------------------ budget (D26)

    def budget(self, account_id: str) -> BudgetView:
        with self.ctx.store.transaction() as tx:
            return self._view(tx, account_id)

    def set_budget(
        self,
        account_id: str,
        amount: Decimal | str | None,
        mode: str,
        *,
        actor: Actor = PYTHON,
    ) -> BudgetView:
        """Set (or, with ``amount`` None, remove) the account's maximum monthly cost."""
        budget = None if amount is None else Budget(_amount(amount, "amount"), _mode(mode))
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            now = self.ctx.now()
            before = tx.alerts.budget(account_id)
            tx.alerts.set_budget(account_id, budget, now)
            record(
                tx,
                now,
                actor,
                account_id,
                "budget.set" if budget is not None else "budget.removed",
                before=_budget_state(before, catalog.currency),
                after=_budget_state(budget, catalog.currency),
            )
            if budget is not None:
                self._start_charges(tx, catalog, state, now)
            self._changed(tx, account_id)
            return self._view(tx, account_id)

    def _view(self, tx: UnitOfWork, account_id: str) -> BudgetView:
        state = self.ctx.state(tx, account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        period = self.ctx.period(catalog, state)
        budget = tx.alerts.budget(account_id)
        fee = self._fee(tx, catalog, state)
        charges = self._charges_so_far(tx, catalog, state, period)
        actual = fee + charges
        currency = catalog.currency
        return BudgetView(
            amount=None if budget is None else _cents(budget.amount, currency),
            mode=None if budget is None else budget.mode,
            currency=currency,
            period=period.key,
            fee=_cents(fee, currency),
            charges=_cents(charges, currency),
            actual=_cents(actual, currency),
            percent=None if budget is None else percent_of(actual, budget.amount),
        )

    def _start_charges(
        self, tx: UnitOfWork, catalog: Catalog, state: AccountState, now: datetime
    ) -> None:
        """Set the period's charges counter to the charges so far (a budget or a charges
        alert starts to keep it); the admissions move it from there."""
        period = self.ctx.period(catalog, state, now)
        amount = self._charges_so_far(tx, catalog, state, period)
        level: Step[Decimal] = Step(
            CHARGES_ITEM, ACCOUNT_SCOPE, period.key, amount, ZERO, level=True
        )
        outcome = tx.counters.apply(Admission.plain(state.account_id, (level,)))
        assert isinstance(outcome, Applied), "a level without a bound always applies"

    def _charges_so_far(
        self, tx: UnitOfWork, catalog: Catalog, state: AccountState, period: Period
    ) -> Decimal:
        """The period's usage and overage lines as they stand, plus the wallet's spend."""
        plan = plan_of(catalog, state)
        total = ZERO
        for counter in tx.counters.of_account(state.account_id, [period.key]):
            if counter.scope != ACCOUNT_SCOPE or counter.item not in catalog.meters:
                continue
            lines = meter_lines(catalog, plan, counter.item)
            if lines is not None:
                totals = counter.totals
                total += lines(totals.used, totals.overage) - lines(0, 0)
        spend = tx.wallet.spend_by_operation(state.account_id, period.start, period.end)
        return total + sum((amount for _, amount in spend.values()), ZERO)

    # ------------------------------------------------------------------ resolution

    def reevaluate(self, account_id: str) -> list[AlertState]:
        """Resolve the alerts whose condition stopped holding: a raised limit, a pack, an
        upgrade (usage alerts), a deposit (balance alerts). The states resolved."""
        with self.ctx.store.transaction() as tx:
            return self.reevaluate_in(tx, account_id, self.ctx.now())

    def reevaluate_in(self, tx: UnitOfWork, account_id: str, now: datetime) -> list[AlertState]:
        states = tx.alerts.states(account_id, open_only=True)
        if not states:
            return []
        state = self.ctx.state(tx, account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        period = self.ctx.period(catalog, state, now)
        stopped: list[str] = []
        reasons: dict[str, str] = {}
        for found in states:
            alert = Alert(found.alert_id, found.kind, found.meter, found.threshold)
            if found.kind in USAGE_KINDS and found.meter is not None:
                terms = item_terms(catalog, state, found.meter)
                used = tx.counters.totals(account_id, found.meter, ACCOUNT_SCOPE, period.key).used
                if found.period == period.key and not usage_holds(
                    alert, used, terms.limit, terms.hard_limit
                ):
                    stopped.append(found.alert_id)
                    reasons[found.alert_id] = "limit_raised"
            elif found.kind is AlertKind.WALLET_BALANCE and found.threshold is not None:
                balance = tx.counters.totals(
                    account_id, BALANCE_ITEM, ACCOUNT_SCOPE, BALANCE_PERIOD
                )
                if not balance_holds(alert, Decimal(balance.used).scaleb(-LEDGER_PLACES)):
                    stopped.append(found.alert_id)
                    reasons[found.alert_id] = "deposit"
        done: list[AlertState] = []
        for reason in sorted(set(reasons.values())):
            ids = [alert_id for alert_id in stopped if reasons[alert_id] == reason]
            for resolved_state in tx.alerts.resolve(account_id, ids, now, reason):
                resolved(tx, account_id, resolved_state, reason, now)
                done.append(resolved_state)
        return done


def payment_failed_in(
    tx: UnitOfWork, account_id: str, at: datetime, *, reference: str | None = None
) -> int:
    """Fire the account's ``payment_failed`` alerts inside the caller's transaction (a failed
    collection, D29): their state and ``alert.triggered``, ``value`` the ``reference`` (an
    invoice number). How many fired: an alert fires again only once it was resolved."""
    fired = 0
    for alert in tx.alerts.of_account(account_id):
        if alert.kind is AlertKind.PAYMENT_FAILED:
            notice = Fire(0, Crossing(alert, ZERO, ZERO), "", reference or "", "")
            fired += fire(tx, account_id, notice, at)
    return fired


def payment_recovered_in(tx: UnitOfWork, account_id: str, at: datetime) -> None:
    """Resolve the account's ``payment_failed`` alerts (``reason`` ``paid``): the open
    invoice was paid."""
    ids = [a.id for a in tx.alerts.of_account(account_id) if a.kind is AlertKind.PAYMENT_FAILED]
    for found in tx.alerts.resolve(account_id, ids, at, "paid"):
        resolved(tx, account_id, found, "paid", at)


def period_closed_in(tx: UnitOfWork, account_id: str, period: str, end: datetime) -> None:
    """The period close came before the new period's first admission: resolve the alerts of
    the closed period, ``resolved_at`` the new period's start (D25)."""
    for found in tx.alerts.resolve(account_id, None, end, "new_period", of_period=period):
        resolved(tx, account_id, found, "new_period", end)


def balance_moved_in(tx: UnitOfWork, account_id: str, balance: Decimal, at: datetime) -> None:
    """Money came into the wallet (a deposit, a reload, a refund): resolve the balance alerts
    the new ``balance`` no longer holds (D25)."""
    ids = [
        found.alert_id
        for found in tx.alerts.states(account_id, open_only=True)
        if found.kind is AlertKind.WALLET_BALANCE
        and found.threshold is not None
        and balance >= found.threshold
    ]
    for found in tx.alerts.resolve(account_id, ids, at, "deposit"):
        resolved(tx, account_id, found, "deposit", at)


def _cents(amount: Decimal, currency: str) -> Decimal:
    """An amount in the currency's cents when it is whole cents (the ledger keeps six
    places: a wallet's spend may carry more)."""
    rounded = round_money(amount, currency)
    return rounded if rounded == amount else amount.normalize()


def _checked(
    catalog: Catalog, kind: str, meter: str | None, threshold: Decimal | int | str | None
) -> Alert:
    """An alert's definition, checked: a usage alert names a meter of the catalog; a
    threshold is what its kind takes."""
    try:
        found = AlertKind(kind)
    except ValueError:
        raise InvalidInputError(
            f"unknown alert kind {kind!r}; kinds: " + ", ".join(k.value for k in AlertKind),
            field="kind",
        ) from None
    if found in USAGE_KINDS:
        if meter is None or meter not in catalog.meters:
            raise InvalidInputError(
                f"a {found.value} alert names a meter of the catalog: "
                + ", ".join(sorted(catalog.meters)),
                field="meter",
            )
    elif meter is not None:
        raise InvalidInputError(f"a {found.value} alert watches no meter", field="meter")
    value: Decimal | None = None
    if found is AlertKind.USAGE_PERCENT:
        value = _number(threshold, "threshold", most=Decimal(1000))
        if value <= 0:
            raise InvalidInputError("a percentage threshold is above 0", field="threshold")
    elif found is AlertKind.USAGE_UNITS:
        value = _number(threshold, "threshold", most=Decimal(MAX_QUANTITY))
        if value != value.to_integral_value() or value < 1:
            raise InvalidInputError("a units threshold is a whole number of at least 1",
                                    field="threshold")  # fmt: skip
    elif found in (AlertKind.CURRENT_CHARGES, AlertKind.WALLET_BALANCE):
        value = _amount(threshold, "threshold")
        if value <= 0:
            raise InvalidInputError("an amount threshold is above 0", field="threshold")
    elif threshold is not None:
        raise InvalidInputError(f"a {found.value} alert takes no threshold", field="threshold")
    return Alert(new_id("alrt"), found, meter, value)


def _number(value: Decimal | int | str | None, name: str, *, most: Decimal) -> Decimal:
    if value is None or isinstance(value, bool | float):
        raise InvalidInputError(f"{name} is a decimal number, as a string or an integer",
                                field=name)  # fmt: skip
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        raise InvalidInputError(f"{name} is not a decimal number: {value!r}", field=name) from None
    if not number.is_finite() or number < 0 or number > most:
        raise InvalidInputError(f"{name} must be between 0 and {most}", field=name)
    if number != number.quantize(Decimal("0.000001")):
        raise InvalidInputError(f"{name} has at most six decimal places", field=name)
    return number


def _amount(value: Decimal | int | str | None, name: str) -> Decimal:
    number = _number(value, name, most=MAX_AMOUNT)
    if number != number.quantize(Decimal("0.01")):
        raise InvalidInputError(f"{name} is an amount in whole cents", field=name)
    return number.quantize(Decimal("0.01"))


def _mode(mode: str) -> BudgetMode:
    try:
        return BudgetMode(mode)
    except ValueError:
        raise InvalidInputError(
            f"unknown budget mode {mode!r}; modes: soft, hard", field="mode"
        ) from None


def _alert_state(alert: Alert) -> dict[str, object]:
    """An alert as the audit log keeps it."""
    return {
        "alert_id": alert.id,
        "kind": str(alert.kind),
        "meter": alert.meter,
        "threshold": alert.threshold,
    }


def _budget_state(budget: Budget | None, currency: str) -> dict[str, object] | None:
    """A budget as the audit log keeps it, in the currency's places; None when there is none."""
    if budget is None:
        return None
    return {"amount": _cents(budget.amount, currency), "mode": budget.mode}
