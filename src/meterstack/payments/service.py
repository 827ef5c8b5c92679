"""Checkouts, the customer portal, and payment events applied once (B8, B10, B11, A6).

A customer's upgrade is a checkout: the plan changes only when the checkout is paid, and the
payment is reported as an event. Applying an event, marking its checkout paid and carrying out
what was bought happen in one transaction, keyed by the event's id: a second delivery of the same
event changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from meterstack.errors import ConflictError, InvalidInputError, NotFoundError
from meterstack.invoicing.purchases import PackPurchase, Purchases
from meterstack.payments.port import Checkout, CheckoutRequest, PaymentEvent, PaymentProvider
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.subscriptions import PlanChange, Subscriptions

CHECKOUT_COMPLETED = "checkout.completed"


@dataclass(frozen=True)
class EventOutcome:
    event_id: str
    #: False when the event had been applied before: nothing changed.
    applied: bool
    plan_change: PlanChange | None = None
    purchase: PackPurchase | None = None


class Payments:
    def __init__(
        self,
        ctx: ServiceContext,
        provider: PaymentProvider,
        subscriptions: Subscriptions,
        purchases: Purchases,
    ) -> None:
        self.ctx = ctx
        self.provider = provider
        self.subscriptions = subscriptions
        self.purchases = purchases

    def checkout(self, request: CheckoutRequest) -> Checkout:
        """A hosted checkout for an upgrade (tier and interval) or a pack."""
        if request.purpose == "plan":
            if request.plan_id is None:
                raise InvalidInputError("a plan checkout needs the tier")
            if not self.subscriptions.is_upgrade(
                request.account_id, request.plan_id, request.billing_interval
            ):
                raise InvalidInputError(
                    "a checkout is for upgrades; downgrades and cancellations need no payment",
                    plan=request.plan_id,
                )
        elif request.purpose == "pack":
            if request.pack_id is None:
                raise InvalidInputError("a pack checkout needs the pack")
            self.purchases.check_pack(request.account_id, request.pack_id)
        else:
            raise InvalidInputError(f"purpose must be 'plan' or 'pack', got {request.purpose!r}")
        checkout_id = new_id("cs")
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, request.account_id)
            return tx.payments.insert_checkout(
                checkout_id, request, self.provider.checkout_url(checkout_id), self.ctx.now()
            )

    def checkout_of(self, checkout_id: str) -> Checkout:
        with self.ctx.store.transaction() as tx:
            found = tx.payments.checkout(checkout_id, self.provider.checkout_url(checkout_id))
        if found is None:
            raise NotFoundError(f"no checkout {checkout_id!r}", checkout_id=checkout_id)
        return found

    def portal_url(self, account_id: str) -> str:
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
        return self.provider.portal_url(account_id)

    def pay(self, checkout_id: str) -> EventOutcome:
        """The local provider's payment page: paying fires ``checkout.completed``."""
        self.checkout_of(checkout_id)
        return self.apply(
            PaymentEvent(f"evt_{checkout_id}", CHECKOUT_COMPLETED, {"checkout_id": checkout_id})
        )

    def apply(self, event: PaymentEvent) -> EventOutcome:
        """Apply a provider's payment event once, whatever the number of deliveries."""
        if event.type != CHECKOUT_COMPLETED:
            raise InvalidInputError(f"unsupported payment event type {event.type!r}")
        checkout_id = event.data.get("checkout_id")
        if not isinstance(checkout_id, str):
            raise InvalidInputError("a checkout.completed event needs data.checkout_id")
        with self.ctx.store.transaction() as tx:
            if not tx.payments.record_event(event, self.ctx.now()):
                return EventOutcome(event.id, applied=False)
            found = tx.payments.checkout(checkout_id, self.provider.checkout_url(checkout_id))
            if found is None:
                raise NotFoundError(f"no checkout {checkout_id!r}", checkout_id=checkout_id)
            if not tx.payments.close_checkout(checkout_id, "paid"):
                raise ConflictError(
                    f"checkout {checkout_id} is {found.status}, not open", checkout_id=checkout_id
                )
            if found.purpose == "plan":
                assert found.plan_id is not None
                change = self.subscriptions.change_plan_in(
                    tx, found.account_id, found.plan_id, found.billing_interval, paid=True
                )
                return EventOutcome(event.id, applied=True, plan_change=change)
            assert found.pack_id is not None
            purchase = self.purchases.buy_pack_in(tx, found.account_id, found.pack_id)
            return EventOutcome(event.id, applied=True, purchase=purchase)
