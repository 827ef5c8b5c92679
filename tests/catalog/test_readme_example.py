"""The README's catalog format: its example loads as written, and every field is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from meterstack.catalog import UNLIMITED, LoadedCatalog, lint_catalog, parse_catalog
from meterstack.catalog import schema as s
from meterstack.rules.examples import evaluate_examples

README = Path(__file__).resolve().parents[2] / "README.md"

# Every model a catalog file is made of; each of their fields must be documented.
MODELS: list[type[BaseModel]] = [
    s.Catalog,
    s.Item,
    s.Meter,
    s.Gauge,
    s.Resource,
    s.Concurrency,
    s.Feature,
    s.Plan,
    s.PlanPrice,
    s.Overage,
    s.PerBlock,
    s.Standard,
    s.PriceTier,
    s.Graduated,
    s.Volume,
    s.Package,
    s.Percentage,
    s.Pack,
    s.Operation,
    s.Wallet,
    s.Policies,
    s.Example,
    s.ExampleExpectation,
]


def catalog_format_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Catalog format\n(.*?)(?=^## )", text, re.S | re.M)
    assert match is not None, "README.md has no '## Catalog format' section"
    return match.group(1)


@pytest.fixture(scope="module")
def example() -> LoadedCatalog:
    blocks = re.findall(r"```yaml\n(.*?)```", catalog_format_section(), re.S)
    assert len(blocks) == 1, "the Catalog format section has one complete example"
    return parse_catalog(blocks[0], source="README.md")


def test_the_readme_example_loads(example: LoadedCatalog) -> None:
    catalog = example.catalog
    assert catalog.catalog == "quill"
    assert catalog.plan_ids == ("free", "pro", "enterprise")


def test_the_readme_example_has_no_warning_and_reproduces_its_examples(
    example: LoadedCatalog,
) -> None:
    assert lint_catalog(example) == []
    results = evaluate_examples(example.catalog)
    assert [(result.ok, result.message) for result in results] == [
        (True, "matches: requests 0.75"),
        (True, "matches: total 53.00"),
    ]


def test_the_readme_example_uses_every_construct(example: LoadedCatalog) -> None:
    catalog = example.catalog
    free, pro, enterprise = catalog.plans
    used = {
        "meters": bool(catalog.meters),
        "gauges": bool(catalog.gauges),
        "resources": bool(catalog.resources),
        "concurrency": bool(catalog.concurrency),
        "on/off feature": any(f.levels is None for f in catalog.features.values()),
        "levelled feature": any(f.levels for f in catalog.features.values()),
        "custom price": enterprise.is_custom,
        "explicit yearly price": isinstance(free.price, s.PlanPrice)
        and free.price.yearly is not None,
        "derived yearly price": catalog.yearly_price(pro) is not None,
        "unlimited": UNLIMITED in enterprise.limits.values(),
        "grace_percent": bool(free.grace_percent),
        "item_grace_percent": bool(pro.item_grace_percent),
        "overage": bool(pro.overage),
        "usage_prices": bool(pro.usage_prices),
        "packs": bool(catalog.packs),
        "wallet": catalog.wallet is not None,
        "examples": bool(catalog.examples),
    }
    assert [construct for construct, present in used.items() if not present] == []
    assert free.limits["storage"] == 500 * 10**6  # "500 MB"
    assert pro.limits["requests"] == 1_000_000  # "1,000,000"


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_every_field_of_the_catalog_format_is_documented(model: type[BaseModel]) -> None:
    section = catalog_format_section()
    missing = [name for name in model.model_fields if f"`{name}`" not in section]
    assert missing == []
