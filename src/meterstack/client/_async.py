"""The asynchronous client: :mod:`meterstack.client._sync`'s mirror, method for method."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TypeVar

import anyio
import httpx

from meterstack.client import _calls
from meterstack.client._calls import Call
from meterstack.client.alerts import AsyncAlerts
from meterstack.client.audit import AuditLogPage, audit
from meterstack.client.billing import (
    ApiKeyInfo,
    Cancellation,
    CheckoutLink,
    CustomerInvoice,
    IssuedApiKey,
    OverageSwitch,
    PackBought,
    SubscriptionChange,
)
from meterstack.client.entitlements import Entitlements
from meterstack.client.models import (
    Account,
    AccountUsage,
    BillingStatus,
    PlanOffer,
    ReleasedReservation,
    Reservation,
    TierInfo,
    Usage,
)
from meterstack.client.wallet import AsyncWallet
from meterstack.client.webhooks import AsyncWebhooks
from meterstack.rules.decisions import Decision

T = TypeVar("T")


class AsyncClient:
    """meterstack's service over HTTP, for async code; the same surface as :class:`Client`.

    With the operator key it drives the operator API (``create_account``, ``consume``,
    ``reserve``…); with a customer's user API key, the customer API (``usage``, ``tier_info``…).
    Transient failures are retried ``retries`` times, pausing ``retry_backoff`` seconds, then
    twice as long each time; a request the service may already have seen is retried only when
    sending it twice does no more than sending it once (a read, or a body with an idempotency
    key). Refusals raise the error of their code (see :mod:`meterstack.client.errors`).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10,
        retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_backoff: float = 0.25,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be at least 0, got {retries}")
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=_calls.headers(api_key),
            timeout=timeout,
            transport=transport,
        )
        self._retries = retries
        self._backoff = retry_backoff
        #: Webhook endpoints, events and deliveries: the operator's, and a customer's own (D28).
        self.webhooks = AsyncWebhooks(self._send, "/v1/webhooks")
        self.billing_webhooks = AsyncWebhooks(self._send, "/api/billing/webhooks")
        #: The prepaid wallet: a customer's balance, history and deposits; the operator's
        #: charges, adjustments and refunds (B2, D20–D24).
        self.wallet = AsyncWallet(self._send)
        #: Alerts and the budget guard: a customer's own, or (with ``account_id``) the
        #: operator's for an account (D25, D26).
        self.alerts = AsyncAlerts(self._send)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ operator API

    async def create_account(
        self, plan: str | None = None, *, interval: str | None = None, email: str | None = None
    ) -> Account:
        return await self._send(_calls.create_account(plan, interval, email))

    async def audit(
        self,
        *,
        account_id: str | None = None,
        kind: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> AuditLogPage:
        """The audit log, newest first (operator key): billing changes with who, when, before,
        after and why; ``before`` is the previous page's ``next_before``."""
        return await self._send(audit(account_id, kind, before, limit))

    async def consume(
        self,
        account_id: str,
        meter: str,
        quantity: int = 1,
        *,
        project_id: str | None = None,
        idempotency_key: str | None = None,
        requires: Sequence[str] | None = None,
    ) -> Decision:
        """Record usage if the limits admit it; a refusal raises (``QuotaExceededError``…).

        Without ``idempotency_key`` a fresh one is sent, the same on every retry (D7).
        ``requires`` names the features the request needs (C3): one the tier lacks refuses it
        (``UpgradeRequiredError`` 402 or ``NotAllowedError`` 403) and nothing is recorded.
        """
        return await self._send(
            _calls.consume(account_id, meter, quantity, project_id, idempotency_key, requires)
        )

    async def reserve(
        self,
        account_id: str,
        meter: str,
        quantity: int = 1,
        *,
        ttl: float | None = None,
        project_id: str | None = None,
        idempotency_key: str | None = None,
        requires: Sequence[str] | None = None,
    ) -> Reservation:
        """Hold ``quantity`` against the limits (D6); a refusal raises. ``requires`` as for
        :meth:`consume`."""
        call = _calls.reserve(
            account_id, meter, quantity, ttl, project_id, idempotency_key, requires
        )
        return await self._send(call)

    async def commit(self, reservation_id: str, quantity: int | None = None) -> Decision:
        """Record the hold's actual quantity; None = what was held (D6)."""
        return await self._send(_calls.commit(reservation_id, quantity))

    async def release(self, reservation_id: str) -> ReleasedReservation:
        return await self._send(_calls.release(reservation_id))

    async def account_usage(self, account_id: str) -> AccountUsage:
        return await self._send(_calls.account_usage(account_id))

    async def check_feature(
        self, account_id: str, feature: str, *, level: str | None = None
    ) -> Decision:
        """The allowed decision, or the refusal raised: ``UpgradeRequiredError`` (402, the plan
        that has it in ``error.decision.extra["upgrade_to"]``) or ``NotAllowedError`` (403)."""
        return await self._send(_calls.check_feature(account_id, feature, level))

    async def check_module(self, key_id: str, module: str) -> Decision:
        """Whether the key's service caps allow ``module``; ``ModuleNotAllowedError`` if not."""
        return await self._send(_calls.check_module(key_id, module))

    async def check_payment(self, account_id: str, *, api_key_id: str | None = None) -> Decision:
        """A10: ask before processing a payment (the tier, then the key's caps)."""
        return await self._send(_calls.check_payment(account_id, api_key_id))

    async def entitlements(self, account_id: str) -> Entitlements:
        """Every feature, limit, retention, export, support level and SLA of the plan."""
        return await self._send(_calls.entitlements(account_id))

    # ------------------------------------------------------------------ customer API

    async def usage(self, meter: str | None = None) -> Usage:
        """This period's usage with FlowStack's figures (C4); ``meter`` picks the top-level one."""
        return await self._send(_calls.usage(meter))

    get_usage = usage

    async def billing(self) -> BillingStatus:
        return await self._send(_calls.billing())

    async def plans(self) -> list[PlanOffer]:
        return await self._send(_calls.plans())

    async def tier_info(self) -> TierInfo:
        """The current tier and whether it may use managed models (C3, C4)."""
        return TierInfo.of(await self.billing(), await self.plans())

    get_tier_info = tier_info

    # ------------------------------------------------------------------ customer self-service

    async def checkout(
        self,
        tier: str,
        *,
        billing_interval: str | None = None,
        success_url: str | None = None,
        cancel_url: str | None = None,
    ) -> CheckoutLink:
        """B8, D30: a hosted checkout for an upgrade to a self-serve plan."""
        return await self._send(_calls.checkout(tier, billing_interval, success_url, cancel_url))

    async def cancel(self) -> Cancellation:
        """B9: keep the plan until the paid interval ends, then the fallback plan."""
        return await self._send(_calls.cancel())

    async def downgrade(
        self, tier: str, *, billing_interval: str | None = None
    ) -> SubscriptionChange:
        """C7, D30: a cheaper self-serve plan from the end of the paid interval."""
        return await self._send(_calls.downgrade(tier, billing_interval))

    async def resume(self) -> SubscriptionChange:
        """Withdraw a cancellation or downgrade before it takes effect (409 when none waits)."""
        return await self._send(_calls.resume())

    async def switch_overage(
        self, enabled: bool, *, meter: str | None = None, project_id: str | None = None
    ) -> OverageSwitch:
        """A5, D3: overage on or off for the account, a project or one meter."""
        return await self._send(_calls.switch_overage(enabled, meter, project_id))

    async def invoices(self) -> list[CustomerInvoice]:
        """The account's invoices, oldest first (without their lines)."""
        return await self._send(_calls.invoices())

    async def invoice(self, number: str) -> CustomerInvoice:
        """One invoice of the account, with its lines."""
        return await self._send(_calls.invoice(number))

    async def invoice_pdf(self, number: str) -> bytes:
        """One invoice of the account as a PDF document."""
        return await self._send(_calls.invoice_pdf(number))

    async def buy_storage_pack(self, size: str) -> PackBought | CheckoutLink:
        """A4: a storage pack (``5gb``, ``10gb``, ``25gb``), or the checkout to pay first."""
        return await self._send(_calls.buy_storage_pack(size))

    async def create_api_key(self, *, name: str | None = None) -> IssuedApiKey:
        """A2: a new user API key within the plan's limit; its text is shown this once."""
        return await self._send(_calls.create_api_key(name))

    async def api_keys(self) -> list[ApiKeyInfo]:
        """The account's live user API keys, never their text."""
        return await self._send(_calls.api_keys())

    async def revoke_api_key(self, key_id: str) -> None:
        """Revoke one of the account's user API keys at once."""
        await self._send(_calls.revoke_api_key(key_id))

    # ------------------------------------------------------------------ transport

    async def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            last = attempt >= self._retries
            try:
                response = await self._http.request(call.method, call.path, json=call.body)
            except httpx.TransportError as error:
                if last or not _calls.may_retry(call, error, None):
                    raise _calls.unreachable(error) from error
            else:
                if last or not _calls.may_retry(call, None, response.status_code):
                    return call.read(_calls.decode(response, call.answer))
            if self._backoff > 0:
                await anyio.sleep(_calls.backoff(self._backoff, attempt))
            attempt += 1
