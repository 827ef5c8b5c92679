"""The provider's customer of each account, kept in meterstack's store (B4).

A provider with customers of its own (Stripe) makes one per account on first need; this is
where it finds it again, and what ``GET /api/billing`` reports as ``stripe_customer_id``.
"""

from __future__ import annotations

from meterstack.records.payments import CustomerDetails
from meterstack.services.context import ServiceContext


class StoredCustomers:
    """:class:`~meterstack.records.payments.CustomerDirectory` over the store."""

    def __init__(self, ctx: ServiceContext, provider: str) -> None:
        self.ctx = ctx
        self.provider = provider

    def customer_id(self, account_id: str) -> str | None:
        with self.ctx.store.transaction() as tx:
            return tx.payments.customer_id(account_id, self.provider)

    def remember(self, account_id: str, customer_id: str) -> str:
        with self.ctx.store.transaction() as tx:
            return tx.payments.remember_customer(
                account_id, self.provider, customer_id, self.ctx.now()
            )

    def details(self, account_id: str) -> CustomerDetails:
        with self.ctx.store.transaction() as tx:
            row = tx.accounts.get(account_id)
        return CustomerDetails() if row is None else CustomerDetails(row.email, row.name)

    def sent_details(self, account_id: str) -> CustomerDetails | None:
        with self.ctx.store.transaction() as tx:
            return tx.payments.customer_details(account_id, self.provider)

    def details_sent(self, account_id: str, details: CustomerDetails) -> None:
        with self.ctx.store.transaction() as tx:
            tx.payments.set_customer_details(account_id, self.provider, details)
