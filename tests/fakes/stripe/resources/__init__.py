"""The endpoints the fake serves, one module per family of Stripe objects."""

from __future__ import annotations

from collections.abc import Callable

from ..routing import Route
from ..state import State
from . import (
    charges,
    checkout,
    connect,
    credit_notes,
    customers,
    disputes,
    events,
    invoice_items,
    invoices,
    payments,
    portal,
)

_MODULES = (
    charges,
    checkout,
    connect,
    credit_notes,
    customers,
    disputes,
    events,
    invoice_items,
    invoices,
    payments,
    portal,
)

ROUTES: list[Route] = [route for module in _MODULES for route in module.routes.routes]

#: What happens by itself when the fake's clock moves (expiring sessions, auto-advance).
TICKS: list[Callable[[State], None]] = [checkout.tick, invoices.tick]
