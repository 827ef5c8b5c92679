"""Disputes of payments: recorded when opened, decided won or lost, each change announced once.

Only deposits used to react to a dispute; a dispute of an invoice's payment or of an automatic
reload changed nothing, and no one heard of it. Now every dispute of a payment meterstack took
(a deposit, a reload, an invoice paid by a checkout or collected off-session) is recorded when
the provider reports it, whatever the order its events arrive in (a decision reported first
records the dispute as opened, then decides it), and visible with its status. Deciding it:

- **won**: the payment stands. Nothing was taken when it opened (the customer keeps what was
  bought while the bank decides), so nothing is given back.
- **lost** on a deposit or a reload (both credited the wallet): the wallet gives the amount
  back, down to zero, and the rest is owed (``wallet.disputes``).
- **lost** on an invoice's payment: the invoice is unpaid again, ``uncollectible``, and the
  account moves to the fallback plan until it is paid (D29's end state; paying it restores the
  plan), without charging the disputed card again.

Each status change writes ``dispute.opened`` or ``dispute.closed`` to the outbox in the
transaction that records it. A dispute of a payment meterstack does not know changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from meterstack.errors import InvalidInputError
from meterstack.records.invoicing import Invoice
from meterstack.records.payments import PaymentDispute
from meterstack.services.context import ServiceContext
from meterstack.services.wallet.amounts import amount_of
from meterstack.services.wallet.disputes import Disputes, LostDispute
from meterstack.services.webhooks.announce import announce_dispute
from meterstack.store.ports import UnitOfWork

#: The cardholder's bank disputes a payment: ``payment`` (what was paid: a deposit's checkout,
#: a reload's id, or the provider's id of the payment), ``amount`` (decimal string),
#: ``dispute_id``; ``invoice_number`` when the provider knows the invoice the payment paid.
DISPUTE_OPENED = "dispute.opened"
#: The bank decided for the merchant: the payment stands. The same data.
DISPUTE_WON = "dispute.won"
#: The bank decided for the cardholder: the money went back. The same data.
DISPUTE_LOST = "dispute.lost"
_STATUS = {DISPUTE_OPENED: "open", DISPUTE_WON: "won", DISPUTE_LOST: "lost"}


class DisputedInvoices(Protocol):
    """Where a lost dispute of an invoice's payment is carried out (the collections service,
    D29), in the transaction that records it; whether it changed anything."""

    def dispute_lost_in(self, tx: UnitOfWork, invoice: Invoice, reason: str) -> bool: ...


@dataclass(frozen=True)
class DisputeChange:
    """What one dispute event changed."""

    dispute: PaymentDispute
    #: What a lost dispute took from the wallet, on a deposit or a reload.
    lost: LostDispute | None = None
    #: Whether a lost dispute made the invoice unpaid again.
    invoice_reopened: bool = False


@dataclass(frozen=True)
class _Paid:
    """What a disputed payment paid for."""

    account_id: str
    source: str
    reference: str
    amount: Decimal
    currency: str
    invoice: Invoice | None = None


class PaymentDisputes:
    def __init__(
        self, ctx: ServiceContext, wallet: Disputes, invoices: DisputedInvoices | None
    ) -> None:
        self.ctx = ctx
        self.wallet = wallet
        self.invoices = invoices

    def apply_in(self, tx: UnitOfWork, kind: str, data: dict[str, Any]) -> DisputeChange | None:
        """A dispute event, in the transaction that records it; None when it changed nothing
        (the payment is not one meterstack took, or the dispute was decided before)."""
        status = _STATUS[kind]
        dispute_id, payment = data.get("dispute_id"), data.get("payment")
        if not isinstance(dispute_id, str) or not dispute_id or not isinstance(payment, str):
            raise InvalidInputError(f"a {kind} event needs data.payment and data.dispute_id")
        value = amount_of(data.get("amount"), "amount", positive=True)
        hint = data.get("invoice_number")
        paid = self._paid(tx, payment, hint if isinstance(hint, str) else None)
        if paid is None:
            return None
        if value > paid.amount:
            raise InvalidInputError(
                f"the dispute of {value} is above the payment of {paid.amount}", field="amount"
            )
        now = self.ctx.now()
        known = tx.movements.dispute(dispute_id)
        opened = known is None
        if known is None:
            known = PaymentDispute(
                dispute_id,
                paid.account_id,
                paid.source,
                paid.reference,
                payment,
                value,
                paid.currency,
                "open",
                now,
            )
            opened = tx.movements.insert_dispute(known)
            if opened:
                announce_dispute(tx, known, None)
        if status == "open":
            return DisputeChange(known) if opened else None
        if not tx.movements.close_dispute(dispute_id, status, now):
            return None  # decided before: a second decision changes nothing
        decided = tx.movements.dispute(dispute_id)
        assert decided is not None
        change = DisputeChange(decided)
        outcome = None
        if status == "lost":
            change, outcome = self._lost(tx, paid, decided)
        announce_dispute(tx, decided, outcome)
        return change

    def _lost(
        self, tx: UnitOfWork, paid: _Paid, dispute: PaymentDispute
    ) -> tuple[DisputeChange, str | None]:
        if paid.invoice is not None:
            reopened = self.invoices is not None and self.invoices.dispute_lost_in(
                tx, paid.invoice, f"dispute {dispute.id} lost: the payment went back"
            )
            outcome = "invoice_uncollectible" if reopened else None
            return DisputeChange(dispute, invoice_reopened=reopened), outcome
        what = "checkout" if paid.source == "deposit" else "reload"
        lost = self.wallet.take_back_in(
            tx,
            dispute.id,
            paid.account_id,
            paid.amount,
            dispute.amount,
            f"{what} {paid.reference}",
            paid.reference,
        )
        return DisputeChange(dispute, lost=lost), "wallet_debited" if lost is not None else None

    def _paid(self, tx: UnitOfWork, payment: str, invoice_number: str | None) -> _Paid | None:
        """What ``payment`` paid: a deposit, a checkout's invoice, a reload, or the invoice the
        provider named."""
        checkout_id = tx.movements.deposit_of_payment(payment)
        if checkout_id is not None:
            found = tx.wallet.deposit(checkout_id)
            assert found is not None, "a deposit's payment names a deposit"
            account_id, amount = found
            return _Paid(account_id, "deposit", checkout_id, amount, self._currency(tx, account_id))
        reload = tx.movements.paid_reload(payment)
        if reload is not None:
            account_id, amount = reload
            return _Paid(account_id, "reload", payment, amount, self._currency(tx, account_id))
        number = tx.payments.invoice_of_payment(payment) or invoice_number
        invoice = None if number is None else tx.invoices.by_number(number)
        if invoice is None or invoice.number is None:
            return None
        return _Paid(
            invoice.account_id,
            "invoice",
            invoice.number,
            invoice.total,
            invoice.currency,
            invoice,
        )

    def _currency(self, tx: UnitOfWork, account_id: str) -> str:
        state = self.ctx.state(tx, account_id)
        return self.ctx.catalog(tx, state.catalog_hash).currency

    def of(self, account_id: str) -> list[PaymentDispute]:
        """The account's disputes, oldest first; 404 for an unknown account."""
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            return tx.movements.disputes_of(account_id)
