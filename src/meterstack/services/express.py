"""The express lane of ``consume``: a cache of plans, fed to the same admission.

Planning a request loads the account's state (a read of its version), checks the meter and the
project, and computes every scope's bound. Most requests repeat one a moment earlier (the same
account, meter and project), so the plan made for an admitted consume is kept (a
:class:`Planned`, good while the period holds and no pending downgrade is due) and the next
request like it goes straight to the store's one call, ``Counters.apply``, with the plan's
account version: the store checks the version in the same statement and answers ``Stale`` when
another engine changed the account, and the request is planned again. The lane has no
transaction, no increments and no undo of its own; it only saves the planning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterstack.catalog.schema import Catalog
from meterstack.rules.admission import AdmissionPlan, Step
from meterstack.rules.budget import ChargesTerms
from meterstack.rules.periods import Period
from meterstack.services.events import UsageEvent

#: Plans kept per engine; past this many the oldest half is forgotten.
MAX_PLANS = 50_000
#: Quantities whose steps one plan keeps.
_MEMO = 8


@dataclass(frozen=True, slots=True)
class Planned:
    """A request's plan and what it was made from."""

    plan: AdmissionPlan
    catalog: Catalog
    period: Period
    #: The account's version the plan was made on.
    version: int
    #: Whether that version was read in the request's own transaction (else the store checks).
    verified: bool
    #: A downgrade or cancellation waiting for this instant: planned anew once it is due.
    pending_at: datetime | None
    #: The step on the period's charges (an account with a budget or a charges alert, D26).
    charges: ChargesTerms | None = None
    #: The steps made for the last few quantities: a route's requests repeat one quantity, and
    #: the store recognizes a step it has prepared.
    memo: dict[int | None, tuple[Step[Any], ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @property
    def near_limit_percent(self) -> Decimal:
        return self.catalog.policies.near_limit_percent

    def steps(self, quantity: int | None = None) -> tuple[Step[Any], ...]:
        """The plan's steps, and the charges step after them when the request has one."""
        memo = self.memo
        kept = memo.get(quantity)
        if kept is not None:
            return kept
        steps: tuple[Step[Any], ...] = self.plan.steps(quantity)
        if self.priced:
            assert self.charges is not None
            steps = (*steps, self.charges.step)
        if len(memo) >= _MEMO:
            memo.clear()
        memo[quantity] = steps
        return steps

    @property
    def priced(self) -> bool:
        """Whether the request carries a charges step: the account keeps its charges and
        the meter has invoice lines that usage moves."""
        return self.charges is not None and self.charges.step.charge is not None


class Plans:
    """The cache: (account, meter, project) -> the plan of its last admitted consume.

    An engine makes its own; ``Engine.open(..., plans=Plans(...))`` gives it this one instead:
    ``enabled=False`` keeps no plan (every request is planned, as without the lane), and
    ``on_lookup`` hears, at each request that asks the cache, whether it had the request's plan
    (under no lock: keep it short).
    """

    def __init__(
        self, *, enabled: bool = True, on_lookup: Callable[[bool], None] | None = None
    ) -> None:
        self._plans: dict[tuple[str, str, str | None], Planned] = {}
        self._enabled = enabled
        self._on_lookup = on_lookup

    def learn(self, event: UsageEvent, planned: Planned) -> None:
        """Keep the plan of an admitted consumption for the next one like it."""
        if event.api_key_id is not None or not self._enabled:
            return  # a key's own quota and revocation are the key's row: never cached
        if len(self._plans) >= MAX_PLANS:
            for stale in list(self._plans)[: MAX_PLANS // 2]:
                self._plans.pop(stale, None)
        self._plans[(event.account_id, event.meter, event.project_id)] = planned

    def get(self, event: UsageEvent, now: datetime) -> Planned | None:
        """The cached plan for ``event``'s route (made for another quantity, and not verified
        in this transaction), or None when it must be planned."""
        planned = None if event.api_key_id is not None else self._kept(event, now)
        if self._on_lookup is not None:
            self._on_lookup(planned is not None)
        return planned

    def _kept(self, event: UsageEvent, now: datetime) -> Planned | None:
        route = (event.account_id, event.meter, event.project_id)
        planned = self._plans.get(route)
        if planned is None:
            return None
        if not planned.period.start <= now < planned.period.end or (
            planned.pending_at is not None and planned.pending_at <= now
        ):
            self._plans.pop(route, None)
            return None
        return planned
