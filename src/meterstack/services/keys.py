"""API keys (user, project, anonymous), service caps (A8) and anonymous accounts (A7)."""

from __future__ import annotations

from meterstack.services.context import ServiceContext


class Keys:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
