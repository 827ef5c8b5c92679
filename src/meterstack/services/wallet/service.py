"""The prepaid wallet (B2, B3, D20–D24): charges, the balance and its history, adjustments,
refunds, auto-reload settings and the operator's prices of operations.

Every movement is a ledger entry written in the transaction that moves the stored balance (a
counter row), so the balance always equals the sum of its entries and, by the counter's floor,
never goes below zero.
"""

from __future__ import annotations

import json
from decimal import Decimal

from meterstack.bounds import page_cursor
from meterstack.errors import ConflictError, InvalidInputError, NotFoundError
from meterstack.records.audit import PYTHON, Actor
from meterstack.records.payments import MoneyMover, MoneyRefund
from meterstack.records.wallet import (
    Book,
    Charge,
    ChargeRequest,
    EntryKind,
    EntryPage,
    LedgerEntry,
    Reload,
    ReloadStatus,
    WalletSettings,
    WalletView,
)
from meterstack.rules.wallet import price_target
from meterstack.services.audit.log import price_state, record
from meterstack.services.conflicts import decided_again_on_conflict
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.metering import Metering
from meterstack.services.payments.refunds import Refunds
from meterstack.services.wallet.amounts import amount_of, cents
from meterstack.services.wallet.charging import Charging, current_balance, operation_of
from meterstack.services.wallet.ledger import move
from meterstack.services.wallet.marketplace import Marketplace
from meterstack.services.wallet.payouts import Payouts
from meterstack.services.wallet.reloads import Reloads
from meterstack.services.wallet.sales import Sale
from meterstack.store.ports import UnitOfWork

#: The most entries one page of the history holds.
MAX_PAGE = 200


class Wallets:
    def __init__(
        self,
        ctx: ServiceContext,
        metering: Metering,
        mover: MoneyMover | None,
        refunds: Refunds,
    ) -> None:
        self.ctx = ctx
        self.refunds = refunds
        self.reloads = Reloads(ctx, mover)
        self.sales = Sale()
        self.charging = Charging(ctx, metering, self.sales, self.reloads)
        self.marketplace = Marketplace(ctx)
        self.payouts = Payouts(ctx, mover)

    # ------------------------------------------------------------------ charges

    def charge(self, request: ChargeRequest) -> Charge:
        """Charge an operation (and count its meter) in one admission; then collect the
        reload its crossing started, if any (D21)."""
        charge = self._charge(request)
        if charge.allowed and charge.reload_id is not None and not charge.replayed:
            self.reloads.collect(charge.reload_id, request.account_id)
        return charge

    @decided_again_on_conflict
    def _charge(self, request: ChargeRequest) -> Charge:
        with self.ctx.store.transaction() as tx:
            return self.charging.charge_in(tx, request, self.ctx.now())

    # ------------------------------------------------------------------ reads

    def view(self, account_id: str) -> WalletView:
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            pending = tx.wallet.reloads(account_id, pending=True)
            return WalletView(
                account_id=account_id,
                currency=catalog.currency,
                balance=current_balance(tx, account_id),
                settings=tx.wallet.settings(account_id),
                pending_reload=pending[-1] if pending else None,
            )

    def balance(self, account_id: str) -> Decimal:
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            return current_balance(tx, account_id)

    def transactions(
        self,
        account_id: str,
        *,
        before: str | None = None,
        limit: int = 50,
        book: Book = Book.WALLET,
    ) -> EntryPage:
        """The ledger, newest first, ``limit`` at a time; ``before`` is the previous page's
        ``next_before``."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit must be from 1 to {MAX_PAGE}", field="limit")
        position = None if before is None else page_cursor(before)
        with self.ctx.store.transaction() as tx:
            if book is not Book.PLATFORM:
                self.ctx.state(tx, account_id)
            rows = tx.wallet.entries(account_id, book, before=position, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return EntryPage([entry for _, entry in rows], str(rows[-1][0]) if more else None)

    def entry(self, entry_id: str) -> LedgerEntry:
        with self.ctx.store.transaction() as tx:
            found = tx.wallet.entry(entry_id)
        if found is None:
            raise NotFoundError(f"no ledger entry {entry_id!r}", entry_id=entry_id)
        return found

    def earnings(self, creator_id: str) -> Decimal:
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, creator_id)
            return tx.wallet.total(creator_id, Book.EARNINGS)

    def spend(self, account_id: str) -> dict[str, tuple[int, Decimal]]:
        """The current period's wallet spend by operation (the statement's wallet section:
        not invoice lines, since it was paid from the wallet as it happened)."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            period = self.ctx.period(self.ctx.catalog(tx, state.catalog_hash), state)
            return tx.wallet.spend_by_operation(account_id, period.start, period.end)

    def reload_history(self, account_id: str) -> list[Reload]:
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            return tx.wallet.reloads(account_id)

    def collect_pending(self, account_id: str) -> list[Reload]:
        return self.reloads.collect_pending(account_id)

    # ------------------------------------------------------------------ operator levers

    @decided_again_on_conflict
    def adjust(
        self, account_id: str, amount: Decimal, reason: str, *, actor: Actor = PYTHON
    ) -> Decimal:
        """An operator's correction of the balance (either sign, never below zero: 402)."""
        amount = amount_of(amount, "amount")
        if amount == 0:
            raise InvalidInputError("an adjustment moves a non-zero amount", field="amount")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
            raise InvalidInputError("give the reason, 1 to 500 characters", field="reason")
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            entry = self._entry(account_id, EntryKind.ADJUSTMENT, amount, memo=reason)
            moved = move(tx, entry)
            assert moved is not None
            record(
                tx,
                entry.created_at,
                actor.because(actor.reason or reason),
                account_id,
                "wallet.adjusted",
                before={"balance": moved - amount},
                after={"balance": moved, "amount": amount, "entry_id": entry.id},
            )
            return moved

    @decided_again_on_conflict
    def refund(
        self, entry_id: str, *, account_id: str | None = None, actor: Actor = PYTHON
    ) -> Decimal:
        """Give a charge's amount back to the wallet, once (D20)."""
        with self.ctx.store.transaction() as tx:
            charge = tx.wallet.entry(entry_id)
            if (
                charge is None
                or charge.kind is not EntryKind.CHARGE
                or (account_id is not None and charge.account_id != account_id)
            ):
                raise NotFoundError(f"no charge {entry_id!r}", entry_id=entry_id)
            entry = self._entry(
                charge.account_id,
                EntryKind.REFUND,
                -charge.amount,
                reference=charge.id,
                operation=charge.operation,
                quantity=charge.quantity,
                item_id=charge.item_id,
            )
            moved = move(tx, entry)
            if moved is None:
                return current_balance(tx, charge.account_id)
            self.sales.claw_back(tx, charge, self.ctx.now())
            record(
                tx,
                entry.created_at,
                actor,
                charge.account_id,
                "wallet.refunded",
                before={"balance": moved - entry.amount, "charge_id": charge.id},
                after={"balance": moved, "amount": entry.amount, "entry_id": entry.id},
            )
            return moved

    def refund_deposit(
        self, entry_id: str, amount: Decimal | None = None, *, actor: Actor = PYTHON
    ) -> tuple[Decimal, MoneyRefund]:
        """Give a deposit (or part of it) back to whoever paid it, once per deposit, limited to
        the unspent balance (D24): what was spent was spent, so the floor refuses more (402).

        The refund is taken off the balance and recorded in one transaction, then sent to the
        provider; a refund the provider did not confirm stays pending and is sent again by
        :meth:`Refunds.send_pending`, never twice. The balance after it, and the refund."""
        self.refunds.require_provider()
        balance, recorded = self._record_deposit_refund(entry_id, amount, actor)
        sent = self.refunds.send(recorded.id)
        return balance, recorded if sent is None else sent

    @decided_again_on_conflict
    def _record_deposit_refund(
        self, entry_id: str, amount: Decimal | None, actor: Actor
    ) -> tuple[Decimal, MoneyRefund]:
        with self.ctx.store.transaction() as tx:
            paid = tx.wallet.entry(entry_id)
            if paid is None or paid.kind not in (EntryKind.DEPOSIT, EntryKind.RELOAD):
                raise NotFoundError(f"no deposit {entry_id!r}", entry_id=entry_id)
            value = paid.amount if amount is None else amount_of(amount, "amount", positive=True)
            if not 0 < value <= paid.amount:
                raise InvalidInputError(
                    f"a refund of this deposit is above 0 and at most {paid.amount}",
                    field="amount",
                )
            state = self.ctx.state(tx, paid.account_id)
            currency = self.ctx.catalog(tx, state.catalog_hash).currency
            entry = self._entry(paid.account_id, EntryKind.REFUND, -value, reference=paid.id)
            balance = move(tx, entry)
            if balance is None:
                raise ConflictError(f"deposit {entry_id} was refunded already", entry_id=entry_id)
            record(
                tx,
                entry.created_at,
                actor,
                paid.account_id,
                "wallet.deposit_refunded",
                before={"balance": balance - entry.amount, "deposit_id": paid.id},
                after={"balance": balance, "amount": entry.amount, "entry_id": entry.id},
            )
            assert paid.reference is not None, "a deposit names its checkout, a reload itself"
            payment = tx.movements.deposit_payment(paid.reference) or paid.reference
            return balance, self.refunds.record_in(
                tx,
                account_id=paid.account_id,
                source="deposit",
                reference=paid.id,
                payment=payment,
                amount=value,
                currency=currency,
            )

    def set_price(
        self, account_id: str, operation: str, price: Decimal | None, *, actor: Actor = PYTHON
    ) -> None:
        """An operator's price of one operation for one account (D14); None removes it."""
        value = None if price is None else json.dumps(str(amount_of(price, "price", positive=True)))
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            operation_of(self.ctx.catalog(tx, state.catalog_hash), operation)
            target = price_target(operation)
            tx.accounts.set_price_override(account_id, target, value)
            self.ctx.changed(tx, account_id)
            record(
                tx,
                self.ctx.now(),
                actor,
                account_id,
                "price.set",
                before=price_state(target, dict(state.prices).get(target)),
                after=price_state(target, value),
            )

    # ------------------------------------------------------------------ auto-reload (D21)

    def set_auto_reload(
        self,
        account_id: str,
        *,
        threshold: Decimal | None,
        amount: Decimal | None = None,
        target: Decimal | None = None,
        actor: Actor = PYTHON,
    ) -> WalletSettings:
        """Turn auto-reload on (a threshold, and a reload amount or a target balance, whole
        cents, at least the catalog's minimum deposit) or off (``threshold`` None)."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            settings = WalletSettings()
            if threshold is not None:
                wallet = catalog.wallet
                if wallet is None or not wallet.auto_reload:
                    raise InvalidInputError(f"catalog {catalog.catalog!r} offers no auto-reload")
                settings = _settings(
                    threshold, amount, target, catalog.currency, wallet.minimum_deposit
                )
            before = tx.wallet.settings(account_id)
            tx.wallet.set_settings(account_id, settings)
            self.ctx.changed(tx, account_id)  # a charge reads the threshold with the terms
            record(
                tx,
                self.ctx.now(),
                actor,
                account_id,
                "wallet.auto_reload_set",
                before=_reload_terms(before),
                after=_reload_terms(settings),
            )
            return settings

    # ------------------------------------------------------------------ entries

    def credit_in(
        self, tx: UnitOfWork, account_id: str, kind: EntryKind, amount: Decimal, reference: str
    ) -> Decimal | None:
        """Credit a confirmed payment once (a deposit, D24); None when it was credited before."""
        return move(tx, self._entry(account_id, kind, amount, reference=reference))

    def _entry(
        self,
        account_id: str,
        kind: EntryKind,
        amount: Decimal,
        *,
        reference: str | None = None,
        memo: str | None = None,
        operation: str | None = None,
        quantity: int = 0,
        item_id: str | None = None,
    ) -> LedgerEntry:
        return LedgerEntry(
            id=new_id("wle"),
            account_id=account_id,
            book=Book.WALLET,
            kind=kind,
            amount=amount,
            created_at=self.ctx.now(),
            operation=operation,
            quantity=quantity,
            item_id=item_id,
            reference=reference,
            memo=memo,
        )


def _settings(
    threshold: Decimal,
    amount: Decimal | None,
    target: Decimal | None,
    currency: str,
    minimum: Decimal,
) -> WalletSettings:
    if (amount is None) == (target is None):
        raise InvalidInputError("auto-reload takes a reload amount or a target balance, not both")
    limit = cents(threshold, "threshold", currency, Decimal("0.01"))
    if amount is not None:
        return WalletSettings(limit, cents(amount, "amount", currency, minimum), None)
    assert target is not None
    goal = cents(target, "target", currency, minimum)
    if goal <= limit:
        raise InvalidInputError("the target balance must be above the threshold", field="target")
    return WalletSettings(limit, None, goal)


__all__ = ["ChargeRequest", "ReloadStatus", "Wallets"]


def _reload_terms(settings: WalletSettings) -> dict[str, Decimal | None]:
    """The auto-reload settings a customer sets (what is owed is not one of them)."""
    return {"threshold": settings.threshold, "amount": settings.amount, "target": settings.target}
