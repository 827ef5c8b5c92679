"""Admission of a request in three parts: plan, apply, classify.

:func:`plan_request` computes, for every scope a request touches (the account, its project, the
API key's own quota), the highest total (used + held) the scope's counter may reach and where
overage starts. :meth:`AdmissionPlan.steps` turns that into :class:`Step` values, which the store
applies in one call, all or none (``store.ports.Counters.apply``); :func:`classify_admitted` and
:func:`classify_refused` name the outcome from the totals the store returns. There is no
read-decide-write: the store's conditional write is the only place admission happens.

What a step does to a counter is written here once, in :func:`advance` (the bound test and the
D2 overage arithmetic with it). The SQL store computes the same inside its statements, because
that is where the condition must hold; a property test runs random steps through both and holds
them to the same totals and the same refusals. Everything else (``check``, the per-event answers
of a batch) uses these functions.

A step's quantities are whole units (``int``) or an amount of money (``Decimal``, at most six
places): a wallet balance or a budget is admitted by a step beside the unit steps of the same
request, in the same call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, NamedTuple, TypeVar

from meterstack.bounds import MAX_COUNTER
from meterstack.catalog.schema import Catalog
from meterstack.errors import OutOfRangeError
from meterstack.rules.decisions import Decision, DecisionCode
from meterstack.rules.headroom import is_near_limit, remaining_units
from meterstack.rules.terms import AccountState, ItemTerms, item_terms, overage_enabled

ACCOUNT_SCOPE = "account"

#: Whole units or an amount of money: one step's quantities are all of one kind.
U = TypeVar("U", int, Decimal)


def project_scope(project_id: str) -> str:
    return f"project:{project_id}"


def key_scope(key_id: str) -> str:
    return f"key:{key_id}"


class Totals(NamedTuple, Generic[U]):
    """A counter: committed units, units held by open holds, and overage recorded (D2).

    A named tuple, like :class:`Step`: every request makes several, and a tuple is made in a
    fifth of the time of a frozen dataclass.
    """

    used: U
    held: U
    overage: U


#: A counter that does not exist yet.
NO_TOTALS: Totals[int] = Totals(0, 0, 0)

#: The most a counter of money holds: the store keeps whole millionths (D17) in its integers.
MAX_MONEY_COUNTER = Decimal(MAX_COUNTER).scaleb(-6)


class Step(NamedTuple, Generic[U]):
    """What one request does to one counter: (item, scope, period) of the account.

    ``quantity`` is added to ``used`` (with ``level``, it is the new ``used``: a gauge's level;
    with ``peak``, ``used`` rises to what the previous step of the same call reached: a period's
    peak of that level). ``held`` is added to ``held``. A step that grows used + held must stay
    within ``bound``; nothing ever goes below zero. Committed units past ``overage_from`` are
    overage (D2), added to the counter's ``overage``; on a ``peak`` step, the level's units past
    ``overage_from`` raise the counter's ``overage`` to them (the period's peak of the overage
    announced when written, D2, D3). A step with ``charge`` is a step of money whose quantity
    is ``quantity`` plus what ``charge`` makes of the totals of the call's first step before and
    after it applied (the change of that meter's invoice lines, D26): it is priced inside the
    call, from what the first step really did (:func:`priced`).
    """

    item: str
    scope: str
    period: str
    quantity: U
    held: U
    bound: U | None = None
    overage_from: U | None = None
    level: bool = False
    peak: bool = False
    charge: Callable[[Totals[Any], Totals[Any]], Decimal] | None = None


def increment_before(step: Step[U], after: Totals[U]) -> Totals[U]:
    """What the counter held before an increment (not a level, not a peak) reached ``after``."""
    used = after.used - step.quantity
    return Totals(used, after.held - step.held, after.overage - overage_of(step, used))


def priced(step: Step[Any], first_before: Totals[Any], first_after: Totals[Any]) -> Step[Any]:
    """A ``charge`` step made plain: its quantity once the call's first step has applied."""
    assert step.charge is not None
    return step._replace(
        quantity=step.quantity + step.charge(first_before, first_after), charge=None
    )


def unwritten(step: Step[Any]) -> bool:
    """A priced charges step that adds nothing (the request changed no invoice line): it
    always fits, and it is not written; its totals read as zero (:func:`unchanged`)."""
    return step.quantity == 0 and step.held == 0 and not (step.level or step.peak)


def unchanged(step: Step[Any]) -> Totals[Any]:
    zero = step.quantity - step.quantity
    return Totals(zero, zero, zero)


def overage_units(quantity: U, used_before: U, overage_from: U | None) -> U:
    """The units of ``quantity``, added to ``used_before``, that land past ``overage_from``
    (D2: consumed past the limit with overage on); None = no overage. Never negative."""
    zero = quantity - quantity
    if overage_from is None:
        return zero
    return max(zero, min(quantity, used_before + quantity - overage_from))


def overage_of(step: Step[U], used_before: U) -> U:
    """The overage an increment adds to a counter that held ``used_before`` (D2); a level or a
    peak adds none (a peak's overage is :func:`level_overage`, kept at its highest)."""
    if step.level or step.peak:
        return step.quantity - step.quantity
    return overage_units(step.quantity, used_before, step.overage_from)


def level_overage(level: U, overage_from: U | None) -> U:
    """D2 for a level (a gauge): the units of ``level`` past ``overage_from``, as if the whole
    level were consumed at once. What a write past the limit announces as overage, and what the
    period's peak row keeps at its highest for the invoice (D3)."""
    return overage_units(level, level - level, overage_from)


def reached(step: Step[U], before: Totals[U], previous: Totals[U] | None = None) -> Totals[U]:
    """What the counter holds once ``step`` is applied to ``before`` (bound not checked)."""
    if step.peak:
        assert previous is not None, "a peak step follows the step whose level it keeps"
        overage = max(before.overage, level_overage(previous.used, step.overage_from))
        return Totals(max(before.used, previous.used), before.held + step.held, overage)
    used = step.quantity if step.level else before.used + step.quantity
    return Totals(used, before.held + step.held, before.overage + overage_of(step, before.used))


def fits(step: Step[U], before: Totals[U], after: Totals[U]) -> bool:
    """The bound test: nothing below zero, and growth of used + held within the bound."""
    zero = step.quantity - step.quantity
    if after.used < zero or after.held < zero:
        return False
    return after.used + after.held <= before.used + before.held or (
        after.used + after.held <= effective_bound(step)
    )


def effective_bound(step: Step[U]) -> U:
    """The bound a step's growth is held to: its own, within the store's range (a counter
    never passes a signed 64-bit integer, whatever the limits, packs and grace add up to)."""
    most: Any = MAX_MONEY_COUNTER if isinstance(step.quantity, Decimal) else MAX_COUNTER
    bound = step.bound
    return most if bound is None or bound > most else bound


def advance(
    steps: Sequence[Step[Any]], before: Sequence[Totals[Any]]
) -> tuple[Totals[Any], ...] | int:
    """The totals every counter reaches when ``steps`` (each on a counter of its own, whose
    totals are ``before``) apply in order, or the index of the first step that does not fit
    (then none of them applies)."""
    totals: list[Totals[Any]] = []
    for index, (asked, current) in enumerate(zip(steps, before, strict=True)):
        step = asked if asked.charge is None else priced(asked, before[0], totals[0])
        if asked.charge is not None and unwritten(step):
            totals.append(unchanged(step))
            continue
        after = reached(step, current, totals[-1] if totals else None)
        if not fits(step, current, after):
            return index
        totals.append(after)
    return tuple(totals)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True, slots=True)
class ScopeBound:
    """What one scope's counter may reach for this request."""

    scope: str
    #: The highest used + held the scope may reach; None = no bound.
    bound: int | None
    #: Committed units past this total are overage (D2); None = no overage in this scope.
    overage_from: int | None
    #: The terms the bound comes from, for naming the outcome; None for a scope without a limit.
    terms: ItemTerms | None


@dataclass(frozen=True, slots=True)
class AdmissionPlan:
    item: str
    quantity: int
    period_key: str
    #: Scopes in lock order; the account scope first.
    scopes: tuple[ScopeBound, ...]
    overage_on: bool
    #: When the period ends (``RateLimit-Reset``); None when nothing resets.
    period_end: datetime | None = None
    #: A hold (D6): the quantity goes to ``held``, and nothing of it is overage yet.
    hold: bool = False

    @property
    def primary(self) -> ScopeBound:
        return self.scopes[0]

    def steps(self, quantity: int | None = None) -> tuple[Step[int], ...]:
        """The request's step per scope, in lock order; ``quantity`` for another event of the
        same route (a cached plan, one event of a batch)."""
        units = self.quantity if quantity is None else quantity
        item, period = self.item, self.period_key
        if self.hold:
            return tuple([Step(item, s.scope, period, 0, units, s.bound) for s in self.scopes])
        return tuple(
            [Step(item, s.scope, period, units, 0, s.bound, s.overage_from) for s in self.scopes]
        )

    def but(self, quantity: int) -> AdmissionPlan:
        """The same plan for another quantity (a gauge's growth)."""
        return replace(self, quantity=quantity)


def plan_request(
    catalog: Catalog,
    state: AccountState,
    item: str,
    quantity: int,
    *,
    period_key: str,
    project_id: str | None = None,
    key_quota: tuple[str, int] | None = None,
    period_end: datetime | None = None,
    hold: bool = False,
) -> AdmissionPlan:
    """The scopes a request touches, in lock order: account, project, then the API key's own
    quota (A8) when ``key_quota`` = (key id, units per period) is given."""
    terms = item_terms(catalog, state, item)
    overage_on = overage_enabled(catalog, state, item, project_id) and terms.limit is not None
    if overage_on:
        # Grace units stay free; overage starts past the hard limit (docs/decisions.md).
        account = ScopeBound(ACCOUNT_SCOPE, None, terms.hard_limit, terms)
    else:
        account = ScopeBound(ACCOUNT_SCOPE, terms.hard_limit, None, terms)
    scopes = [account]
    if project_id:
        if (project_id, item) in state.overrides:
            project_terms = item_terms(catalog, state, item, project_id)
            # A project's own limit is a cap set by the operator: no overage past it.
            scopes.append(
                ScopeBound(project_scope(project_id), project_terms.hard_limit, None, project_terms)
            )
        else:
            scopes.append(ScopeBound(project_scope(project_id), None, None, None))
    if key_quota is not None:
        key_id, quota = key_quota
        # A key's quota is a cap of its own: no grace, no packs, no overage past it.
        key_terms = replace(terms, included=quota, pack_units=0, grace_percent=Decimal(0))
        scopes.append(ScopeBound(key_scope(key_id), quota, None, key_terms))
    return AdmissionPlan(
        item=item,
        quantity=quantity,
        period_key=period_key,
        scopes=tuple(scopes),
        overage_on=overage_on,
        period_end=period_end,
        hold=hold,
    )


# --------------------------------------------------------------------------- classification


def classify_admitted(
    plan: AdmissionPlan,
    after: Totals[int],
    now: datetime,
    near_limit_percent: Decimal,
    *,
    overage: int | None = None,
    quantity: int | None = None,
) -> Decision:
    """The decision for an admitted request from the totals its first scope reached.

    ``overage`` (units of this request recorded as overage) defaults to the D2 overage of the
    request's own quantity; ``quantity`` names one event of a batch (its totals are the running
    totals after it).
    """
    primary = plan.primary
    terms = primary.terms
    assert terms is not None
    units = plan.quantity if quantity is None else quantity
    if overage is None:
        overage = 0 if plan.hold else overage_units(units, after.used - units, primary.overage_from)
    limit, hard = terms.limit, terms.hard_limit
    counted = after.used + after.held
    warnings: list[str] = []
    code = DecisionCode.OK
    if overage > 0:
        code = DecisionCode.OVERAGE
        warnings.append(f"{overage} {plan.item} beyond the limit of {limit} billed as overage")
    elif not plan.overage_on and limit is not None and hard is not None and counted > hard:
        # A commit of more than was held (D6; or a level lowered while still past a limit lowered
        # since): the work happened, so the units are recorded past the bound, and without
        # overage nothing bills them. It is neither grace nor overage.
        code = DecisionCode.EXCESS
        bound = f"limit of {limit}" if hard == limit else f"hard limit of {hard} (limit {limit})"
        warnings.append(
            f"{plan.item}: {counted} used is {counted - hard} past the {bound}; recorded for "
            "work already done, not billed as overage"
        )
    elif limit is not None and counted > limit:
        code = DecisionCode.GRACE
        warnings.append(
            f"{plan.item}: {counted} used is past the limit of {limit}, within the grace zone "
            f"up to {terms.hard_limit}"
        )
    elif is_near_limit(counted, limit, near_limit_percent):
        code = DecisionCode.NEAR_LIMIT
        warnings.append(f"{plan.item}: {counted} of {limit} used")
    return Decision(
        allowed=True,
        code=code,
        http_status=200,
        meter=plan.item,
        quantity=units,
        used=after.used,
        held=after.held,
        limit=limit,
        hard_limit=hard,
        remaining=remaining_units(counted, limit),
        overage_units=overage,
        warnings=tuple(warnings),
        as_of=now,
        period=plan.period_key,
        scope=plan.primary.scope,
        message="hold placed" if plan.hold else "admitted",
        period_end=plan.period_end,
    )


def classify_refused(
    plan: AdmissionPlan,
    refused: ScopeBound,
    current: Totals[int],
    now: datetime,
    *,
    quantity: int | None = None,
) -> Decision:
    """The decision for a request refused at ``refused``'s bound; nothing was counted."""
    units = plan.quantity if quantity is None else quantity
    terms = refused.terms
    if refused.bound is None or terms is None or refused.bound > MAX_COUNTER:
        # No limit refused it: the counter would pass the store's range. Refused, not wrapped.
        raise OutOfRangeError(
            f"{plan.item}: {units:,} more would take the counter past the store's range "
            f"of {MAX_COUNTER:,}",
            meter=plan.item,
            scope=refused.scope,
        )
    if terms.grace_percent > 0:
        code, status = DecisionCode.HARD_LIMIT_EXCEEDED, 403
        reason = f"hard limit {refused.bound} ({terms.limit} + {terms.grace_percent}% grace)"
    else:
        code, status = DecisionCode.LIMIT_EXCEEDED, terms.refusal_status
        reason = f"limit {refused.bound}"
    where = "" if refused.scope == ACCOUNT_SCOPE else f" of {refused.scope}"
    counted = current.used + current.held
    message = f"{plan.item}{where}: {counted} used, {units} more would pass the {reason}"
    limit = terms.limit
    return Decision(
        allowed=False,
        code=code,
        http_status=status,
        meter=plan.item,
        quantity=units,
        used=current.used,
        held=current.held,
        limit=limit,
        hard_limit=refused.bound,
        remaining=remaining_units(counted, limit),
        overage_units=0,
        warnings=(),
        as_of=now,
        period=plan.period_key,
        scope=refused.scope,
        message=message,
        period_end=plan.period_end,
    )
