"""Where meterstack looks when nothing is configured: the database, the catalog, the invoice
check.

A module of its own, free of the engine's imports, so that the command line can show these
defaults in its help without loading the engine.
"""

from __future__ import annotations

import os

DEFAULT_DATABASE_URL = "sqlite:///./meterstack.db"
DEFAULT_CATALOG = "agentstack"


def default_database_url() -> str:
    return os.environ.get("METERSTACK_DATABASE_URL") or DEFAULT_DATABASE_URL


def default_catalog() -> str:
    return os.environ.get("METERSTACK_CATALOG") or DEFAULT_CATALOG


def default_invoice_check() -> str | None:
    """The ``module:function`` that checks each invoice a period close drafts, if any."""
    return os.environ.get("METERSTACK_INVOICE_CHECK") or None
