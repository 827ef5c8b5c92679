"""Webhook endpoints: registered by the operator or by customers, each with its own secrets.

The operator's endpoints receive one account's events or every account's; a customer's receive
its own account's only, must be https to a public address (``webhooks.addresses``), and an
account has at most ``max_customer_endpoints`` of them. A customer sees and changes only its own
endpoints: any other id answers 404, as if it did not exist.

Rotating a secret makes a new one current; the previous one keeps signing for the overlap
(default 24 h), so a receiver can switch without missing a webhook.

Creating, changing, rotating and deleting an endpoint are recorded in the audit log with the
change, under the endpoint's account (none for an operator endpoint of every account): the
endpoint as it was and is, and for a rotation only that it happened, never a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from meterstack.errors import ConflictError, InvalidInputError, NotFoundError
from meterstack.records.audit import PYTHON, Actor
from meterstack.records.webhooks import (
    MAX_ROTATION_OVERLAP,
    Endpoint,
    Owner,
    Resolver,
    WebhookPolicy,
)
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.webhooks.addresses import checked_target, parse_url
from meterstack.services.webhooks.catalogue import check_event_types
from meterstack.services.webhooks.signing import new_secret
from meterstack.store.ports import UnitOfWork

MAX_URL_LENGTH = 2000


class EndpointLimitError(ConflictError):
    """A customer already has the most endpoints an account may have."""

    code = "endpoint_limit_reached"


@dataclass(frozen=True)
class RegisteredEndpoint:
    """A new endpoint and its signing secret (shown this once: store it now)."""

    endpoint: Endpoint
    secret: str


@dataclass(frozen=True)
class RotatedSecret:
    endpoint_id: str
    #: The new current secret (shown this once).
    secret: str
    #: Until when the previous secret keeps signing too.
    previous_expires_at: datetime


class Endpoints:
    def __init__(self, ctx: ServiceContext, policy: WebhookPolicy, resolver: Resolver) -> None:
        self.ctx = ctx
        self.policy = policy
        self.resolver = resolver

    def create(
        self,
        url: str,
        *,
        account_id: str | None = None,
        customer: str | None = None,
        event_types: Sequence[str] = (),
        description: str | None = None,
        enabled: bool = True,
        actor: Actor = PYTHON,
    ) -> RegisteredEndpoint:
        """An endpoint of the operator (for ``account_id``, or every account when None), or,
        with ``customer``, of that customer for its own account."""
        owner = Owner.CUSTOMER if customer is not None else Owner.OPERATOR
        account = customer if customer is not None else account_id
        url = self._checked_url(url, owner)
        types = check_event_types(tuple(event_types))
        now = self.ctx.now()
        endpoint = Endpoint(
            id=new_id("whe"),
            owner=owner,
            account_id=account,
            url=url,
            event_types=types,
            description=_description(description),
            enabled=enabled,
            created_at=now,
            updated_at=now,
        )
        secret = new_secret()
        with self.ctx.store.transaction() as tx:
            if account is not None:
                self.ctx.state(tx, account)  # 404 for an unknown account
            if owner is Owner.CUSTOMER:
                assert account is not None
                count = tx.webhooks.count_locked(account, owner)
                if count >= self.policy.max_customer_endpoints:
                    raise EndpointLimitError(
                        f"an account may have at most {self.policy.max_customer_endpoints} "
                        "webhook endpoints; delete one first",
                        limit=self.policy.max_customer_endpoints,
                    )
            tx.webhooks.insert(endpoint)
            tx.webhooks.insert_secret(endpoint.id, secret, now, overlap_until=now)
            record(
                tx,
                now,
                actor,
                account,
                "webhook.endpoint_created",
                after=endpoint_state(endpoint),
            )
        return RegisteredEndpoint(endpoint, secret)

    def find(self, *, account_id: str | None = None, customer: str | None = None) -> list[Endpoint]:
        """The operator's view (every endpoint, or those for ``account_id``), or a customer's."""
        with self.ctx.store.transaction() as tx:
            if customer is not None:
                return tx.webhooks.find(account_id=customer, owner=Owner.CUSTOMER)
            return tx.webhooks.find(account_id=account_id)

    def get(self, endpoint_id: str, *, customer: str | None = None) -> Endpoint:
        with self.ctx.store.transaction() as tx:
            return self.visible(tx, endpoint_id, customer)

    def update(
        self,
        endpoint_id: str,
        *,
        customer: str | None = None,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        actor: Actor = PYTHON,
    ) -> Endpoint:
        """Change what is given; the rest stays. A new URL is checked like a new endpoint's."""
        with self.ctx.store.transaction() as tx:
            found = self.visible(tx, endpoint_id, customer)
            changed = replace(
                found,
                url=found.url if url is None else self._checked_url(url, found.owner),
                event_types=found.event_types
                if event_types is None
                else check_event_types(tuple(event_types)),
                description=found.description if description is None else _description(description),
                enabled=found.enabled if enabled is None else enabled,
                updated_at=self.ctx.now(),
            )
            tx.webhooks.update(changed)
            record(
                tx,
                changed.updated_at,
                actor,
                found.account_id,
                "webhook.endpoint_updated",
                before=endpoint_state(found),
                after=endpoint_state(changed),
            )
            return changed

    def delete(
        self, endpoint_id: str, *, customer: str | None = None, actor: Actor = PYTHON
    ) -> None:
        """Delete the endpoint with its secrets and its delivery history."""
        with self.ctx.store.transaction() as tx:
            found = self.visible(tx, endpoint_id, customer)
            tx.webhooks.delete(endpoint_id)
            record(
                tx,
                self.ctx.now(),
                actor,
                found.account_id,
                "webhook.endpoint_deleted",
                before=endpoint_state(found),
            )

    def rotate_secret(
        self,
        endpoint_id: str,
        *,
        customer: str | None = None,
        overlap: timedelta | None = None,
        actor: Actor = PYTHON,
    ) -> RotatedSecret:
        """A new current secret; the previous one signs too until ``overlap`` has passed."""
        overlap = self.policy.rotation_overlap if overlap is None else overlap
        if not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
            raise InvalidInputError(
                f"the overlap must be between 0 and {MAX_ROTATION_OVERLAP.days} days",
                overlap_seconds=overlap.total_seconds(),
            )
        secret = new_secret()
        with self.ctx.store.transaction() as tx:
            found = self.visible(tx, endpoint_id, customer)
            now = self.ctx.now()
            tx.webhooks.insert_secret(endpoint_id, secret, now, overlap_until=now + overlap)
            record(
                tx,
                now,
                actor,
                found.account_id,
                "webhook.secret_rotated",
                before={"endpoint_id": endpoint_id, "url": found.url},
                after={
                    "endpoint_id": endpoint_id,
                    "url": found.url,
                    "previous_secret_until": now + overlap,
                },
            )
        return RotatedSecret(endpoint_id, secret, now + overlap)

    def visible(self, tx: UnitOfWork, endpoint_id: str, customer: str | None) -> Endpoint:
        """The endpoint, if the caller may see it (a customer: only its own)."""
        found = tx.webhooks.get(endpoint_id)
        if found is None or (
            customer is not None
            and (found.owner is not Owner.CUSTOMER or found.account_id != customer)
        ):
            raise NotFoundError(f"no webhook endpoint {endpoint_id!r}", endpoint_id=endpoint_id)
        return found

    def _checked_url(self, url: str, owner: Owner) -> str:
        if len(url) > MAX_URL_LENGTH:
            raise InvalidInputError(f"a webhook URL has at most {MAX_URL_LENGTH} characters")
        url = url.strip()
        if owner is Owner.CUSTOMER:
            checked_target(url, self.resolver, allow_private=self.policy.allow_private_targets)
        else:
            parse_url(url, https_only=False)
        return url


def endpoint_state(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint as the audit log keeps it: what it receives and where, never a secret."""
    return {
        "endpoint_id": endpoint.id,
        "owner": endpoint.owner,
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
    }


def _description(text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) > 200:
        raise InvalidInputError("a description has at most 200 characters")
    return text.strip() or None
