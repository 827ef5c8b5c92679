"""meterstack: plans-as-code billing, usage metering and real-time quota enforcement."""

from meterstack.async_engine import AsyncEngine
from meterstack.clock import Clock, ManualClock, SystemClock
from meterstack.engine import Engine
from meterstack.errors import MeterstackError
from meterstack.rules.decisions import Decision, DecisionCode
from meterstack.services.holds import Reservation
from meterstack.services.keys import ApiKey, IssuedKey
from meterstack.services.metering import UsageEvent

__version__ = "0.1.0"

__all__ = [
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
