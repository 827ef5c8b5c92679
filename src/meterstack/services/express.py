"""The express lane of ``consume``: one event on a known route, nothing out of the ordinary.

The general path (:meth:`Metering._consume`) loads the account's state, validates, computes the
bounds and handles every case: a scope's first use in a period, refusals, lapsed holds, stale
caches, a key seen before. Most requests are none of those: the same account, meter and project
as a moment ago, admitted. For them this lane reuses the bounds the general path computed last
time (a :class:`Route`, good while the account's version and the period hold), runs the same
conditional increments and idempotency insert in one transaction and names the outcome with the
same rule. Anything else (a scope that refuses or has no counter yet, another version of the
account, a key already stored) rolls the transaction back and leaves the request to the general
path: the lane never decides differently, it only decides sooner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from meterstack.catalog.schema import Catalog
from meterstack.rules.admission import (
    AdmissionPlan,
    ScopeBound,
    classify_admitted,
    overage_delta,
)
from meterstack.rules.decisions import Decision
from meterstack.rules.periods import Period
from meterstack.services.context import ServiceContext
from meterstack.services.validation import validate_idempotency_key, validate_quantity

if TYPE_CHECKING:
    from meterstack.services.metering import UsageEvent

#: Routes kept per engine; past this many the oldest half is forgotten.
MAX_ROUTES = 50_000


@dataclass(frozen=True, slots=True)
class Route:
    """The bounds of (account, meter, project) as the general path last computed them."""

    version: int
    catalog: Catalog
    scopes: tuple[ScopeBound, ...]
    overage_on: bool
    period: Period
    #: A downgrade or cancellation waiting for this instant: the general path applies it.
    pending_at: datetime | None
    near_limit_percent: Decimal


class _DetourError(Exception):
    """Out of the ordinary: undo the transaction and let the general path decide."""


class Express:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._routes: dict[tuple[str, str, str | None], Route] = {}

    def learn(
        self,
        event: UsageEvent,
        version: int,
        catalog: Catalog,
        plan: AdmissionPlan,
        period: Period,
        pending_at: datetime | None,
    ) -> None:
        """Remember the bounds of an admitted consumption for the next one like it."""
        if event.api_key_id is not None:
            return  # a key's own quota is checked against the key's row: general path only
        if len(self._routes) >= MAX_ROUTES:
            for stale in list(self._routes)[: MAX_ROUTES // 2]:
                self._routes.pop(stale, None)
        self._routes[(event.account_id, event.meter, event.project_id)] = Route(
            version=version,
            catalog=catalog,
            scopes=plan.scopes,
            overage_on=plan.overage_on,
            period=period,
            pending_at=pending_at,
            near_limit_percent=catalog.policies.near_limit_percent,
        )

    def consume(self, event: UsageEvent, fingerprint: str) -> Decision | None:
        """The decision, recorded; None when the general path must decide."""
        if event.api_key_id is not None:
            return None
        route_key = (event.account_id, event.meter, event.project_id)
        route = self._routes.get(route_key)
        if route is None:
            return None
        now = self.ctx.now()
        if not route.period.start <= now < route.period.end or (
            route.pending_at is not None and route.pending_at <= now
        ):
            self._routes.pop(route_key, None)
            return None
        validate_quantity(route.catalog, event.meter, event.quantity)
        key = validate_idempotency_key(event.idempotency_key)
        plan = AdmissionPlan(
            item=event.meter,
            quantity=event.quantity,
            period_key=route.period.key,
            scopes=route.scopes,
            overage_on=route.overage_on,
            period_end=route.period.end,
        )
        try:
            with self.ctx.store.transaction() as tx:
                outcome = tx.increment_scopes(
                    event.account_id,
                    plan.item,
                    plan.period_key,
                    [(bound.scope, bound.bound, bound.overage_from) for bound in plan.scopes],
                    plan.quantity,
                )
                if outcome is None:
                    raise _DetourError  # refused, or no counter yet
                totals, version = outcome
                if version != route.version:
                    self._routes.pop(route_key, None)
                    raise _DetourError
                account_after = totals[0]
                account_overage = overage_delta(plan.scopes[0], account_after.used, plan.quantity)
                decision = classify_admitted(
                    plan, account_after, account_overage, now, route.near_limit_percent
                )
                if key is not None and not tx.save_idempotency(
                    event.account_id, key, fingerprint, decision.encode(), now
                ):
                    raise _DetourError  # a retry, or a key reused: the general path answers
                return decision
        except _DetourError:
            return None
