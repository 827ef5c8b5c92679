"""Catalogs: the plans-as-code description of a platform's billing model."""

from meterstack.catalog.loader import (
    CatalogError,
    CatalogProblem,
    LoadedCatalog,
    builtin_names,
    catalog_hash,
    load_catalog,
    parse_catalog,
)
from meterstack.catalog.schema import UNLIMITED, Catalog, Plan, Unlimited

__all__ = [
    "UNLIMITED",
    "Catalog",
    "CatalogError",
    "CatalogProblem",
    "LoadedCatalog",
    "Plan",
    "Unlimited",
    "builtin_names",
    "catalog_hash",
    "load_catalog",
    "parse_catalog",
]
