"""Charging an operation: one admission for the money and the meter (B2, B3, D20–D23).

A charge is planned like a consume (the operation's meter, if it counts one, gives its steps)
and the price is one more step on the wallet's balance counter; ``tx.counters.apply`` applies
them all or none, with the charge's idempotency record (D7), and the ledger entries are written
in the same transaction. The store's floor on the balance is the test "the balance covers the
price": there is no read of the balance before the write, so no interleaving of charges spends
the same money twice, and a refused charge records nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterstack.bounds import MAX_QUANTITY
from meterstack.catalog.schema import Catalog, Operation
from meterstack.errors import IdempotencyKeyReusedError, InvalidInputError, MeterstackError
from meterstack.money import LEDGER_PLACES
from meterstack.records.wallet import (
    Book,
    Charge,
    ChargeRequest,
    EntryKind,
    LedgerEntry,
    WalletCode,
)
from meterstack.rules.admission import (
    AdmissionPlan,
    Step,
    Totals,
    classify_admitted,
    classify_refused,
    increment_before,
)
from meterstack.rules.budget import ChargesTerms
from meterstack.rules.decisions import Decision
from meterstack.rules.periods import Period
from meterstack.rules.terms import AccountState
from meterstack.rules.wallet import (
    BALANCE_ITEM,
    BALANCE_PERIOD,
    ZERO,
    charge_amount,
    crossed,
    reload_key,
    spend_step,
    unit_price,
)
from meterstack.services.alerts.watch import BudgetRefused, Notice, Watch
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.events import Fingerprints, UsageEvent
from meterstack.services.express import Planned
from meterstack.services.holds import sweep
from meterstack.services.metering import Metering
from meterstack.services.validation import validate_idempotency_key, validate_project
from meterstack.services.wallet.reloads import Reloads
from meterstack.services.wallet.sales import Sale, SaleTerms
from meterstack.store.ports import (
    Admission,
    Applied,
    KeyRecord,
    Refused,
    Stale,
    Taken,
    UnitOfWork,
)
from meterstack.store.rows import StoredDecision

#: Attempts of one charge: swept once (C6), a lapsed replay decided anew once.
_ATTEMPTS = 3
#: Balance steps kept (one per amount charged lately).
_MAX_SPENDS = 256


_FINGERPRINTS = Fingerprints()
#: The types of an optional text field.
_TEXT = (str, type(None))


def request_hash(request: ChargeRequest) -> str:
    """The fingerprint a key's later charges must match (D7)."""
    # A max_price is read as written ("1.0" is not "1.00"): a request with one is made anew.
    plain = (
        type(request.quantity) is int
        and type(request.byok) is bool
        and request.max_price is None
        and type(request.operation) is str
        and type(request.item_id) in _TEXT
        and type(request.project_id) in _TEXT
    )
    return _FINGERPRINTS.of(
        (request.operation, request.quantity, request.byok, request.item_id, request.project_id),
        plain,
        lambda: _fingerprint(request),
    )


def _fingerprint(request: ChargeRequest) -> str:
    payload = "\x1f".join(
        (
            "charge",
            request.operation,
            str(request.quantity),
            "byok" if request.byok else "",
            request.item_id or "",
            "" if request.max_price is None else str(request.max_price),
            request.project_id or "",
        )
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def operation_of(catalog: Catalog, operation_id: str) -> Operation:
    wallet = catalog.wallet
    if wallet is None or not wallet.operations:
        raise InvalidInputError(
            f"catalog {catalog.catalog!r} has no wallet operations", operation=operation_id
        )
    operation = wallet.operations.get(operation_id)
    if operation is None:
        raise InvalidInputError(
            f"unknown operation {operation_id!r}; catalog {catalog.catalog!r} operations: "
            + ", ".join(sorted(wallet.operations)),
            operation=operation_id,
        )
    return operation


def validate_charge(request: ChargeRequest) -> None:
    quantity = request.quantity
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise InvalidInputError(
            f"quantity must be a whole number of at least 1, got {quantity!r}", field="quantity"
        )
    if quantity > MAX_QUANTITY:
        raise InvalidInputError(f"quantity must be at most {MAX_QUANTITY:,}", field="quantity")
    max_price = request.max_price
    if max_price is not None and (
        not isinstance(max_price, Decimal)
        or not max_price.is_finite()
        or max_price < 0
        or max_price != max_price.quantize(Decimal(1).scaleb(-LEDGER_PLACES))
    ):
        raise InvalidInputError(
            "max_price must be an amount of at least 0 with at most six decimal places, "
            f"got {max_price}",
            field="max_price",
        )


class Charging:
    def __init__(
        self, ctx: ServiceContext, metering: Metering, sales: Sale, reloads: Reloads
    ) -> None:
        self.ctx = ctx
        self.metering = metering
        self.sales = sales
        self.reloads = reloads
        #: The balance's step per amount charged lately: a route charges one price, and the
        #: store recognizes a step it has prepared.
        self._spends: dict[Decimal, Step[Decimal]] = {}

    def charge_in(self, tx: UnitOfWork, request: ChargeRequest, now: datetime) -> Charge:
        """Decide and record one charge inside an open transaction.

        Priced on the cached account state without reading its version; the admission checks
        the version in its own statement, and a state that moved (a D14 price, another plan)
        is read again and the charge priced again.
        """
        validate_charge(request)
        try:
            charge = self._decide(tx, request, now, fresh=False)
        except MeterstackError:
            charge = None  # decided again on the state as of now: a project made meanwhile…
        if charge is None:
            self.ctx.forget(request.account_id)
            charge = self._decide(tx, request, now, fresh=True)
        assert charge is not None, "a state read in this transaction is not stale"
        return charge

    def _decide(
        self, tx: UnitOfWork, request: ChargeRequest, now: datetime, *, fresh: bool
    ) -> Charge | None:
        key = validate_idempotency_key(request.idempotency_key)
        fingerprint = "" if key is None else request_hash(request)
        if fresh:
            state, verified = self.ctx.state(tx, request.account_id), True
        else:
            state, verified = self.ctx.cached_state(tx, request.account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        operation = operation_of(catalog, request.operation)
        validate_project(state, request.project_id)
        sale = self.sales.priced(tx, catalog, request, operation)
        price = unit_price(
            request.operation,
            operation,
            state,
            item_price=None if sale is None else sale.item_price,
            byok=request.byok,
        )
        amount = charge_amount(price, request.quantity)
        early = self._refused_before_admission(tx, request, state, price, amount, now)
        if early is not None:
            return early
        planned = self._meter_plan(tx, request, operation, now)
        threshold = state.reload_threshold  # the admission checks the state's version
        alerts = self.metering.alerts
        watch, period, charges = self._watched(tx, catalog, state, planned, now)
        entry_id = new_id("wle")
        swept = False
        spend = self._spend(amount)
        for _ in range(_ATTEMPTS):
            steps, balance_at = _steps(planned, request.quantity, spend, amount, charges)
            admission: Admission[Charge] = Admission(
                request.account_id,
                steps,
                None if verified else state.version,
                _answer(request, planned, price, amount, now, entry_id, threshold),
                (None if key is None else KeyRecord(key, fingerprint),),
                now,
            )
            outcome = tx.counters.apply(admission)
            if isinstance(outcome, Applied):
                charge: Charge = outcome.answers[0]
                self._record(tx, request, charge, sale, now)
                notices = self._notices(
                    tx, request, planned, watch, charges, outcome.totals, balance_at, amount,
                    period.key, catalog.currency,
                )  # fmt: skip
                if notices:
                    alerts.watcher.record(tx, notices, now)
                return charge
            if isinstance(outcome, Refused):
                if planned is not None and outcome.position < balance_at and not swept:
                    swept = True
                    if sweep(tx, request.account_id, now):
                        continue  # lapsed holds gave units back: decide once more (C6)
                stored = None if key is None else tx.idempotency.get(request.account_id, key)
                replayed = self._replayed(tx, request, key, fingerprint, stored, now)
                if replayed is not None:
                    return replayed
                if outcome.position > balance_at and charges is not None:
                    refused = (request, price, amount, now, charges, outcome.totals, period.key)
                    return self._over_budget(tx, *refused, catalog)
                if outcome.position == balance_at:
                    return self._refusal(
                        tx, request, price, amount, now, WalletCode.INSUFFICIENT_BALANCE, 402,
                        f"the balance {outcome.totals.used} does not cover the price {amount}",
                        balance=outcome.totals.used,
                    )  # fmt: skip
                assert planned is not None
                usage = classify_refused(
                    planned.plan,
                    planned.plan.scopes[outcome.position],
                    outcome.totals,
                    now,
                    quantity=request.quantity,
                )
                return self._refusal(
                    tx, request, price, amount, now, str(usage.code), usage.http_status,
                    usage.message, usage=usage,
                )  # fmt: skip
            if isinstance(outcome, Stale):
                return None
            if isinstance(outcome, Taken):
                stored = outcome.stored.get(key or "")
                replayed = self._replayed(tx, request, key, fingerprint, stored, now)
                if replayed is not None:
                    return replayed
        raise AssertionError("unreachable: every cause of another attempt happens once")

    def _spend(self, amount: Decimal) -> Step[Decimal]:
        """The balance's step for ``amount`` (six places, :func:`charge_amount`: equal amounts
        are the same Decimal, digits and exponent)."""
        spend = self._spends.get(amount)
        if spend is None:
            spend = spend_step(amount)
            if len(self._spends) >= _MAX_SPENDS:
                self._spends.clear()
            self._spends[amount] = spend
        return spend

    def _refused_before_admission(
        self,
        tx: UnitOfWork,
        request: ChargeRequest,
        state: AccountState,
        price: Decimal,
        amount: Decimal,
        now: datetime,
    ) -> Charge | None:
        """A charge refused before anything is admitted: a price above the caller's
        ``max_price`` (409), or a wallet suspended by what a lost dispute left owed (402); a
        replay of the key's stored answer wins over both."""
        if request.max_price is not None and amount > request.max_price:
            code, status = WalletCode.PRICE_CHANGED, 409
            message = f"the price is now {amount}, above the max_price {request.max_price}"
        elif state.wallet_owed > 0 and amount > 0:
            code, status = WalletCode.WALLET_SUSPENDED, 402
            message = (
                f"wallet charges are suspended: a lost dispute left {state.wallet_owed} owed, "
                "which the next deposit pays first"
            )
        else:
            return None
        key = validate_idempotency_key(request.idempotency_key)
        fingerprint = "" if key is None else request_hash(request)
        stored = None if key is None else tx.idempotency.get(request.account_id, key)
        replayed = self._replayed(tx, request, key, fingerprint, stored, now)
        if replayed is not None:
            return replayed
        return self._refusal(tx, request, price, amount, now, code, status, message)

    def _watched(
        self,
        tx: UnitOfWork,
        catalog: Catalog,
        state: AccountState,
        planned: Planned | None,
        now: datetime,
    ) -> tuple[Watch, Period, ChargesTerms | None]:
        """What the account watches (D25), the period, and its charges step (D26)."""
        alerts = self.metering.alerts
        watch = alerts.watcher.watch(tx, state.account_id, state.version)
        period = self.ctx.period(catalog, state, now)
        meter = None if planned is None else planned.plan.item
        return watch, period, alerts.charges_terms(tx, watch, catalog, state, meter, period)

    def _over_budget(
        self,
        tx: UnitOfWork,
        request: ChargeRequest,
        price: Decimal,
        amount: Decimal,
        now: datetime,
        charges: ChargesTerms,
        counter: Totals[Any],
        period: str,
        catalog: Catalog,
    ) -> Charge:
        """A hard budget refused the charge (D26): 402 ``budget_exceeded``, nothing charged;
        ``budget.exceeded`` is announced at the period's first such refusal."""
        budget = charges.budget
        assert budget is not None
        actual = charges.fee + counter.used
        notice = BudgetRefused(0, budget, actual, catalog.currency, period)
        self.metering.alerts.watcher.record(tx, [(request.account_id, notice)], now)
        return self._refusal(
            tx, request, price, amount, now, "budget_exceeded", 402,
            f"the price {amount} would take the period's charges past the budget of "
            f"{budget.amount} (charges so far {actual})",
        )  # fmt: skip

    def _notices(
        self,
        tx: UnitOfWork,
        request: ChargeRequest,
        planned: Planned | None,
        watch: Watch,
        charges: ChargesTerms | None,
        totals: tuple[Totals[Any], ...],
        balance_at: int,
        amount: Decimal,
        period: str,
        currency: str,
    ) -> list[tuple[str, Notice]]:
        """What an admitted charge fired: its meter's usage alerts, the period's charges and
        the balance's alerts (D25)."""
        account_id = request.account_id
        found: list[tuple[str, Notice]] = []
        if planned is not None:
            plain = replace(planned, charges=None)
            found += self.metering.notices(
                tx, account_id, plain, totals[:balance_at], [(0, request.quantity)]
            )
        if watch.empty:
            return found
        balance: Decimal = totals[balance_at].used
        spent = None
        if charges is not None:
            after = charges.fee + totals[-1].used
            added = amount
            if planned is not None and charges.step.charge is not None:
                step = planned.plan.steps(request.quantity)[0]
                added += charges.step.charge(increment_before(step, totals[0]), totals[0])
            spent = (after - added, after)
        notices = self.metering.alerts.watcher.charge_notices(
            watch, period, currency, spent, (balance + amount, balance)
        )
        return found + [(account_id, notice) for notice in notices]

    def _meter_plan(
        self, tx: UnitOfWork, request: ChargeRequest, operation: Operation, now: datetime
    ) -> Planned | None:
        """The plan of the meter the operation counts (D22: a BYOK run too, unless exempt)."""
        if operation.meter is None or (request.byok and not operation.byok_counts_meter):
            return None
        event = UsageEvent(
            request.account_id, operation.meter, request.quantity, request.project_id
        )
        return self.metering.plan(tx, event, now, fresh=True)

    def _record(
        self,
        tx: UnitOfWork,
        request: ChargeRequest,
        charge: Charge,
        sale: SaleTerms | None,
        now: datetime,
    ) -> None:
        """The ledger entries of an admitted charge, and the reload its crossing starts."""
        assert charge.entry_id is not None
        tx.wallet.insert_entry(
            LedgerEntry(
                id=charge.entry_id,
                account_id=request.account_id,
                book=Book.WALLET,
                kind=EntryKind.CHARGE,
                amount=-charge.price,
                created_at=now,
                operation=request.operation,
                quantity=request.quantity,
                byok=request.byok,
                project_id=request.project_id,
                item_id=request.item_id,
                idempotency_key=request.idempotency_key,
            )
        )
        if sale is not None:
            self.sales.credit(tx, sale, charge, now)
        if charge.reload_id is not None:
            self.reloads.start(tx, request.account_id, charge, now)

    def _refusal(
        self,
        tx: UnitOfWork,
        request: ChargeRequest,
        price: Decimal,
        amount: Decimal,
        now: datetime,
        code: str,
        status: int,
        message: str,
        *,
        balance: Decimal | None = None,
        usage: Decision | None = None,
    ) -> Charge:
        if balance is None:
            balance = current_balance(tx, request.account_id)
        return Charge(
            allowed=False,
            code=code,
            http_status=status,
            operation=request.operation,
            quantity=request.quantity,
            unit_price=price,
            price=amount,
            balance=balance,
            as_of=now,
            message=message,
            byok=request.byok,
            item_id=request.item_id,
            project_id=request.project_id,
            usage=usage,
        )

    def _replayed(
        self,
        tx: UnitOfWork,
        request: ChargeRequest,
        key: str | None,
        fingerprint: str,
        stored: StoredDecision | None,
        now: datetime,
    ) -> Charge | None:
        """The stored answer of an admitted charge with this key (D7); None if none or lapsed."""
        if key is None or stored is None:
            return None
        if stored.created_at < now - self.ctx.idempotency_retention:
            tx.idempotency.delete(request.account_id, key)
            return None
        if stored.request_hash != fingerprint:
            raise IdempotencyKeyReusedError(
                f"idempotency key {key!r} was already used for a different request",
                idempotency_key=key,
            )
        return Charge.decode(stored.decision, replayed=True)


def _steps(
    planned: Planned | None,
    quantity: int,
    spend: Step[Decimal],
    amount: Decimal,
    charges: ChargesTerms | None,
) -> tuple[tuple[Step[Any], ...], int]:
    """A charge's steps: its meter's, the balance's (``spend``, at the index returned), then
    the period's charges when the account keeps them (D26: the price, and the meter's lines)."""
    steps: tuple[Step[Any], ...] = () if planned is None else planned.plan.steps(quantity)
    balance_at = len(steps)
    steps = (*steps, spend)
    if charges is not None:
        steps = (*steps, charges.step._replace(quantity=amount))
    return steps, balance_at


def current_balance(tx: UnitOfWork, account_id: str) -> Decimal:
    totals = tx.counters.totals(account_id, BALANCE_ITEM, "account", BALANCE_PERIOD)
    return Decimal(totals.used).scaleb(-LEDGER_PLACES) + ZERO


def _answer(
    request: ChargeRequest,
    planned: Planned | None,
    price: Decimal,
    amount: Decimal,
    now: datetime,
    entry_id: str,
    threshold: Decimal | None,
) -> Callable[[tuple[Totals[Any], ...]], tuple[Charge]]:
    """How the store names an admitted charge: its balance, its meter's decision, and the
    reload its crossing of the threshold starts (D21)."""
    plan: AdmissionPlan | None = None if planned is None else planned.plan

    def answer(totals: tuple[Totals[Any], ...]) -> tuple[Charge]:
        balance: Decimal = totals[-1].used
        usage = None
        if plan is not None and planned is not None:
            usage = classify_admitted(
                plan, totals[0], now, planned.near_limit_percent, quantity=request.quantity
            )
        reload_id = None
        if threshold is not None and crossed(balance + amount, balance, threshold):
            reload_id = reload_key(request.account_id, entry_id)
        return (
            Charge(
                allowed=True,
                code=str(WalletCode.OK),
                http_status=200,
                operation=request.operation,
                quantity=request.quantity,
                unit_price=price,
                price=amount,
                balance=balance,
                as_of=now,
                message=f"charged {amount}; balance {balance}",
                byok=request.byok,
                item_id=request.item_id,
                project_id=request.project_id,
                entry_id=entry_id,
                usage=usage,
                reload_id=reload_id,
            ),
        )

    return answer
