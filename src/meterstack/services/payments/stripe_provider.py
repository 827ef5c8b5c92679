"""The Stripe provider: hosted Checkout, the billing portal, off-session collection.

meterstack's invoice is the invoice of record (D10); Stripe collects. Each account gets one
Stripe Customer, created on first need and kept in meterstack's store (B4). A checkout is a
Stripe Checkout Session in payment mode that saves the card for off-session use, so that later
invoices and wallet reloads are charged without the buyer. Every request that moves money or
makes an object carries an idempotency key derived from meterstack's own ids; Stripe forgets
keys after 24 hours, so before making anything again the provider first looks for it by its
metadata (``meterstack_…``), and a retry days later finds what the first attempt made.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import stripe

from meterstack.errors import PaymentProviderUnavailableError
from meterstack.records.invoicing import Invoice
from meterstack.records.payments import (
    CheckoutCharge,
    CheckoutRequest,
    Collected,
    CustomerDetails,
    CustomerDirectory,
    PaymentProvider,
    PayoutRequest,
    RefundRequest,
)
from meterstack.services.payments import stripe_connect, stripe_invoices, stripe_refunds
from meterstack.services.payments.stripe_amounts import stripe_currency, to_stripe_amount
from meterstack.services.payments.stripe_calls import (
    ACCOUNT_KEY,
    CHECKOUT_KEY,
    COLLECTION_KEY,
    PORTAL_KEY,
    PORTAL_VERSION,
    decline_reason,
    metadata_of,
    metadata_query,
    provider_call,
)
from meterstack.services.payments.stripe_client import StripeSettings, stripe_client


@dataclass(frozen=True)
class StripeAccount:
    """The configuration of the Stripe provider, built by the engine once its store is open
    (:class:`~meterstack.records.payments.ProviderSetup`)."""

    settings: StripeSettings
    #: Where the buyer lands after a checkout or the portal when the request names no URL.
    return_url: str
    name: str = "stripe"

    def build(self, customers: CustomerDirectory) -> PaymentProvider:
        return StripeProvider(self.settings, customers, return_url=self.return_url)


class StripeProvider:
    """Stripe behind the payment port (:mod:`meterstack.records.payments`)."""

    #: The buyer pays on Stripe's page: a pack bought by a customer is a checkout first.
    needs_buyer_present = True

    def __init__(
        self,
        settings: StripeSettings,
        customers: CustomerDirectory,
        *,
        return_url: str,
        client: stripe.StripeClient | None = None,
    ) -> None:
        self.settings = settings
        self.customers = customers
        self.return_url = return_url
        self.client = client or stripe_client(settings)
        self._portal_configuration: str | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ customers

    def customer_for(self, account_id: str) -> str:
        """The account's Stripe Customer, made on first need (B4), with the account's email and
        name where meterstack knows them (Stripe's receipts and portal show who it is).

        Found in the store, else on Stripe by its metadata (a first attempt that made it but
        failed to keep it), else made with a key of the account's, so two first needs at once
        make one customer while Stripe keeps the key. An email or name that changed since the
        customer was last given them (a registration) is sent before the customer is used.
        """
        details = self.customers.details(account_id)
        known = self.customers.customer_id(account_id)
        if known is not None:
            if self.customers.sent_details(account_id) != details:
                self._send_details(account_id, known, details)
            return known
        query = metadata_query(ACCOUNT_KEY, account_id)
        found = provider_call(
            lambda: self.client.v1.customers.search(params={"query": query, "limit": 1})
        )
        if found.data:
            customer_id = found.data[0].id
        else:
            params: Any = {"metadata": {ACCOUNT_KEY: account_id}, **_details_params(details)}
            made = provider_call(
                lambda: self.client.v1.customers.create(
                    params=params,
                    options={"idempotency_key": f"meterstack-customer-{account_id}"},
                )
            )
            customer_id = made.id
        kept = self.customers.remember(account_id, customer_id)
        if found.data or kept != customer_id:
            # Made by an earlier attempt or a racing one, perhaps before the details changed.
            self._send_details(account_id, kept, details)
        else:
            self.customers.details_sent(account_id, details)
        return kept

    def _send_details(self, account_id: str, customer_id: str, details: CustomerDetails) -> None:
        params: Any = _details_params(details)
        if params:
            digest = hashlib.sha256(f"{details.email}\n{details.name}".encode()).hexdigest()[:16]
            provider_call(
                lambda: self.client.v1.customers.update(
                    customer_id,
                    params=params,
                    options={"idempotency_key": f"meterstack-customer-{account_id}-{digest}"},
                )
            )
        self.customers.details_sent(account_id, details)

    def default_payment_method(self, customer_id: str) -> str | None:
        """The card Stripe charges off-session: the customer's default, else its newest card."""
        customer = provider_call(lambda: self.client.v1.customers.retrieve(customer_id))
        settings = customer.invoice_settings
        default = settings.default_payment_method if settings is not None else None
        if default is not None:
            return default if isinstance(default, str) else default.id
        methods = provider_call(
            lambda: self.client.v1.customers.payment_methods.list(
                customer_id, params={"type": "card", "limit": 1}
            )
        )
        return methods.data[0].id if methods.data else None

    def has_payment_method(self, account_id: str) -> bool:
        customer_id = self.customers.customer_id(account_id)
        return customer_id is not None and self.default_payment_method(customer_id) is not None

    # ------------------------------------------------------------------ checkout

    def checkout_url(self, checkout_id: str) -> str:
        """Stripe's page of a checkout is kept with it when it is opened; this is only asked of
        a checkout the store holds no page for, which a Stripe checkout always has."""
        raise LookupError(f"checkout {checkout_id} has no Stripe page kept")

    def open_checkout(
        self, checkout_id: str, request: CheckoutRequest, charge: CheckoutCharge
    ) -> str:
        """A Checkout Session in payment mode for ``charge``; the card is saved for later
        off-session charges (invoices, reloads). The session names the checkout twice (the
        client reference and the metadata), which is how its webhooks find it. A charge of
        nothing (an upgrade the account's credit pays) opens no session, since Stripe takes no
        zero payment: meterstack pays the checkout itself, and its URL is the return page."""
        if charge.amount <= 0:
            return request.success_url or self.return_url
        customer_id = self.customer_for(request.account_id)
        metadata = {
            CHECKOUT_KEY: checkout_id,
            ACCOUNT_KEY: request.account_id,
            "meterstack_purpose": request.purpose,
        }
        params: Any = {
            "mode": "payment",
            "customer": customer_id,
            "client_reference_id": checkout_id,
            "metadata": metadata,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": stripe_currency(charge.currency),
                        "unit_amount": to_stripe_amount(charge.amount, charge.currency),
                        "product_data": {"name": charge.description},
                    },
                }
            ],
            "payment_intent_data": {"setup_future_usage": "off_session", "metadata": metadata},
            "success_url": request.success_url or self.return_url,
            "cancel_url": request.cancel_url or self.return_url,
        }
        session = provider_call(
            lambda: self.client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": f"meterstack-checkout-{checkout_id}"}
            )
        )
        if session.url is None:
            raise PaymentProviderUnavailableError("Stripe opened a checkout without a page")
        return session.url

    # ------------------------------------------------------------------ portal

    def portal_configuration(self) -> str:
        """The portal meterstack offers: payment methods and invoices, no plan changes (those
        go through meterstack's checkout). Made once, found again by its metadata."""
        with self._lock:
            if self._portal_configuration is not None:
                return self._portal_configuration
            listed = provider_call(
                lambda: self.client.v1.billing_portal.configurations.list(
                    params={"active": True, "limit": 100}
                )
            )
            for configuration in listed.data:
                if metadata_of(configuration).get(PORTAL_KEY) == PORTAL_VERSION:
                    self._portal_configuration = configuration.id
                    return configuration.id
            made = provider_call(
                lambda: self.client.v1.billing_portal.configurations.create(
                    params={
                        "features": {
                            "payment_method_update": {"enabled": True},
                            "invoice_history": {"enabled": True},
                            "customer_update": {
                                "enabled": True,
                                "allowed_updates": ["email", "address", "name"],
                            },
                            "subscription_update": {"enabled": False},
                            "subscription_cancel": {"enabled": False},
                        },
                        "metadata": {PORTAL_KEY: PORTAL_VERSION},
                    },
                    options={"idempotency_key": f"meterstack-portal-{PORTAL_VERSION}"},
                )
            )
            self._portal_configuration = made.id
            return made.id

    def portal_url(self, account_id: str) -> str:
        """A billing-portal session of the account's customer (B10); Stripe's link is short
        lived and single use."""
        customer_id = self.customer_for(account_id)
        configuration = self.portal_configuration()
        session = provider_call(
            lambda: self.client.v1.billing_portal.sessions.create(
                params={
                    "customer": customer_id,
                    "configuration": configuration,
                    "return_url": self.return_url,
                }
            )
        )
        return session.url

    # ------------------------------------------------------------------ off-session money

    def collect(self, account_id: str, amount: Decimal, currency: str, key: str) -> Collected:
        """Charge the saved card off-session (a wallet reload, D21), once per ``key``.

        A PaymentIntent carrying the key in its metadata is looked for first: a retry after
        Stripe forgot the idempotency key finds the first charge instead of making another.
        """
        customer_id = self.customer_for(account_id)
        query = metadata_query(COLLECTION_KEY, key)
        found = provider_call(
            lambda: self.client.v1.payment_intents.search(params={"query": query, "limit": 10})
        )
        for intent in found.data:
            if intent.status == "succeeded":
                return Collected(True, key)
        method = self.default_payment_method(customer_id)
        if method is None:
            return Collected(False, key, "no payment method on file")
        params: Any = {
            "amount": to_stripe_amount(amount, currency),
            "currency": stripe_currency(currency),
            "customer": customer_id,
            "payment_method": method,
            "confirm": True,
            "off_session": True,
            "metadata": {COLLECTION_KEY: key, ACCOUNT_KEY: account_id},
        }
        try:
            intent = provider_call(
                lambda: self.client.v1.payment_intents.create(
                    params=params, options={"idempotency_key": f"meterstack-collect-{key}"}
                )
            )
        except stripe.CardError as declined:
            return Collected(False, key, decline_reason(declined))
        if intent.status != "succeeded":
            return Collected(False, key, f"the payment is {intent.status}")
        return Collected(True, key)

    def collect_invoice(self, invoice: Invoice, attempt: int) -> Collected:
        """Collect a finalized invoice off-session, attempt ``attempt`` of dunning's (D29):
        mirrored on Stripe first (the same lines and total), then paid with the saved card."""
        customer_id = self.customer_for(invoice.account_id)
        method = self.default_payment_method(customer_id)
        return stripe_invoices.collect_invoice(self.client, invoice, attempt, customer_id, method)

    def record_paid(self, invoice: Invoice) -> None:
        """Mirror an invoice a checkout paid, so the portal lists it; nothing is charged."""
        customer_id = self.customer_for(invoice.account_id)
        stripe_invoices.record_paid(self.client, invoice, customer_id)

    # ------------------------------------------------------------------ Connect and refunds

    def connect_creator(self, creator_id: str, email: str | None) -> str:
        """The creator's Connect Express account, opened on first need."""
        return stripe_connect.connect_account(self.client, creator_id, email)

    def onboarding_link(self, provider_account: str, refresh_url: str, return_url: str) -> str:
        return stripe_connect.onboarding_link(
            self.client, provider_account, refresh_url, return_url
        )

    def pay_out(self, request: PayoutRequest) -> Collected:
        """A creator's payout as a transfer to their connected account, grouped by the payout's
        id and found again by that group before any new attempt (D23)."""
        return stripe_connect.pay_out(self.client, request)

    def refund(self, request: RefundRequest) -> Collected:
        """A deposit's refund, or a paid invoice's credit note refunding its charge."""
        return stripe_refunds.refund(self.client, request)


def _details_params(details: CustomerDetails) -> dict[str, str]:
    """The Customer's ``email`` and ``name`` meterstack knows (an unknown one is not sent,
    so a name given in Stripe's portal is not erased)."""
    params = {"email": details.email, "name": details.name}
    return {key: value for key, value in params.items() if value}
