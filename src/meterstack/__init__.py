"""meterstack: plans-as-code billing, usage metering and real-time quota enforcement."""

__version__ = "0.1.0"
