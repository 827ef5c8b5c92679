"""Prices a catalog may declare that meterstack cannot bill yet; ``plans validate`` refuses them.

The check names each price's source line, so it reads a loaded catalog; the cross-reference
checks of :mod:`meterstack.catalog.validate` run while a catalog is being loaded, and the loader
imports them.
"""

from __future__ import annotations

from meterstack.catalog.amounts import charge_models
from meterstack.catalog.loader import CatalogProblem, LoadedCatalog
from meterstack.catalog.schema import Percentage


def unbillable_percentage_prices(loaded: LoadedCatalog) -> list[CatalogProblem]:
    """A ``percentage`` price cannot be billed yet: usage records no transaction amounts.

    ``plans validate`` refuses such a catalog rather than accept one whose period close would
    fail. This check goes away when recorded usage carries the amounts of transactions.
    """
    return [
        CatalogProblem(
            loaded.source,
            loaded.line_of(path),
            ".".join(str(part) for part in path),
            "a percentage price cannot be billed yet: recorded usage does not keep the amounts "
            "of transactions it would be a percentage of",
        )
        for path, model in charge_models(loaded.catalog)
        if isinstance(model, Percentage)
    ]
