"""Gauges (stored quantities) and concurrency leases, admitted like meters (A10, C6, D3, D5).

A gauge's level is one counter row outside any period; each write also raises the period's peak
row, which is what storage overage is priced on (D3). With overage on, the level's units past the
hard limit are announced as overage when written, and the peak row keeps the highest such figure:
that is what the invoice bills, even if a pack or an upgrade raises the limit later (D2).
Growth is admitted by the same conditional increment as a meter, against the hard limit (grace
included, D5) unless overage is on; shrinking is always allowed, never below zero.

A lease is a hold on a concurrency item: it occupies one slot until released, or until it lapses
after the item's longest lease (C6); the next refusal, usage report or check sweeps lapsed ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from meterstack.bounds import MAX_QUANTITY, check_range
from meterstack.catalog.schema import Catalog, Concurrency, Gauge, Scope
from meterstack.errors import InvalidInputError, NotFoundError
from meterstack.rules.admission import (
    ACCOUNT_SCOPE,
    AdmissionPlan,
    ScopeBound,
    Step,
    classify_admitted,
    classify_refused,
    level_overage,
)
from meterstack.rules.decisions import Decision
from meterstack.rules.periods import NO_PERIOD
from meterstack.rules.terms import END_USER_KIND, AccountState, item_terms, overage_enabled
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.holds import Reservation, sweep
from meterstack.store.ports import Admission, Applied, Refused, UnitOfWork
from meterstack.store.rows import ReservationRow


def end_user_scope(end_user_id: str) -> str:
    return f"end_user:{end_user_id}"


@dataclass(frozen=True)
class Lease:
    """One occupied concurrency slot; ``id`` is None when the slot was refused."""

    id: str | None
    account_id: str
    item: str
    expires_at: datetime | None
    decision: Decision

    @property
    def allowed(self) -> bool:
        return self.id is not None


class Entitlements:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ gauges

    def set_gauge(
        self, account_id: str, gauge: str, level: int, *, end_user_id: str | None = None
    ) -> Decision:
        """Set a stored quantity to ``level`` (e.g. bytes stored), checked during the write."""
        _whole(level, "level", allow_zero=True)
        check_range("level", level, 0)
        return self._write(account_id, gauge, end_user_id, level=level)

    def adjust_gauge(
        self, account_id: str, gauge: str, delta: int, *, end_user_id: str | None = None
    ) -> Decision:
        """Add ``delta`` (negative to free space) to a stored quantity."""
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
            raise InvalidInputError(f"delta must be a non-zero whole number, got {delta!r}")
        check_range("delta", delta, -MAX_QUANTITY)
        return self._write(account_id, gauge, end_user_id, delta=delta)

    def _write(
        self,
        account_id: str,
        gauge: str,
        end_user_id: str | None,
        *,
        level: int | None = None,
        delta: int | None = None,
    ) -> Decision:
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            scope = self._gauge_scope(tx, catalog, state, gauge, end_user_id)
            plan = self._gauge_plan(catalog, state, gauge, scope, level or delta or 0, now)
            bound = plan.primary
            current = tx.counters.totals(account_id, gauge, scope, NO_PERIOD)
            target = current.used + (delta or 0) if level is None else level
            if target < 0:
                raise InvalidInputError(
                    f"{gauge} cannot go below zero: it holds {current.used}, delta {delta}",
                    gauge=gauge,
                )
            growth = plan.but(target - current.used)
            # The level, checked by the write itself, and the period's peak (D3) in one call;
            # the peak row keeps the highest overage a write announced, which is billed (D2).
            steps = (
                Step(
                    gauge,
                    scope,
                    NO_PERIOD,
                    target if level is not None else delta or 0,
                    0,
                    bound.bound,
                    level=level is not None,
                ),
                Step(
                    gauge, scope, plan.period_key, 0, 0, overage_from=bound.overage_from, peak=True
                ),
            )
            outcome = tx.counters.apply(Admission.plain(account_id, steps))
            if isinstance(outcome, Refused):
                return classify_refused(growth, bound, outcome.totals, now)
            assert isinstance(outcome, Applied)
            after = outcome.totals[0]
            over = level_overage(after.used, bound.overage_from)
            decision = classify_admitted(
                growth, after, now, catalog.policies.near_limit_percent, overage=over
            )
            return decision.but(message="level recorded", extra={"level": after.used})

    def _gauge_scope(
        self,
        tx: UnitOfWork,
        catalog: Catalog,
        state: AccountState,
        gauge: str,
        end_user_id: str | None,
    ) -> str:
        declared = catalog.items.get(gauge)
        if not isinstance(declared, Gauge):
            kinds = ", ".join(catalog.gauges) or "none"
            raise InvalidInputError(
                f"{gauge!r} is not a gauge of catalog {catalog.catalog!r} (gauges: {kinds})",
                gauge=gauge,
            )
        if declared.scope is Scope.END_USER:
            if end_user_id is None:
                raise InvalidInputError(f"{gauge} is kept per end user: give end_user_id")
            row = tx.resources.get(end_user_id)
            if row is None or row.account_id != state.account_id or row.kind != END_USER_KIND:
                raise NotFoundError(
                    f"account {state.account_id} has no end user {end_user_id!r}",
                    end_user_id=end_user_id,
                )
            return end_user_scope(end_user_id)
        if end_user_id is not None:
            raise InvalidInputError(f"{gauge} is kept per account, not per end user")
        return ACCOUNT_SCOPE

    def _gauge_plan(
        self,
        catalog: Catalog,
        state: AccountState,
        gauge: str,
        scope: str,
        quantity: int,
        now: datetime,
    ) -> AdmissionPlan:
        terms = item_terms(catalog, state, gauge)
        if scope != ACCOUNT_SCOPE:
            # A4: packs raise the account's storage, never a per-user quantity.
            terms = replace(terms, pack_units=0)
        overage_on = overage_enabled(catalog, state, gauge, None) and terms.limit is not None
        bound = ScopeBound(
            scope,
            None if overage_on else terms.hard_limit,
            terms.hard_limit if overage_on else None,
            terms,
        )
        return AdmissionPlan(
            item=gauge,
            quantity=quantity,
            period_key=self.ctx.period(catalog, state, now).key,
            scopes=(bound,),
            overage_on=overage_on,
        )

    def gauge_peak(
        self, account_id: str, gauge: str, *, end_user_id: str | None = None
    ) -> tuple[int, int]:
        """The gauge's level now and its peak in the current period."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            scope = self._gauge_scope(tx, catalog, state, gauge, end_user_id)
            period = self.ctx.period(catalog, state)
            level = tx.counters.totals(account_id, gauge, scope, NO_PERIOD).used
            return level, tx.counters.totals(account_id, gauge, scope, period.key).used

    # ------------------------------------------------------------------ leases

    def acquire_lease(self, account_id: str, item: str, *, ttl: timedelta | None = None) -> Lease:
        """Occupy one slot of a concurrency item for at most its longest lease (C6)."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            declared = catalog.items.get(item)
            if not isinstance(declared, Concurrency):
                kinds = ", ".join(catalog.concurrency) or "none"
                raise InvalidInputError(
                    f"{item!r} is not a concurrency item of catalog {catalog.catalog!r} "
                    f"(concurrency items: {kinds})",
                    item=item,
                )
            lifetime = _lease_ttl(declared, ttl)
            terms = item_terms(catalog, state, item)
            bound = ScopeBound(ACCOUNT_SCOPE, terms.limit, None, terms)
            plan = AdmissionPlan(item, 1, NO_PERIOD, (bound,), overage_on=False, hold=True)
            outcome = tx.counters.apply(Admission.plain(account_id, plan.steps()))
            if isinstance(outcome, Refused) and sweep(tx, account_id, now):
                outcome = tx.counters.apply(Admission.plain(account_id, plan.steps()))  # C6
            if isinstance(outcome, Refused):
                decision = classify_refused(plan, bound, outcome.totals, now)
                return Lease(None, account_id, item, None, decision)
            assert isinstance(outcome, Applied)
            decision = classify_admitted(
                plan, outcome.totals[0], now, catalog.policies.near_limit_percent
            )
            lease_id = new_id("lease")
            expires_at = now + lifetime
            tx.reservations.insert(
                ReservationRow(
                    id=lease_id,
                    account_id=account_id,
                    item=item,
                    period=NO_PERIOD,
                    project_id=None,
                    quantity=1,
                    status="open",
                    created_at=now,
                    expires_at=expires_at,
                    committed_quantity=None,
                )
            )
            decision = decision.but(message="lease acquired", reservation_id=lease_id)
            return Lease(lease_id, account_id, item, expires_at, decision)

    def renew_lease(self, lease_id: str, *, ttl: timedelta | None = None) -> Reservation:
        """Extend an open lease by up to the item's longest lease from now."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            row = tx.reservations.get(lease_id, lock=True)
            if row is None or row.period != NO_PERIOD:
                raise NotFoundError(f"no lease {lease_id!r}")
            state = self.ctx.state(tx, row.account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            declared = catalog.items[row.item]
            assert isinstance(declared, Concurrency)
            if row.status != "open" or row.expires_at <= now:
                sweep(tx, row.account_id, now)
                ended = row.status if row.status != "open" else "lapsed"
                raise InvalidInputError(
                    f"lease {lease_id} has ended ({ended}); acquire a new one",
                    lease_id=lease_id,
                )
            expires_at = now + _lease_ttl(declared, ttl)
            tx.reservations.extend(lease_id, expires_at)
            return Reservation(
                lease_id, row.account_id, row.item, 1, None, "open", expires_at, None
            )


def _lease_ttl(item: Concurrency, ttl: timedelta | None) -> timedelta:
    longest = timedelta(seconds=item.max_lease_seconds)
    if ttl is None:
        return longest
    if ttl <= timedelta(0):
        raise InvalidInputError(f"a lease's ttl must be positive, got {ttl.total_seconds()} s")
    return min(ttl, longest)


def _whole(value: object, name: str, *, allow_zero: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        floor = "0" if allow_zero else "1"
        raise InvalidInputError(f"{name} must be a whole number of at least {floor}, got {value!r}")


__all__ = ["END_USER_KIND", "Entitlements", "Lease", "end_user_scope"]
