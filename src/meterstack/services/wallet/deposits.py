"""Deposits (D24): a hosted checkout of an amount, credited once when the provider confirms.

The amount is whole cents and at least the catalog's ``minimum_deposit``; the return URLs are
checked as a plan checkout's are (D30); a plan without payments (AgentStack's ANONYMOUS) is
refused as it is for every payment (A8, D4). The checkout's amount is kept beside it, and the
provider's confirmation (``checkout.completed``, applied once by ``payments.service``) credits
the wallet with one ``deposit`` entry whose reference is the checkout: a second delivery, or a
second confirmation of the same checkout, finds it and credits nothing.
"""

from __future__ import annotations

from decimal import Decimal

from meterstack.errors import InvalidInputError, RefusedError
from meterstack.records.audit import PAYMENTS
from meterstack.records.payments import Checkout, CheckoutCharge, CheckoutRequest
from meterstack.records.wallet import Book, EntryKind, LedgerEntry
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.features import Features
from meterstack.services.wallet.amounts import cents
from meterstack.services.wallet.ledger import move
from meterstack.store.ports import UnitOfWork

DEPOSIT = "deposit"


class Deposits:
    def __init__(self, ctx: ServiceContext, features: Features) -> None:
        self.ctx = ctx
        self.features = features

    def open(
        self,
        tx: UnitOfWork,
        amount: object,
        request: CheckoutRequest,
        checkout_id: str,
        url: str,
        *,
        provider_url: str | None = None,
    ) -> Checkout:
        """Record a deposit checkout (its URL made by the provider) for ``amount``;
        ``provider_url``: the provider's own page, kept with the checkout."""
        account_id = request.account_id
        value = self._value(tx, account_id, amount).amount
        now = self.ctx.now()
        checkout = tx.payments.insert_checkout(
            checkout_id, request, url, now, provider_url=provider_url
        )
        tx.wallet.insert_deposit(checkout_id, account_id, value, now)
        return checkout

    def charge(self, account_id: str, amount: object) -> CheckoutCharge:
        """What a hosted checkout of the deposit charges: ``amount`` in whole cents, at least
        the catalog's minimum deposit (422 otherwise)."""
        with self.ctx.store.transaction() as tx:
            return self._value(tx, account_id, amount)

    def _value(self, tx: UnitOfWork, account_id: str, amount: object) -> CheckoutCharge:
        state = self.ctx.state(tx, account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        wallet = catalog.wallet
        if wallet is None:
            raise InvalidInputError(f"catalog {catalog.catalog!r} has no wallet")
        value = cents(amount, "amount", catalog.currency, wallet.minimum_deposit)
        return CheckoutCharge("Wallet deposit", value, catalog.currency)

    def check_allowed(self, account_id: str) -> None:
        """A plan without payments cannot deposit, nor reload off-session (403, as every
        payment of it is)."""
        decision = self.features.check_payment(account_id)
        if not decision.allowed:
            raise RefusedError(
                str(decision.code),
                decision.http_status,
                "deposits and reloads need payments, which the plan does not have: "
                f"{decision.message}",
                feature="payments",
                plan=decision.extra.get("plan"),
            )

    def credit_in(self, tx: UnitOfWork, checkout: Checkout) -> Decimal | None:
        """The confirmed deposit's credit (D24), once; None when it was credited before."""
        found = tx.wallet.deposit(checkout.id)
        if found is None:
            raise InvalidInputError(f"checkout {checkout.id} is not a deposit")
        account_id, amount = found
        entry = LedgerEntry(
            id=new_id("wle"),
            account_id=account_id,
            book=Book.WALLET,
            kind=EntryKind.DEPOSIT,
            amount=amount,
            created_at=self.ctx.now(),
            reference=checkout.id,
        )
        balance = move(tx, entry)
        if balance is not None:
            record(
                tx,
                entry.created_at,
                PAYMENTS,
                account_id,
                "wallet.deposit",
                before={"balance": balance - amount},
                after={"balance": balance, "amount": amount, "checkout_id": checkout.id},
            )
        return balance

    def amount(self, checkout_id: str) -> Decimal | None:
        with self.ctx.store.transaction() as tx:
            found = tx.wallet.deposit(checkout_id)
        return None if found is None else found[1]
