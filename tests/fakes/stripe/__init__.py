"""A stateful fake of Stripe's API, for tests that drive the real ``stripe`` library.

What it follows
    Stripe API version ``2026-10-28.endive``, the version ``stripe==16.1.0`` pins
    (``stripe._api_version``). Every request is validated against that library's typed parameter
    definitions (``stripe.params``): an unknown parameter is Stripe's 400 ``parameter_unknown``
    naming it, a missing required one ``parameter_missing``, a bad integer
    ``parameter_invalid_integer``, an unpublished enum value a 400 on its ``param``. Objects
    carry Stripe's id prefixes and ``object`` names and every field of the library's resource
    class (``null`` where the fake models nothing); lists page with ``limit``,
    ``starting_after`` and ``ending_before``; search takes Stripe's query language
    (``metadata['k']:'v'``, ``AND``/``OR``, ``-``, ``~``, comparisons); ``expand[]`` works on
    every field the library declares expandable, and on the includable ``invoice.payments`` and
    ``checkout.session.line_items``. Errors have Stripe's shape and statuses (400, 401, 402 with
    the PaymentIntent for a declined card, 404 ``resource_missing``). Idempotency keys replay
    the saved answer with ``Idempotent-Replayed: true``, refuse other parameters with 400
    ``idempotency_error``, and are forgotten after 24 hours of the fake's clock. Webhooks are
    signed as Stripe signs them and verify with ``stripe.Webhook.construct_event``.

What it serves
    Customers (create, retrieve, update, list, search) and card payment methods (Stripe's test
    tokens such as ``pm_card_visa`` and ``pm_card_chargeCustomerFail``); Checkout Sessions in
    payment and setup mode with ``price_data`` lines (create, retrieve, list, line items,
    expire); PaymentIntents (create, confirm on and off session, cancel, list, search), charges,
    refunds and SetupIntents; invoices, invoice items and lines (draft, add lines, finalize,
    pay, void, mark uncollectible, delete, list, search, auto-advance on the fake's clock) and
    invoice payments; credit notes; disputes; billing portal configurations and sessions;
    Connect Express accounts, account links and transfers (list by ``transfer_group``); events
    and webhook endpoints.

What it does not
    Subscriptions, prices and products as objects (``price_data`` with ``product_data`` only),
    coupons, taxes, customer balance applied to invoices, Smart Retries (a fixed 3-day retry
    stands in), 3-D Secure, the platform's balance (a transfer never lacks funds), requests on
    behalf of a connected account (``Stripe-Account``), other API versions, live mode, rate
    limits, and the search index's lag unless ``serve(search_delay=...)`` asks for it. Webhooks
    are delivered when a test calls ``deliver()``, never on their own, and no automatic retry
    schedule runs. Hosted pages (checkout, portal, onboarding) are placeholders: the control API
    (``/_fake/...``, ``FakeStripeHandle``) plays the buyer, the bank and time.
"""

from __future__ import annotations

from .handle import DEFAULT_API_KEY, FakeStripeControlError, FakeStripeHandle, expanded, serve
from .state import API_VERSION

__all__ = [
    "API_VERSION",
    "DEFAULT_API_KEY",
    "FakeStripeControlError",
    "FakeStripeHandle",
    "expanded",
    "serve",
]
