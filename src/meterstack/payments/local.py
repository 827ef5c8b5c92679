"""The embedded payment provider: no payment account anywhere, so a laptop runs the whole flow.

Checkout sessions live in meterstack's own database; the hosted pages are served by meterstack
itself (``server/pages.py``); paying one fires the same ``checkout.completed`` event a real
provider's webhook would. A checkout's id is unguessable, as a hosted checkout URL's is; the
portal URL carries a token signed with the provider's secret, so an account id alone does not
open its portal.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass
class LocalProvider:
    public_url: str = DEFAULT_PUBLIC_URL
    #: Signs portal links; give a stable one (``meterstack serve`` derives it from the operator
    #: key) so that links survive a restart.
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    #: The local provider collects without the buyer: packs are granted at once (D11).
    needs_buyer_present: bool = False

    def checkout_url(self, checkout_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/billing/checkout/{checkout_id}"

    def portal_url(self, account_id: str) -> str:
        base = self.public_url.rstrip("/")
        return f"{base}/billing/portal/{account_id}?token={self.portal_token(account_id)}"

    def portal_token(self, account_id: str) -> str:
        digest = hmac.new(self.secret.encode(), account_id.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]
