"""The catalog's default alerts (C8) are made once per catalog and meter by the alerts service,
and each catalog gets its own: the rules make them, the service keeps them."""

from __future__ import annotations

from decimal import Decimal

from meterstack.catalog.loader import load_catalog
from meterstack.rules.alerts import AlertKind, AlertSource
from meterstack.services.alerts.watch import CatalogAlerts


def test_c8_catalog_alerts_are_made_once_per_catalog_and_meter() -> None:
    flowstack = load_catalog("flowstack").catalog
    made = CatalogAlerts()
    first = made.on(flowstack, "sessions")
    assert [(a.id, a.kind, a.meter, a.threshold, a.source) for a in first] == [
        (f"catalog_sessions_{p}", AlertKind.USAGE_PERCENT, "sessions", Decimal(p),
         AlertSource.CATALOG)
        for p in (75, 90, 95)
    ]  # fmt: skip
    assert made.on(flowstack, "sessions") is first
    # Another parse of the same catalog is another catalog: its alerts are its own.
    again = load_catalog("flowstack").catalog
    assert made.on(again, "sessions") == first
    assert made.on(again, "sessions") is not first


def test_c8_each_catalog_has_its_own_default_alerts() -> None:
    flowstack = load_catalog("flowstack").catalog
    policies = flowstack.policies.model_copy(update={"alert_thresholds": (Decimal(50),)})
    halved = flowstack.model_copy(update={"policies": policies})
    made = CatalogAlerts()
    assert [a.threshold for a in made.on(flowstack, "sessions")] == [Decimal(75), 90, 95]
    assert [a.id for a in made.on(halved, "sessions")] == ["catalog_sessions_50"]
    # A catalog without default thresholds has none, on any meter.
    agentstack = load_catalog("agentstack").catalog
    assert made.on(agentstack, "api_calls") == ()
