"""Catalogs: the plans-as-code description of a platform's billing model."""

from meterstack.catalog.diff import CatalogChange, Direction, diff_catalogs
from meterstack.catalog.lint import LintWarning, lint_catalog
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
    "CatalogChange",
    "CatalogError",
    "CatalogProblem",
    "Direction",
    "LintWarning",
    "LoadedCatalog",
    "Plan",
    "Unlimited",
    "builtin_names",
    "catalog_hash",
    "diff_catalogs",
    "lint_catalog",
    "load_catalog",
    "parse_catalog",
]
