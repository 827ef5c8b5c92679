"""The embedded payment provider: no payment account anywhere, so a laptop runs the whole flow.

Checkout sessions live in meterstack's own database; the hosted pages are served by meterstack
itself (the service issue); paying one fires the same ``checkout.completed`` event a real
provider's webhook would.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass
class LocalProvider:
    public_url: str = DEFAULT_PUBLIC_URL
    #: The local provider collects without the buyer: packs are granted at once (D11).
    needs_buyer_present: bool = False

    def checkout_url(self, checkout_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/billing/checkout/{checkout_id}"

    def portal_url(self, account_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/billing/portal/{account_id}"
