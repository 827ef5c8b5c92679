"""docs/rules.md lists every rule a test names, each with the module that holds it.

A test proving a rule names it: ``test_b7_…``, several as ``test_d10_c7_…``, or at the end of a
name (``…_wallet_prices_d17``). A reader of such a test looks the rule up in docs/rules.md and
goes to the module named there, so the page must have a line for every rule a test names, and
every path it gives must exist in the repository.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RULES_DOC = ROOT / "docs" / "rules.md"
TESTS = ROOT / "tests"

#: A rule id as a test spells it: a section letter and its number (``d21``).
RULE_TOKEN = re.compile(r"^[a-d][1-9][0-9]?$")
#: One rule's line: ``- **B7** what it says: `src/meterstack/rules/terms.py` ``.
RULE_LINE = re.compile(r"^- \*\*([A-D][1-9][0-9]?)\*\* ")
#: A path named by a line, in backquotes.
PATH = re.compile(r"`(src/[^`\s]+)`")


def rules_named_in(source: str) -> set[str]:
    """The rule ids named by the test functions and methods of one test module."""
    named: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test_"
        ):
            named.update(token.upper() for token in node.name.split("_") if RULE_TOKEN.match(token))
    return named


def rules_named_by_tests() -> dict[str, str]:
    """Every rule id a test names, with one test module that names it."""
    named: dict[str, str] = {}
    for module in sorted(TESTS.rglob("*.py")):
        for rule in rules_named_in(module.read_text(encoding="utf-8")):
            named.setdefault(rule, str(module.relative_to(ROOT)))
    return named


def documented_rules() -> dict[str, list[str]]:
    """Each rule id of docs/rules.md with the paths its line names, in the order written."""
    lines = [
        (match.group(1), PATH.findall(line))
        for line in RULES_DOC.read_text(encoding="utf-8").splitlines()
        if (match := RULE_LINE.match(line))
    ]
    ids = Counter(rule for rule, _ in lines)
    assert not [rule for rule, count in ids.items() if count > 1], f"listed twice: {ids}"
    return dict(lines)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def test_b7_grace_warns(): ...", {"B7"}),
        ("def test_d10_c7_upgrade_is_prorated(): ...", {"D10", "C7"}),
        ("async def test_a9_concurrent_consumes(): ...", {"A9"}),
        ("def test_catalog_rejects_finer_wallet_prices_d17(): ...", {"D17"}),
        ("class TestHolds:\n    def test_d6_commit_more(self): ...", {"D6"}),
        ("def test_sha256_of_the_body_e2e(): ...", set()),
        ("def helper_d7(): ...", set()),
        ("def test_a0_and_d100_are_not_rules(): ...", set()),
    ],
)
def test_the_collector_reads_rule_ids_from_test_names(source: str, expected: set[str]) -> None:
    assert rules_named_in(source) == expected


def test_the_tests_name_rules() -> None:
    # The collector finds the rules of the suite; an empty answer would make the next test pass.
    assert {"A1", "B7", "C5", "D7"} <= set(rules_named_by_tests())


def test_every_rule_a_test_names_is_in_docs_rules_md() -> None:
    documented = documented_rules()
    missing = {
        rule: module for rule, module in rules_named_by_tests().items() if rule not in documented
    }
    assert not missing, f"named by tests but not in docs/rules.md: {missing}"


def test_every_rule_in_docs_rules_md_names_modules_that_exist() -> None:
    for rule, paths in documented_rules().items():
        assert paths, f"{rule} names no module"
        absent = [path for path in paths if not (ROOT / path).exists()]
        assert not absent, f"{rule} names {absent}, which do not exist"


def test_docs_rules_md_lists_each_section_without_gaps() -> None:
    numbers: dict[str, list[int]] = {}
    for rule in documented_rules():
        numbers.setdefault(rule[0], []).append(int(rule[1:]))
    assert sorted(numbers) == ["A", "B", "C", "D"]
    for section, listed in numbers.items():
        assert listed == list(range(1, len(listed) + 1)), f"section {section}: {listed}"
