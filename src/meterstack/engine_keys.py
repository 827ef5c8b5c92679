"""The engine's doors for API keys and anonymous accounts (A7, A8), mixed into :class:`Engine`."""

from __future__ import annotations


class KeysMixin:
    """API keys, service caps and anonymous accounts; every method delegates to ``self._keys``."""
