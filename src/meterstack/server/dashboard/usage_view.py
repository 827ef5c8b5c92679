"""What a usage bar and a resource count show, from the engine's usage report.

Only geometry and words: the numbers (used, limits, hard limits, remaining) and the state of
each item (``ItemUsage.state``) come from the engine. A bar's scale is the hard limit (or the
usage, when that is beyond it), so that the grace zone between the limit and the hard limit is
drawn as its own band.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterstack.catalog.render import format_limit
from meterstack.catalog.schema import Catalog, Concurrency, Resource
from meterstack.services.resources import ResourceObject
from meterstack.services.usage import ItemUsage, UsageReport


@dataclass(frozen=True)
class UsageBar:
    item: str
    name: str
    unit: str
    usage: ItemUsage
    #: Where the used part, the limit and the hard limit sit, in percent of the bar.
    used_at: Decimal
    limit_at: Decimal
    hard_at: Decimal
    #: The warning the state calls for; None when all is well.
    warning: str | None

    @property
    def state(self) -> str:
        return self.usage.state

    @property
    def label(self) -> str:
        """What the bar shows, for a screen reader."""
        usage = self.usage
        if usage.limit is None:
            return f"{self.show(usage.used + usage.held)} {self.name}, unlimited"
        return (
            f"{self.show(usage.used + usage.held)} of {self.show(usage.limit)} {self.name} used"
            + ("" if usage.percent is None else f" ({usage.percent.normalize():f}%)")
        )

    def show(self, value: int | None) -> str:
        return format_limit(value, self.unit)

    @property
    def units(self) -> str:
        """The unit's word after a count (``requests``); sizes carry their own (``2 GB``)."""
        return "" if self.unit == "byte" else f"{self.unit}s"


@dataclass(frozen=True)
class ResourceCount:
    item: str
    name: str
    used: int
    limit: int | None
    #: Objects beyond the plan's limits since a downgrade: kept, but read-only (D13).
    read_only: list[ResourceObject]

    @property
    def over(self) -> bool:
        return self.limit is not None and self.used > self.limit


def _percent(value: int, scale: int) -> Decimal:
    if scale <= 0:
        return Decimal(0)
    return min(Decimal(100), Decimal(value) * 100 / scale).quantize(Decimal("0.1"))


def _warning(bar: ItemUsage, name: str, unit: str, reset: datetime) -> str | None:
    def show(value: int | None) -> str:
        return format_limit(value, unit)

    counted = bar.used + bar.held
    reset_day = reset.date().isoformat()
    if bar.state == "overage":
        # Units past the limit when they were used stay overage when the limit rises (D2).
        return f"{show(bar.overage_units)} {name} past the limit are billed as overage this period."
    if bar.state == "blocked":
        return (
            f"{name}: {show(counted)} used, at the hard limit of {show(bar.hard_limit)}. New "
            f"requests are refused until the period resets on {reset_day}, or until you upgrade."
        )
    if bar.state == "grace":
        return (
            f"{name}: {show(counted)} used is past your limit of {show(bar.limit)}. You are in "
            f"the grace zone: requests still succeed, with a warning, up to "
            f"{show(bar.hard_limit)}; past it they are refused. Upgrade to raise the limit."
        )
    if bar.state == "at_limit":
        return (
            f"{name}: the limit of {show(bar.limit)} is reached. New requests are refused until "
            f"the period resets on {reset_day}, unless you turn overage on, buy a pack or upgrade."
        )
    if bar.state == "near_limit":
        return (
            f"{name}: {show(counted)} of {show(bar.limit)} used ({bar.percent}%), near the "
            f"limit; {show(bar.remaining)} left until {reset_day}."
        )
    return None


def usage_bars(catalog: Catalog, report: UsageReport) -> list[UsageBar]:
    """One bar per meter and gauge of the report, in the catalog's order."""
    bars = []
    for item, usage in report.items.items():
        declared = catalog.items.get(item)
        if declared is None or isinstance(declared, Resource | Concurrency):
            continue
        counted = usage.used + usage.held
        scale = max(counted, usage.hard_limit or 0, usage.limit or 0)
        limit_at = _percent(usage.limit or 0, scale) if usage.limit is not None else Decimal(100)
        hard_at = _percent(usage.hard_limit, scale) if usage.hard_limit is not None else limit_at
        bars.append(
            UsageBar(
                item=item,
                name=declared.name,
                unit=declared.unit,
                usage=usage,
                used_at=_percent(counted, scale) if usage.limit is not None else Decimal(0),
                limit_at=limit_at,
                hard_at=hard_at,
                warning=_warning(usage, declared.name, declared.unit, report.period.end),
            )
        )
    return bars


def resource_counts(
    catalog: Catalog, report: UsageReport, objects: list[ResourceObject]
) -> list[ResourceCount]:
    """Counted objects and concurrency slots against their limits, with the read-only objects."""
    read_only: dict[str, list[ResourceObject]] = {}
    for found in objects:
        if found.read_only:
            read_only.setdefault(found.kind, []).append(found)
    counts = []
    for item, usage in report.items.items():
        declared = catalog.items.get(item)
        if not isinstance(declared, Resource | Concurrency):
            continue
        counts.append(
            ResourceCount(
                item=item,
                name=declared.name,
                used=usage.used + usage.held,
                limit=usage.limit,
                read_only=read_only.get(item, []),
            )
        )
    return counts
