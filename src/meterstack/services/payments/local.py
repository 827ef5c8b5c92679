"""The embedded payment provider, for development: no payment account anywhere, so a laptop runs
the whole flow.

Checkout sessions live in meterstack's own database; the hosted pages are served by meterstack
itself (``server/pages.py``); paying one fires the same ``checkout.completed`` event a real
provider's webhook would. Paying needs nothing but the page, so the page is bound to a secret:
the checkout URL given to the account carries ``secret``, an HMAC of the checkout id under the
provider's own secret, and the pay step refuses any other value (compared in constant time).
Knowing a checkout id is therefore not enough to pay it (and so to change a plan, or to buy a
pack at someone else's expense). The portal URL carries a token made the same way from the
account id and the link's expiry (an hour after it was given, by default), so an account id
alone does not open its portal, and a link that leaked (a browser history, a log) stops working.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

from meterstack.clock import SystemClock
from meterstack.errors import IdempotencyKeyReusedError
from meterstack.records.invoicing import Invoice
from meterstack.records.payments import (
    Collected,
    PayoutRequest,
    RefundRequest,
    attempt_key,
)

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass
class LocalProvider:
    public_url: str = DEFAULT_PUBLIC_URL
    #: Signs checkout and portal links; give a stable one (``meterstack serve`` derives it from
    #: the operator key) so that links survive a restart.
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    #: The local provider collects without the buyer: packs are granted at once (D11).
    needs_buyer_present: bool = False
    #: How long a portal link opens the portal after it was given.
    portal_lifetime: timedelta = timedelta(hours=1)
    #: The decline switch: while True, every off-session collection (a wallet's auto-reload,
    #: D21, and an invoice's collection attempt, D29) is declined, as a card would be; set it to
    #: test a failed reload or a dunning run end to end.
    decline_collections: bool = False
    #: While True, refunds are refused (as a provider refuses one of a disputed charge), so that
    #: a refund left pending and sent again later is tested end to end.
    decline_refunds: bool = False
    #: What was collected and paid out, by idempotency key: a key asked again answers as the
    #: first time and moves no money twice (as a real provider's idempotency keys do).
    collections: dict[str, Collected] = field(default_factory=dict, repr=False)
    #: What each collection key was asked for (account, amount, currency): a key asked again
    #: for something else is refused, as a real provider refuses a reused key.
    collection_requests: dict[str, tuple[str, Decimal, str]] = field(
        default_factory=dict, repr=False
    )
    payouts: dict[str, Collected] = field(default_factory=dict, repr=False)
    #: What was given back (a deposit's refund, an invoice's credit note), by refund id.
    refunds: dict[str, RefundRequest] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def checkout_url(self, checkout_id: str) -> str:
        base = self.public_url.rstrip("/")
        secret = self.checkout_secret(checkout_id)
        return f"{base}/billing/checkout/{quote(checkout_id, safe='')}?secret={secret}"

    def portal_url(self, account_id: str) -> str:
        """A portal link from now on the system clock; an engine gives :meth:`portal_link` its
        own clock's time instead."""
        return self.portal_link(account_id, SystemClock().now())

    def portal_link(self, account_id: str, now: datetime) -> str:
        """A link to the account's portal that opens it until ``now`` + the lifetime."""
        expires = int((now + self.portal_lifetime).timestamp())
        token = f"{expires}.{self._sign(f'portal:{account_id}:{expires}')}"
        base = self.public_url.rstrip("/")
        return f"{base}/billing/portal/{quote(account_id, safe='')}?token={token}"

    def accepts_portal_token(self, account_id: str, token: str | None, now: datetime) -> bool:
        """Whether ``token`` is a portal link's own for the account and has not expired."""
        expires, _, signature = (token or "").partition(".")
        if not expires.isdigit() or len(expires) > 12:
            return False
        expected = self._sign(f"portal:{account_id}:{expires}")
        signed = hmac.compare_digest(signature.encode(), expected.encode())
        return signed and now.timestamp() < int(expires)

    def has_payment_method(self, account_id: str) -> bool:
        """The local provider collects by itself: every account can be charged."""
        del account_id
        return True

    def collect(self, account_id: str, amount: Decimal, currency: str, key: str) -> Collected:
        """Charge the account's payment method off-session (a wallet reload, D21)."""
        with self._lock:
            asked = (account_id, amount, currency)
            if self.collection_requests.setdefault(key, asked) != asked:
                raise IdempotencyKeyReusedError(
                    f"collection key {key!r} was used for another charge", key=key
                )
            done = self.collections.get(key)
            if done is None:
                done = (
                    Collected(False, key, "card_declined: the decline switch is on")
                    if self.decline_collections
                    else Collected(True, key)
                )
                self.collections[key] = done
            return done

    def collect_invoice(self, invoice: Invoice, attempt: int) -> Collected:
        """Collect a finalized invoice's total off-session (D29), through the decline switch;
        the answer is final at once (the local provider has no asynchronous outcomes)."""
        if invoice.number is None:
            raise ValueError("only a finalized (numbered) invoice can be collected")
        key = attempt_key(invoice.number, attempt)
        return self.collect(invoice.account_id, invoice.total, invoice.currency, key)

    def pay_out(self, request: PayoutRequest) -> Collected:
        """Pay a creator (D23): recorded here, once per payout whatever the attempts; the
        Stripe provider makes a Connect transfer."""
        with self._lock:
            done = self.payouts.get(request.key)
            if done is None:
                done = self.payouts[request.key] = Collected(True, request.key)
            return done

    def refund(self, request: RefundRequest) -> Collected:
        """Give a payment back (a deposit's refund, a paid invoice's credit note): recorded
        here, once per refund whatever the attempts."""
        with self._lock:
            if request.key not in self.refunds and self.decline_refunds:
                return Collected(False, request.key, "refund refused: the decline switch is on")
            self.refunds.setdefault(request.key, request)
            return Collected(True, request.key)

    def checkout_secret(self, checkout_id: str) -> str:
        """The pay secret of one checkout, carried only by its URL."""
        return self._sign(f"checkout:{checkout_id}")

    def accepts_checkout_secret(self, checkout_id: str, secret: str | None) -> bool:
        """Whether ``secret`` is the checkout's own, compared in constant time."""
        if not secret:
            return False
        expected = self.checkout_secret(checkout_id)
        return hmac.compare_digest(secret.encode(), expected.encode())

    def _sign(self, message: str) -> str:
        digest = hmac.new(self.secret.encode(), message.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]
