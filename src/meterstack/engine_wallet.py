"""The engine's doors to the prepaid wallet (B2, B3, D20–D24), mixed into :class:`Engine`."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from meterstack.records.audit import PYTHON, Actor
from meterstack.records.payments import Checkout, MoneyRefund
from meterstack.records.wallet import (
    Book,
    Charge,
    ChargeRequest,
    CreatorAccount,
    EntryPage,
    MarketplaceItem,
    Payout,
    Reload,
    WalletSettings,
    WalletView,
)
from meterstack.services.payments.service import Payments
from meterstack.services.wallet.deposits import Deposits
from meterstack.services.wallet.service import Wallets


class WalletMixin:
    """Charges, balance, history and levers of the wallet; each delegates to ``self._wallets``."""

    _wallets: Wallets
    _payments: Payments
    _deposits: Deposits

    def deposit(
        self,
        account_id: str,
        amount: Decimal,
        *,
        success_url: str | None = None,
        cancel_url: str | None = None,
    ) -> Checkout:
        """A hosted checkout of a wallet deposit (D24): whole cents, at least the catalog's
        minimum; credited once when the provider confirms payment."""
        return self._payments.deposit(
            account_id, amount, success_url=success_url, cancel_url=cancel_url
        )

    def deposit_amount(self, checkout_id: str) -> Decimal | None:
        """The amount of a deposit checkout; None for another checkout."""
        return self._deposits.amount(checkout_id)

    def charge(
        self,
        account_id: str,
        operation: str,
        quantity: int = 1,
        *,
        byok: bool = False,
        item_id: str | None = None,
        max_price: Decimal | None = None,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Charge:
        """Charge a pay-per-use operation from the wallet, in one admission with the meter it
        counts (if any): both or neither.

        The price is the catalog's, the marketplace item's (``item_id``) or the operator's for
        the account (D14); a BYOK run of a ``byok_free`` operation costs 0 and is recorded (B3,
        D22). A balance that does not cover it answers 402 ``insufficient_balance``; a price
        above ``max_price`` 409 ``price_changed``; either records nothing. Idempotent per D7.
        """
        return self._wallets.charge(
            ChargeRequest(
                account_id,
                operation,
                quantity,
                byok=byok,
                item_id=item_id,
                max_price=max_price,
                project_id=project_id,
                idempotency_key=idempotency_key,
            )
        )

    def wallet(self, account_id: str) -> WalletView:
        """The balance and the auto-reload settings."""
        return self._wallets.view(account_id)

    def wallet_transactions(
        self, account_id: str, *, before: str | None = None, limit: int = 50
    ) -> EntryPage:
        """The wallet's ledger, newest first, a page at a time."""
        return self._wallets.transactions(account_id, before=before, limit=limit)

    def earnings_entries(
        self, account_id: str, *, before: str | None = None, limit: int = 50
    ) -> EntryPage:
        """A creator's earnings ledger (D23), newest first."""
        return self._wallets.transactions(
            account_id, before=before, limit=limit, book=Book.EARNINGS
        )

    def adjust_wallet(
        self, account_id: str, amount: Decimal, reason: str, *, actor: Actor = PYTHON
    ) -> Decimal:
        """An operator's correction of the balance, either sign (never below zero: 402)."""
        return self._wallets.adjust(account_id, amount, reason, actor=actor)

    def refund_charge(
        self, entry_id: str, *, account_id: str | None = None, actor: Actor = PYTHON
    ) -> Decimal:
        """Give a charge back to the wallet, once; a marketplace call's split is clawed back."""
        return self._wallets.refund(entry_id, account_id=account_id, actor=actor)

    def refund_deposit(
        self, entry_id: str, amount: Decimal | None = None, *, actor: Actor = PYTHON
    ) -> Decimal:
        """Refund a deposit (all of it, or ``amount``), once, at most the unspent balance, and
        send it to the provider; the balance after it (:meth:`refunds` says what was sent)."""
        balance, _ = self._wallets.refund_deposit(entry_id, amount, actor=actor)
        return balance

    def refunds(self, source: str, reference: str) -> list[MoneyRefund]:
        """What was given back through the provider for a deposit (``deposit``, its ledger
        entry) or an invoice (``invoice``, its number): pending until the provider confirms."""
        return self._wallets.refunds.of(source, reference)

    def send_refunds(self) -> list[MoneyRefund]:
        """Ask the provider again for every refund still pending; those it settled."""
        return self._wallets.refunds.send_pending()

    def charge_account(self, entry_id: str) -> str:
        """The account a ledger entry belongs to (404 for an unknown entry)."""
        return self._wallets.entry(entry_id).account_id

    def set_wallet_price(
        self, account_id: str, operation: str, price: Decimal | None, *, actor: Actor = PYTHON
    ) -> None:
        """An operator's price of one operation for one account (D14); None removes it."""
        self._wallets.set_price(account_id, operation, price, actor=actor)

    def set_auto_reload(
        self,
        account_id: str,
        *,
        threshold: Decimal | None,
        amount: Decimal | None = None,
        target: Decimal | None = None,
        actor: Actor = PYTHON,
    ) -> WalletSettings:
        """Auto-reload (D21): below ``threshold``, reload ``amount`` or up to ``target``;
        ``threshold=None`` turns it off. A reload is an off-session deposit: a plan without
        payments cannot turn it on (403, as its deposits are refused)."""
        if threshold is not None:
            self._deposits.check_allowed(account_id)
        return self._wallets.set_auto_reload(
            account_id, threshold=threshold, amount=amount, target=target, actor=actor
        )

    def wallet_spend(self, account_id: str) -> dict[str, tuple[int, Decimal]]:
        """The current period's wallet spend by operation: (quantity, amount), refunds netted.
        The period statement's own section; invoice lines (and totals) do not include it."""
        return self._wallets.spend(account_id)

    def wallet_reloads(self, account_id: str) -> list[Reload]:
        return self._wallets.reload_history(account_id)

    def collect_reloads(self, account_id: str) -> list[Reload]:
        """Settle the account's reloads still pending (a collection a crash interrupted)."""
        return self._wallets.collect_pending(account_id)

    # ------------------------------------------------------------------ marketplace (D23)

    def create_item(
        self,
        creator_id: str,
        name: str,
        price: Decimal,
        *,
        operation: str | None = None,
        actor: Actor = PYTHON,
    ) -> MarketplaceItem:
        """Publish a creator's item, priced per call (at most the catalog's maximum)."""
        return self._wallets.marketplace.create_item(
            creator_id, name, price, operation=operation, actor=actor
        )

    def set_item_price(
        self,
        item_id: str,
        price: Decimal,
        *,
        creator_id: str | None = None,
        actor: Actor = PYTHON,
    ) -> MarketplaceItem:
        return self._wallets.marketplace.set_price(
            item_id, price, creator_id=creator_id, actor=actor
        )

    def item(self, item_id: str) -> MarketplaceItem:
        return self._wallets.marketplace.item(item_id)

    def items(self, creator_id: str) -> list[MarketplaceItem]:
        return self._wallets.marketplace.items_of(creator_id)

    def run_payouts(
        self, *, progress: Callable[[int], None] | None = None, actor: Actor = PYTHON
    ) -> list[Payout]:
        """Pay every creator whose earnings reach the catalog's ``minimum_payout``, in whole
        cents, through the provider; safe to re-run, even after a crash midway (D23)."""
        return self._wallets.payouts.run(progress, actor=actor)

    def onboarding_link(
        self, creator_id: str, *, refresh_url: str, return_url: str, actor: Actor = PYTHON
    ) -> str:
        """Where a creator sets up the provider account payouts are paid to (Stripe Connect's
        hosted onboarding); the account is opened on first need. 409 ``onboarding_not_needed``
        with a provider that pays creators as they are (the local one)."""
        return self._payments.onboarding_link(creator_id, refresh_url, return_url, actor=actor)

    def creator_account(self, creator_id: str) -> CreatorAccount | None:
        """The creator's provider account and whether it can be paid yet; None before the
        first onboarding link."""
        return self._payments.creator_account(creator_id)

    def earnings(self, creator_id: str) -> Decimal:
        """A creator's earnings not yet paid out (negative after a clawback)."""
        return self._wallets.earnings(creator_id)
