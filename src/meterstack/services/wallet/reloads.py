"""Auto-reload (D21): one reload per crossing of the threshold, credited only when paid.

The charge that takes the balance from at-or-above the threshold to below it is known inside
the admission (its totals say where the balance went, and charges of one wallet are serialized
by its counter row), so exactly one charge of any number racing starts the reload, whose id is
derived from that charge. The reload row is written in the charge's transaction; the
collection is asked of the provider after the commit with the reload's id as idempotency key,
so a retry (``collect_pending``, after a crash) never collects twice. A declined collection is
recorded and announced (``wallet.reload_failed``); the wallet stays usable down to zero, and
the next crossing (after a deposit brought the balance back up) tries again.
"""

from __future__ import annotations

from datetime import datetime

from meterstack.records.audit import AUTO_RELOAD
from meterstack.records.payments import MoneyMover
from meterstack.records.wallet import (
    Book,
    Charge,
    EntryKind,
    LedgerEntry,
    Reload,
    ReloadStatus,
)
from meterstack.rules.wallet import ReloadSettings, reload_amount
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.wallet.ledger import move
from meterstack.services.webhooks.catalogue import WalletLowBalance, WalletReloadFailed
from meterstack.services.webhooks.outbox import publish
from meterstack.store.ports import UnitOfWork


class Reloads:
    def __init__(self, ctx: ServiceContext, mover: MoneyMover | None) -> None:
        self.ctx = ctx
        self.mover = mover

    def start(self, tx: UnitOfWork, account_id: str, charge: Charge, now: datetime) -> None:
        """In the charge's transaction: the reload its crossing starts (D21)."""
        assert charge.reload_id is not None
        settings = tx.wallet.settings(account_id)
        state = self.ctx.state(tx, account_id)
        currency = self.ctx.catalog(tx, state.catalog_hash).currency
        assert settings.threshold is not None
        publish(
            tx,
            "wallet.low_balance",
            account_id,
            WalletLowBalance(
                account_id=account_id,
                balance=charge.balance,
                threshold=settings.threshold,
                currency=currency,
            ),
            at=now,
        )
        if self.mover is None:
            return  # no provider to collect from: the threshold is only announced
        rule = ReloadSettings(settings.threshold, settings.amount, settings.target)
        amount = reload_amount(rule, charge.balance, currency)
        if amount <= 0:
            return
        tx.wallet.insert_reload(
            Reload(charge.reload_id, account_id, amount, ReloadStatus.PENDING, now)
        )

    def collect(self, reload_id: str, account_id: str) -> Reload | None:
        """Ask the provider for a pending reload and settle it: credited when paid, recorded
        and announced when declined. None when it was not pending."""
        if self.mover is None:
            return None
        with self.ctx.store.transaction() as tx:
            pending = {r.id: r for r in tx.wallet.reloads(account_id, pending=True)}
            state = self.ctx.state(tx, account_id)
            currency = self.ctx.catalog(tx, state.catalog_hash).currency
        reload = pending.get(reload_id)
        if reload is None:
            return None
        outcome = self.mover.collect(account_id, reload.amount, currency, reload.id)
        now = self.ctx.now()
        with self.ctx.store.transaction() as tx:
            status = ReloadStatus.PAID if outcome.paid else ReloadStatus.FAILED
            if not tx.wallet.settle_reload(reload.id, status, outcome.reason, now):
                return None  # settled by another worker meanwhile
            if outcome.paid:
                balance = move(
                    tx,
                    LedgerEntry(
                        id=new_id("wle"),
                        account_id=account_id,
                        book=Book.WALLET,
                        kind=EntryKind.RELOAD,
                        amount=reload.amount,
                        created_at=now,
                        reference=reload.id,
                    ),
                )
                if balance is not None:
                    record(
                        tx,
                        now,
                        AUTO_RELOAD,
                        account_id,
                        "wallet.reload",
                        before={"balance": balance - reload.amount},
                        after={"balance": balance, "amount": reload.amount, "reload_id": reload.id},
                    )
            else:
                publish(
                    tx,
                    "wallet.reload_failed",
                    account_id,
                    WalletReloadFailed(
                        account_id=account_id,
                        amount=reload.amount,
                        currency=currency,
                        reason=outcome.reason or "declined",
                    ),
                    at=now,
                )
        return Reload(
            reload.id, account_id, reload.amount, status, reload.created_at, now, outcome.reason
        )

    def collect_pending(self, account_id: str) -> list[Reload]:
        """Settle every reload still pending (one whose collection a crash interrupted)."""
        with self.ctx.store.transaction() as tx:
            pending = tx.wallet.reloads(account_id, pending=True)
        settled = [self.collect(reload.id, account_id) for reload in pending]
        return [reload for reload in settled if reload is not None]
