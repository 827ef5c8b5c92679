"""meterstack: plans-as-code billing, usage metering and real-time quota enforcement.

The public names are imported on first use (PEP 562): ``import meterstack.cli`` or
``import meterstack.errors`` does not pay for the engine, SQLAlchemy and the migrations, so the
command line starts in a fraction of a second. ``from meterstack import Engine`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meterstack.async_engine import AsyncEngine
    from meterstack.clock import Clock, ManualClock, SystemClock
    from meterstack.engine import Engine
    from meterstack.errors import MeterstackError
    from meterstack.records.audit import Actor
    from meterstack.rules.decisions import Decision, DecisionCode
    from meterstack.services.events import UsageEvent
    from meterstack.services.holds import Reservation
    from meterstack.services.keys import ApiKey, IssuedKey

__version__ = "0.1.0"

#: Each public name and the module it lives in.
_HOMES = {
    "Actor": "meterstack.records.audit",
    "ApiKey": "meterstack.services.keys",
    "AsyncEngine": "meterstack.async_engine",
    "Clock": "meterstack.clock",
    "Decision": "meterstack.rules.decisions",
    "DecisionCode": "meterstack.rules.decisions",
    "Engine": "meterstack.engine",
    "IssuedKey": "meterstack.services.keys",
    "ManualClock": "meterstack.clock",
    "MeterstackError": "meterstack.errors",
    "Reservation": "meterstack.services.holds",
    "SystemClock": "meterstack.clock",
    "UsageEvent": "meterstack.services.events",
}

__all__ = [
    "Actor",
    "ApiKey",
    "AsyncEngine",
    "Clock",
    "Decision",
    "DecisionCode",
    "Engine",
    "IssuedKey",
    "ManualClock",
    "MeterstackError",
    "Reservation",
    "SystemClock",
    "UsageEvent",
    "__version__",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'meterstack' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next look-up is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
